"""The bundled FFmpeg binary (from ``imageio-ffmpeg``) run as a tool, for what PyAV's FFmpeg lacks (libvmaf).

PyAV stays the in-process reader and decoder; this module only runs the
static ``ffmpeg`` executable that the ``imageio-ffmpeg`` wheel ships, as a
subprocess. Frames reach it as YUV4MPEG2 streams through named pipes (FIFOs)
in a private temporary folder, so no video is ever written to disk whole. Its
working directory is that folder, so small outputs (a metric log) can be
named there without escaping and are read back before the folder goes.

Every wait is bounded: a writer thread opens its FIFO without blocking and
gives up when the process has died, writes end with a broken pipe if the
process stops reading, and the process itself runs under a time limit. A
failure raises :class:`~neurocodec.errors.ToolError` with the last lines of
the binary's stderr. ``IMAGEIO_FFMPEG_EXE`` points at another binary.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import platform
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import ToolError, ToolMissingError
from .frame import Frame, VideoInfo
from .writers import y4m_header

try:
    import imageio_ffmpeg
except ImportError:  # a declared dependency, but its absence must surface as ToolMissingError at use, not at import
    imageio_ffmpeg = None

__all__ = ["STDERR_TAIL_LINES", "FFmpegRun", "ffmpeg_exe", "run_ffmpeg", "tool_info"]

log = logging.getLogger(__name__)

#: How many of the binary's last stderr lines an error message carries.
STDERR_TAIL_LINES = 5
#: Seconds a writer waits for FFmpeg to open its FIFO before giving up (and killing it).
_OPEN_WAIT_S = 60.0
_POLL_S = 0.02


def ffmpeg_exe() -> str:
    """Path of the bundled FFmpeg executable.

    Raises:
        ToolMissingError: ``imageio-ffmpeg`` is not installed or has no binary for this platform.
    """
    where = f"{platform.system()} {platform.machine()}"
    if imageio_ffmpeg is None:
        raise ToolMissingError(f"FFmpeg tool: the imageio-ffmpeg package is not installed ({where}); "
                               "`pip install imageio-ffmpeg` provides it")
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise ToolMissingError(f"FFmpeg tool: no ffmpeg binary for {where} ({exc}); "
                               "`pip install imageio-ffmpeg` provides one, or set IMAGEIO_FFMPEG_EXE") from None


def _tail(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return " | ".join(lines[-STDERR_TAIL_LINES:]) or "(no stderr)"


@functools.lru_cache(maxsize=4)
def _tool_info(exe: str) -> dict:
    def ask(flag: str) -> str:
        try:
            p = subprocess.run([exe, "-hide_banner", flag], check=False, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolError(f"{exe} {flag}: {exc}") from None
        if p.returncode != 0:
            raise ToolError(f"{exe} {flag}: exit {p.returncode}: {_tail(p.stderr)}")
        return p.stdout

    version_out = ask("-version")
    first = version_out.splitlines()[0] if version_out else ""
    version = first.split()[2] if first.startswith("ffmpeg version") and len(first.split()) > 2 else first
    flags = [ln.strip() for ln in ask("-buildconf").splitlines() if ln.strip().startswith("--")]
    libs = {}
    for ln in version_out.splitlines():
        parts = ln.split()
        if parts and parts[0].startswith("lib") and len(parts) >= 2:
            libs[parts[0]] = "".join(parts[1:]).split("/")[0]
    return {
        "path": exe,
        "package": "imageio-ffmpeg " + (imageio_ffmpeg.__version__ if imageio_ffmpeg is not None else "?"),
        "version": version,
        "libraries": libs,
        "configuration": flags,
    }


def tool_info() -> dict:
    """The binary's path, version, library versions and ``--enable-*`` build flags (cached), for reports."""
    info = _tool_info(ffmpeg_exe())
    return {**info, "libraries": dict(info["libraries"]), "configuration": list(info["configuration"])}


@dataclass(frozen=True)
class FFmpegRun:
    """What a finished run left: its stderr, the bytes of the files asked for, frames fed per input, and its stdout."""

    stderr: str
    files: dict[str, bytes]
    frames_fed: tuple[int, ...]
    stdout: bytes = b""


