"""Stage ``decode``: a video -> frames at 30 fps (streamed, never stored) and 16 kHz mono audio.

Frames come from the bundled ffmpeg (imageio-ffmpeg) through its ``fps`` filter, which picks
for output frame ``k`` (time ``k / fps``) the source frame nearest in presentation time; a
29.97 fps RAVDESS video therefore keeps its timing at 30 fps (one frame in a thousand is
repeated) and stays aligned with its audio. The frames are handed to a consumer (the
landmarks stage) while they are decoded; only a few downscaled thumbnails are kept, for the
QA report.

The artefact ``work/decode/<clip_id>.npz`` holds:

- ``audio (N,) float32`` mono at ``sample_rate`` Hz, in [-1, 1];
- ``n_frames``, ``fps``, ``src_fps``, ``width``, ``height`` (source pixels), ``duration_s``
  (container), ``audio_duration_s``;
- ``thumbnails (K, h, w, 3) uint8``, ``thumbnail_frames (K,)`` frame indices and
  ``thumbnail_scale`` (thumbnail pixels per source pixel).
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from emoface.utils.media import MediaError, decode_audio, ffmpeg_exe, probe_video
from pipeline.stages.config import DecodeConfig
from pipeline.stages.store import ClipError

__all__ = ["FrameReader", "decode_clip", "thumbnail_indices"]

FrameSink = Callable[[int, np.ndarray], None]


class FrameReader:
    """Iterate ``(index, rgb (H, W, 3) uint8)`` frames of ``path`` resampled to ``fps`` by timestamps.

    After iteration, ``errors`` holds the decoder's error lines and ``returncode`` ffmpeg's status.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float = 30.0, threads: int = 0):
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.threads = int(threads)
        self.errors: list[str] = []
        self.returncode: int | None = None

    def _cmd(self) -> list[str]:
        return [
            ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
            "-threads", str(self.threads), "-i", str(self.path),
            "-map", "0:v:0", "-vf", f"fps={self.fps}", "-threads", str(self.threads),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
        ]

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        nbytes = self.width * self.height * 3
        proc = subprocess.Popen(self._cmd(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=nbytes)

        def drain() -> None:
            for line in proc.stderr:  # type: ignore[union-attr]
                text = re.sub(r" @ 0x[0-9a-f]+\]", "]", line.decode("utf-8", "replace").strip())
                if text:
                    self.errors.append(text)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        index = 0
        finished = False
        try:
            while True:
                buf = proc.stdout.read(nbytes)  # type: ignore[union-attr]
                if len(buf) < nbytes:
                    if buf:
                        self.errors.append(f"incomplete last frame ({len(buf)} of {nbytes} bytes)")
                    break
                yield index, np.frombuffer(buf, dtype=np.uint8).reshape(self.height, self.width, 3)
                index += 1
            finished = True
        finally:
            if not finished and proc.poll() is None:
                proc.kill()  # the consumer stopped early
            proc.stdout.close()  # type: ignore[union-attr]
            self.returncode = proc.wait()
            reader.join(timeout=5)


def thumbnail_indices(expected_frames: int, k: int) -> np.ndarray:
    """``k`` evenly spaced frame indices over ``expected_frames`` (unique, sorted)."""
    if k <= 0 or expected_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, expected_frames - 1, k + 2)[1:-1]).astype(np.int64))


def _downscale(frame: np.ndarray, width: int) -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    if w <= width:
        return frame.copy()
    return cv2.resize(frame, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def decode_clip(path: str | Path, cfg: DecodeConfig, sink: FrameSink | None = None, threads: int | None = None) -> dict[str, np.ndarray]:
    """Decode ``path``; every frame goes to ``sink(index, rgb)``; returns the artefact's arrays.

    Raises :class:`ClipError` (a one-line reason) for a zero-byte, unreadable, truncated or
    corrupt file, a file without an audio track, or one with too few frames.
    """
    path = Path(path)
    try:
        info = probe_video(path)
    except MediaError as exc:
        raise ClipError(str(exc).split(": ", 1)[-1]) from exc
    if not info.has_audio:
        raise ClipError("no audio track")
    try:
        audio = decode_audio(path, cfg.sample_rate)
    except MediaError as exc:
        raise ClipError(f"audio: {str(exc).split(': ', 1)[-1]}") from exc
    if not np.all(np.isfinite(audio)):
        raise ClipError("audio holds NaN or inf samples")

    expected = int(round(info.duration_s * cfg.fps))
    wanted = set(thumbnail_indices(expected, cfg.thumbnails).tolist())
    thumbs: list[np.ndarray] = []
    thumb_idx: list[int] = []
    reader = FrameReader(path, info.width, info.height, cfg.fps, threads or cfg.ffmpeg_threads)
    n = 0
    for index, frame in reader:
        if sink is not None:
            sink(index, frame)
        if index in wanted:
            thumbs.append(_downscale(frame, cfg.thumbnail_width))
            thumb_idx.append(index)
        n = index + 1
    if reader.returncode not in (0, None):
        raise ClipError(f"ffmpeg failed while decoding frames: {reader.errors[-1] if reader.errors else reader.returncode}")
    if len(reader.errors) > cfg.max_decode_errors:
        raise ClipError(f"corrupt video: {len(reader.errors)} decoder error(s), first: {reader.errors[0][:160]}")
    if n < cfg.min_frames:
        raise ClipError(f"only {n} frame(s) decoded (at least {cfg.min_frames} needed)")
    if expected > 0 and n < (1.0 - cfg.max_frame_shortfall) * expected:
        raise ClipError(f"truncated video: decoded {n} of {expected} frames the container announces")
    scale = (thumbs[0].shape[1] / info.width) if thumbs else 1.0
    th = np.stack(thumbs) if thumbs else np.zeros((0, 1, 1, 3), np.uint8)
    return {
        "audio": audio.astype(np.float32),
        "sample_rate": np.int64(cfg.sample_rate),
        "n_frames": np.int64(n),
        "fps": np.float64(cfg.fps),
        "src_fps": np.float64(info.fps),
        "width": np.int64(info.width),
        "height": np.int64(info.height),
        "duration_s": np.float64(info.duration_s),
        "audio_duration_s": np.float64(audio.size / cfg.sample_rate),
        "thumbnails": th,
        "thumbnail_frames": np.asarray(thumb_idx, dtype=np.int64),
        "thumbnail_scale": np.float64(scale),
    }


def stream_frames(path: str | Path, fps: float, sink: FrameSink, threads: int = 0) -> int:
    """Decode only the frames (for a landmarks rerun when the decode artefact is up to date)."""
    try:
        info = probe_video(path)
    except MediaError as exc:
        raise ClipError(str(exc).split(": ", 1)[-1]) from exc
    reader = FrameReader(path, info.width, info.height, fps, threads)
    n = 0
    for index, frame in reader:
        sink(index, frame)
        n = index + 1
    if reader.returncode not in (0, None):
        raise ClipError(f"ffmpeg failed while decoding frames: {reader.errors[-1] if reader.errors else reader.returncode}")
    return n
