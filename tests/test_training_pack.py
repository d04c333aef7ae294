"""Training packs: one file under 64 MiB that a lent GPU trains all three models from (here on the CPU, tiny)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from neurocodec.training.pack import PackConfig, build_pack, load_pack  # noqa: E402
from neurocodec_cli.main import cli  # noqa: E402

from .conftest import make_pairs  # noqa: E402


@pytest.fixture(scope="module")
def small_pack(tmp_path_factory):
    from skimage import data
    from skimage.io import imsave

    d = tmp_path_factory.mktemp("pack")
    make_pairs(d)
    pics = d / "pics"
    pics.mkdir()
    imsave(pics / "astronaut.png", data.astronaut()[:128, :192])
    path = build_pack(PackConfig(pairs=str(d / "p" / "pairs.npz"), intra_data=[str(pics)], out=str(d / "pack.npz"),
                                 pair_crops=6, pair_crop=32, intra_crops=3, intra_crop=64))
    return d, path


def test_pack_holds_aligned_pairs_and_intra_crops(small_pack):
    _, path = small_pack
    pack = load_pack(path)
    assert pack["pair_deg_y"].shape == pack["pair_ref_y"].shape == (6, 32, 32)
    assert pack["pair_deg_u"].shape == (6, 16, 16) and pack["pair_ref_v"].dtype == np.uint8
    assert set(pack["pair_scale"].tolist()) <= {1.0, 0.75, 0.5}
    assert pack["intra_y"].shape == (3, 64, 64) and pack["intra_u"].shape == (3, 32, 32)
    assert not np.array_equal(pack["pair_deg_y"], pack["pair_ref_y"])  # a decode and its original


def test_pack_size_is_capped_and_foreign_files_are_refused(small_pack, tmp_path, monkeypatch):
    d, _ = small_pack
    import neurocodec.training.pack as packmod

    monkeypatch.setattr(packmod, "MAX_PACK_BYTES", 1000)
    out = tmp_path / "big.npz"
    with pytest.raises(ValueError, match="over 0 MiB; take fewer crops"):
        build_pack(PackConfig(pairs=str(d / "p" / "pairs.npz"), intra_data=[str(d / "pics")], out=str(out),
                              pair_crops=6, pair_crop=32, intra_crops=3, intra_crop=64))
    assert not out.exists() and list(tmp_path.iterdir()) == []
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a neurocodec training pack"):
        load_pack(tmp_path / "other.npz")


def test_from_pack_trains_and_exports_the_three_models(small_pack, tmp_path):
    from neurocodec.models.registry import load_enhance, load_intra

    _, path = small_pack
    r = CliRunner().invoke(cli, ["train", "from-pack", str(path), "--out", str(tmp_path / "run"), "--device", "cpu",
                                 "--steps", "1"])
    assert r.exit_code == 0, r.output
    names = [line.split(":")[0] for line in r.output.splitlines()]
    assert names == ["enhance_yuv420", "enhance_light_yuv420", "intra_yuv420"]
    std, light = load_enhance(str(tmp_path / "run" / "enhance_yuv420.pt")), load_enhance(str(tmp_path / "run" / "enhance_light_yuv420.pt"))
    assert (std.net.channels, std.net.layers, light.net.channels, light.net.layers) == (32, 8, 16, 6)
    load_intra(str(tmp_path / "run" / "intra_yuv420.pt"))
    # one step from the shipped weights: still close to them (a warm start, not a random network)
    shipped = load_enhance("enhance_yuv420").net
    assert float((std.net.tail.weight - shipped.tail.weight).abs().max()) < 0.01