class _Feeder(threading.Thread):
    """Streams one input's frames as y4m into a FIFO; stops quietly when FFmpeg goes away."""

    def __init__(self, fifo: str, info: VideoInfo, frames: Iterable[Frame], proc: subprocess.Popen):
        super().__init__(daemon=True, name=f"ffmpeg-feed-{os.path.basename(fifo)}")
        self.fifo, self.info, self.frames, self.proc = fifo, info, frames, proc
        self.count = 0
        self.error: BaseException | None = None  # from the frame source: re-raised by the caller
        self.stop = threading.Event()

    def _open(self) -> int | None:
        # A blocking open would wait forever if FFmpeg died before opening the FIFO: poll instead.
        deadline = time.monotonic() + _OPEN_WAIT_S
        while not self.stop.is_set() and self.proc.poll() is None and time.monotonic() < deadline:
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
                time.sleep(_POLL_S)
                continue
            os.set_blocking(fd, True)
            return fd
        return None

    def run(self) -> None:
        fd = None
        try:
            fd = self._open()
            if fd is None:
                if self.proc.poll() is None and not self.stop.is_set():
                    raise ToolError(f"{self.fifo}: ffmpeg did not open this input within {_OPEN_WAIT_S:g} s")
                return
            with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
                fd = None
                fh.write(y4m_header(self.info))
                for frame in self.frames:
                    if self.stop.is_set():
                        return
                    if (frame.width, frame.height) != (self.info.width, self.info.height):
                        raise ValueError(f"frame {self.count} is {frame.width}x{frame.height}, "
                                         f"stream is {self.info.width}x{self.info.height}")
                    fh.write(b"FRAME\n")
                    fh.write(frame.tobytes())
                    self.count += 1
        except (BrokenPipeError, ConnectionResetError):
            pass  # FFmpeg stopped reading: its exit status and stderr tell why
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            self.error = exc
            # FFmpeg may be blocked opening or reading this FIFO: end it rather than leave it waiting.
            self.proc.kill()
        finally:
            if fd is not None:
                os.close(fd)


def run_ffmpeg(
    args: Sequence[str],
    inputs: Sequence[tuple[VideoInfo, Iterable[Frame]]] = (),
    *,
    read_back: Sequence[str] = (),
    capture_stdout: bool = False,
    timeout: float | None = None,
) -> FFmpegRun:
    """Run the bundled FFmpeg with frame streams as its first inputs.

    Input ``i`` is a y4m stream on a FIFO, added as ``-f yuv4mpegpipe -i in{i}.y4m``
    before ``args``, so filters refer to it as ``[i:v]``. The working directory is a
    private temporary folder, deleted afterwards; files named in ``read_back``
    (relative names FFmpeg wrote there) are returned.

    Args:
        args: Arguments after the inputs (filters, outputs).
        inputs: ``(info, frames)`` per input stream.
        read_back: Names of files to return from the working folder.
        capture_stdout: Return what FFmpeg writes to its stdout (an output named ``pipe:1``); else discarded.
        timeout: Seconds the whole run may take; None: no limit (a dead binary still never hangs it).

    Raises:
        ToolMissingError: No binary.
        ToolError: It failed, timed out, or did not write a file asked for; with its last stderr lines.
    """
    exe = ffmpeg_exe()
    with tempfile.TemporaryDirectory(prefix="neurocodec-ffmpeg-") as tmp:
        cmd = [exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]
        fifos = []
        for i in range(len(inputs)):
            name = f"in{i}.y4m"
            os.mkfifo(os.path.join(tmp, name), 0o600)
            fifos.append(os.path.join(tmp, name))
            cmd += ["-f", "yuv4mpegpipe", "-i", name]
        cmd += list(args)
        log.debug("running %s", " ".join(cmd))
        try:
            proc = subprocess.Popen(cmd, cwd=tmp, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
        except OSError as exc:
            raise ToolMissingError(f"{exe}: cannot run on {platform.system()} {platform.machine()} ({exc}); "
                                   "`pip install imageio-ffmpeg` provides FFmpeg") from None
        feeders = [_Feeder(f, info, frames, proc) for f, (info, frames) in zip(fifos, inputs)]
        for t in feeders:
            t.start()
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            out, err = proc.communicate()
        except BaseException:
            proc.kill()
            proc.communicate()
            raise
        finally:
            for t in feeders:
                t.stop.set()
            for t in feeders:
                # After FFmpeg exits, each write fails at once (EPIPE) and each open gives up: a short join suffices.
                t.join(timeout=_OPEN_WAIT_S)
        stderr = err.decode("utf-8", "replace")
        for t in feeders:
            if t.error is not None:
                raise t.error
        if timed_out:
            raise ToolError(f"{exe}: timed out after {timeout:g} s: {_tail(stderr)}")
        if proc.returncode != 0:
            raise ToolError(f"{exe}: exit status {proc.returncode}: {_tail(stderr)}")
        files = {}
        for name in read_back:
            try:
                with open(os.path.join(tmp, name), "rb") as fh:
                    files[name] = fh.read()
            except OSError:
                raise ToolError(f"{exe}: wrote no {name}: {_tail(stderr)}") from None
        return FFmpegRun(stderr, files, tuple(t.count for t in feeders), out or b"")

