"""A learned intra (keyframe) codec that codes YUV 4:2:0 natively.

Architecture: the mean-scale hyperprior of D. Minnen, J. Ballé and G. Toderici,
"Joint autoregressive and hierarchical priors for learned image compression",
NeurIPS 2018 (without the autoregressive context, so decoding stays
parallel), on the hyperprior of J. Ballé et al., "Variational image
compression with a scale hyperprior", ICLR 2018, with GDN transforms (Ballé
et al., ICLR 2017). One model serves every quality level through gain
units (Z. Cui et al., "Asymmetric gained deep image compression with
continuous rate adaptation", CVPR 2021): per-channel gains scale the latent
before quantisation and inverse gains undo it before synthesis.

Input: the luma plane pixel-unshuffled 2x2 (4 channels) stacked with the
two chroma planes: 6 channels at half the luma resolution, so no colour
conversion is added to the codec's own. Sizes: luma a multiple of 32
(callers pad).

Decoder cost (synthesis plus hyper-synthesis) at N=128, M=192, Nz=96 is
about 15k MACs per luma pixel, counted by :func:`decoder_macs_per_pixel`
(budget: 50k).
"""

from __future__ import annotations


import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["IntraCodec", "LAMBDAS", "to_model_input", "from_model_output", "decoder_macs_per_pixel"]

#: Rate-distortion trade-off per quality level of a new model (distortion: YUV 6:1:1 MSE on a 0..255 scale).
#: A model keeps the lambdas it was trained with (``IntraCodec.lambdas``, stored in its weights file).
LAMBDAS = (0.00045, 0.0009, 0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483, 0.0932, 0.18, 0.36)


def _conv(cin: int, cout: int, k: int = 5, s: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=s, padding=k // 2)


def _deconv(cin: int, cout: int, k: int = 5, s: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=s, padding=k // 2, output_padding=s - 1)


def to_model_input(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B,1,H,W) luma and (B,1,H/2,W/2) chroma in 0..1 -> (B,6,H/2,W/2)."""
    return torch.cat([F.pixel_unshuffle(y, 2), u, v], dim=1)


def from_model_output(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inverse of :func:`to_model_input`."""
    return F.pixel_shuffle(x[:, :4], 2), x[:, 4:5], x[:, 5:6]


class IntraCodec(nn.Module):
    """Gain-unit mean-scale hyperprior on 6-channel half-resolution YUV 4:2:0 input.

    Args:
        N: Channels of the analysis/synthesis transforms.
        M: Latent channels.
        Nz: Hyper-latent channels.
        lambdas: The rate-distortion trade-off of each quality level (one gain
            vector per level), lowest rate first.
    """

    def __init__(self, N: int = 128, M: int = 192, Nz: int = 96, lambdas: tuple[float, ...] = LAMBDAS):
        super().__init__()
        # why: compressai is heavy; imported when a model is built
        from compressai.entropy_models import EntropyBottleneck, GaussianConditional
        from compressai.layers import GDN

        if len(lambdas) < 1 or any(b <= a for a, b in zip(lambdas, lambdas[1:])):
            raise ValueError(f"lambdas must be increasing, got {lambdas}")
        self.lambdas = tuple(float(x) for x in lambdas)
        levels = len(self.lambdas)
        self.N, self.M, self.Nz, self.levels = N, M, Nz, levels
        self.g_a = nn.Sequential(_conv(6, N), GDN(N), _conv(N, N), GDN(N), _conv(N, M))
        self.g_s = nn.Sequential(_deconv(M, N), GDN(N, inverse=True), _deconv(N, N), GDN(N, inverse=True), _deconv(N, 6))
        self.h_a = nn.Sequential(_conv(M, Nz, 3, 1), nn.ReLU(), _conv(Nz, Nz), nn.ReLU(), _conv(Nz, Nz))
        self.h_s = nn.Sequential(_deconv(Nz, M), nn.ReLU(), _deconv(M, M), nn.ReLU(), _conv(M, 2 * M, 3, 1))
        self.entropy_bottleneck = EntropyBottleneck(Nz)
        self.gaussian_conditional = GaussianConditional(None)
        # Higher levels get larger gains (finer quantisation); learned from there.
        init = torch.linspace(-1.0, 1.5, levels).unsqueeze(1).expand(levels, M).clone()
        self.log_gain = nn.Parameter(init)
        self.log_inv_gain = nn.Parameter(-init.clone())

    def _gains(self, level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.log_gain[level].exp()[:, :, None, None]
        ig = self.log_inv_gain[level].exp()[:, :, None, None]
        return g, ig

    def hyper_params(self, z_hat: torch.Tensor, gain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scales and means of the gained latent from the decoded hyper-latent."""
        log_scale, mean = self.h_s(z_hat).chunk(2, dim=1)
        return log_scale.clamp(-6.0, 6.0).exp() * gain, mean * gain

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training pass with additive-noise quantisation proxies.

        Returns:
            ``x_hat`` and the likelihoods of ``y`` and ``z``.
        """
        gain, inv_gain = self._gains(level)
        y = self.g_a(x)
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z)
        scales, means = self.hyper_params(z_hat, gain)
        yg_hat, y_lik = self.gaussian_conditional(y * gain, scales, means)
        x_hat = self.g_s(yg_hat * inv_gain)
        return {"x_hat": x_hat, "y": y_lik, "z": z_lik}

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_bottleneck.loss()


def decoder_macs_per_pixel(model: IntraCodec, luma_size: tuple[int, int] = (256, 256), *, hyper: bool = True) -> float:
    """Multiply-accumulates of the decoder's neural parts per luma pixel: synthesis, plus hyper-synthesis if ``hyper``.

    Counted with ``torch.utils.flop_counter`` on the real modules (FLOPs / 2);
    compressai's GDN is a 1x1 convolution, so the counter sees it too. The
    integer hyper-synthesis runs the same convolutions on integers, so its
    count is the float module's.
    """
    from torch.utils.flop_counter import FlopCounterMode  # why: ~80 ms to import; only costing needs it

    h, w = luma_size
    y_hat = torch.zeros(1, model.M, h // 16, w // 16)
    z_hat = torch.zeros(1, model.Nz, h // 64, w // 64)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        if hyper:
            model.h_s(z_hat)
        model.g_s(y_hat)
    return counter.get_total_flops() / 2 / (h * w)
