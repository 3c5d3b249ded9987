"""ffmpeg through the binary bundled with imageio-ffmpeg (no system ffmpeg, no ffprobe).

Every call passes an argument list (never a shell string). Errors name the file and the
last line ffmpeg printed.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["MediaError", "ffmpeg_exe", "run_ffmpeg", "VideoInfo", "probe_video", "decode_audio", "read_frame", "SAMPLE_RATE"]

SAMPLE_RATE = 16000


class MediaError(RuntimeError):
    """A media file that ffmpeg cannot read (or a call that failed); the message names the file."""


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def run_ffmpeg(args: list[str], what: str | Path = "", input_bytes: bytes | None = None, timeout: float | None = None) -> bytes:
    """Run ``ffmpeg -nostdin -hide_banner -loglevel error <args>`` and return stdout."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", *map(str, args)]
    if input_bytes is not None:
        cmd.remove("-nostdin")
    proc = subprocess.run(cmd, input=input_bytes, capture_output=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise MediaError(f"{what or 'ffmpeg'}: ffmpeg failed: {_last_line(proc.stderr)}")
    return proc.stdout


@dataclass(frozen=True)
class VideoInfo:
    """What ffmpeg reports about a video file (read from ``ffmpeg -i`` via imageio-ffmpeg)."""

    path: Path
    width: int
    height: int
    fps: float
    duration_s: float
    codec: str
    has_audio: bool
    audio_codec: str | None

    @property
    def fps_fraction(self) -> Fraction:
        return Fraction(self.fps).limit_denominator(1001)


def probe_video(path: str | Path) -> VideoInfo:
    """Read stream metadata without decoding frames. Raises :class:`MediaError` naming the file."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: zero-byte file")
    gen = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(gen)
    except (RuntimeError, OSError, StopIteration) as exc:
        msg = str(exc).strip().splitlines()
        raise MediaError(f"{path}: not a readable video ({msg[-1] if msg else type(exc).__name__})") from exc
    finally:
        gen.close()
    w, h = meta.get("size", (0, 0))
    if not w or not h:
        raise MediaError(f"{path}: no video stream")
    return VideoInfo(
        path=path,
        width=int(w),
        height=int(h),
        fps=float(meta.get("fps") or 0.0),
        duration_s=float(meta.get("duration") or 0.0),
        codec=str(meta.get("codec", "")),
        has_audio=bool(meta.get("audio_codec")),
        audio_codec=meta.get("audio_codec"),
    )


def decode_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode the first audio stream of any media file to mono float32 at ``sample_rate``.

    Raises :class:`MediaError` when the file has no audio stream or cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    raw = run_ffmpeg(
        ["-i", str(path), "-vn", "-map", "0:a:0", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"],
        what=path,
    )
    audio = np.frombuffer(raw, dtype="<f4").astype(np.float32, copy=True)
    if audio.size == 0:
        raise MediaError(f"{path}: audio stream is empty")
    return audio


def read_frame(path: str | Path, index: int, fps: float, lead_s: float = 0.5) -> np.ndarray:
    """Frame ``index`` of ``path`` resampled to ``fps``: ``(H, W, 3) uint8`` RGB.

    The frames are numbered as a full decode through ffmpeg's ``fps`` filter numbers them
    (frame ``k`` is the source frame nearest time ``k / fps``), but only about ``lead_s``
    seconds before the frame are decoded: the input is seeked to a point on the output's
    frame grid ``lead_s`` earlier (accurate seeking) and the ``fps`` filter's grid is pinned
    there (``start_time=0``), so a seek that lands between source frames cannot shift it.
    Raises :class:`MediaError` naming the file when it cannot be read or has no such frame.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    if index < 0:
        raise MediaError(f"{path}: frame {index} does not exist")
    rate = Fraction(fps).limit_denominator(1001)
    start = max(0, index - int(np.ceil(lead_s * float(rate))))
    raw = run_ffmpeg(
        ["-ss", f"{float(start / rate):.6f}", "-i", str(path), "-map", "0:v:0",
         "-vf", f"fps={rate}:start_time=0,select=eq(n\\,{index - start})", "-frames:v", "1",
         "-f", "image2pipe", "-c:v", "bmp", "pipe:1"],
        what=path,
    )
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR) if raw else None
    if image is None:
        raise MediaError(f"{path}: no frame {index} at {float(rate):g} fps (the video is shorter)")
    return np.ascontiguousarray(image[..., ::-1])
