"""Write frames (and a 16 kHz mono track) to an H.264/AAC mp4 through the bundled ffmpeg.

Frames are written one by one as PNG files into a temporary folder beside the output, so any
length of video runs in constant memory; one ``run_ffmpeg`` call (an argument list) then encodes
them and muxes the audio. The mp4 appears atomically.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from emoface.utils.atomic import atomic_path
from emoface.utils.media import SAMPLE_RATE, run_ffmpeg

__all__ = ["write_video", "fit_audio"]


def fit_audio(audio: np.ndarray, n_frames: int, fps: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Trim or zero-pad ``audio`` (N,) to exactly ``n_frames / fps`` seconds so both streams end together."""
    n = int(round(n_frames / fps * sample_rate))
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    return audio[:n] if audio.size >= n else np.pad(audio, (0, n - audio.size))


def write_video(
    frames: Iterable[np.ndarray],
    path: str | Path,
    fps: float = 30.0,
    audio: np.ndarray | None = None,
    sample_rate: int = SAMPLE_RATE,
    crf: int = 20,
) -> int:
    """Encode RGB frames (H,W,3) uint8 to ``path`` (mp4, yuv420p), with ``audio`` muxed as AAC.

    Odd frame sizes are padded by one pixel (H.264 4:2:0 needs even sizes). Returns the number
    of frames written. Raises ``ValueError`` for no frames or frames of changing size, and
    :class:`emoface.utils.media.MediaError` when ffmpeg fails.
    """
    import cv2
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.stem}.frames.", dir=path.parent) as tmp:
        tmp = Path(tmp)
        n, size = 0, None
        for frame in frames:
            frame = np.asarray(frame)
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                raise ValueError(f"{path}: frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
            if size is None:
                size = frame.shape[:2]
            elif frame.shape[:2] != size:
                raise ValueError(f"{path}: frame {n} has size {frame.shape[:2]}, expected {size}")
            cv2.imwrite(str(tmp / f"{n:07d}.png"), np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
            n += 1
        if n == 0:
            raise ValueError(f"{path}: no frames to write")
        args: list[str] = ["-y", "-framerate", f"{fps:g}", "-i", str(tmp / "%07d.png")]
        if audio is not None:
            wav = tmp / "audio.wav"
            sf.write(str(wav), fit_audio(audio, n, fps, sample_rate), sample_rate, subtype="FLOAT")
            args += ["-i", str(wav)]
        args += ["-map", "0:v:0"]
        if audio is not None:
            args += ["-map", "1:a:0", "-c:a", "aac", "-b:a", "128k"]
        args += [
            "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-r", f"{fps:g}", "-movflags", "+faststart",
        ]
        with atomic_path(path, suffix=".mp4") as out:
            run_ffmpeg([*args, "-f", "mp4", str(out)], what=path)
    return n
