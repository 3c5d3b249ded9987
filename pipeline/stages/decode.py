"""Stage ``decode``: a video -> frames at 30 fps (streamed, never stored) and 16 kHz mono audio.

One ffmpeg process per clip (the binary bundled with imageio-ffmpeg, called with an argument
list) does everything: it writes RGB frames to a pipe, the audio as mono float32 at 16 kHz
to a temporary file, and its stream information and errors to stderr (parsed here, so no
separate probe is needed). Frames pass ffmpeg's ``fps`` filter, which picks for output frame
``k`` (time ``k / fps``) the source frame nearest in presentation time; a 29.97 fps RAVDESS
video therefore keeps its timing at 30 fps (one frame in a thousand is shown twice) and stays
aligned with its audio. The frames go to a consumer (the landmarks stage) while they are
decoded; only a few downscaled thumbnails are kept, for the QA report.

The artefact ``work/decode/<clip_id>.npz`` holds:

- ``audio (N,) float32`` mono at ``sample_rate`` Hz, in [-1, 1];
- ``n_frames``, ``fps``, ``src_fps``, ``width``, ``height`` (source pixels), ``duration_s``
  (container), ``audio_duration_s``;
- ``thumbnails (K, h, w, 3) uint8``, ``thumbnail_frames (K,)`` frame indices and
  ``thumbnail_scale`` (thumbnail pixels per source pixel).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from emoface.utils.media import ffmpeg_exe
from pipeline.stages.config import DecodeConfig
from pipeline.stages.store import ClipError

__all__ = ["MediaReader", "decode_clip", "stream_frames", "thumbnail_indices"]

FrameSink = Callable[[int, np.ndarray], None]

_LEVEL = re.compile(r"\[(trace|debug|verbose|info|warning|error|fatal|panic)\] ")
_SIZE = re.compile(r", (\d{1,5})x(\d{1,5})[ ,\n]")
_FPS = re.compile(r", (\d+(?:\.\d+)?) fps")
_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")


class MediaReader:
    """Iterate ``(index, rgb (H, W, 3) uint8)`` frames of ``path`` at ``fps``; optionally decode the audio too.

    After iteration: ``width``, ``height``, ``src_fps``, ``duration_s``, ``has_audio``,
    ``audio`` (``(N,) float32`` at ``sample_rate``, or ``None``), ``errors`` (the decoder's
    error lines) and ``returncode``. Raises :class:`ClipError` when the file cannot be opened.

    The audio goes through a temporary file in ``tmp_dir`` (a build passes a folder under its
    output, so that a file left by a killed run is removed by the next run's cleanup; the name
    ``.<clip>.audio.<random>.tmp.f32`` is what :func:`pipeline.stages.store.cleanup_temporaries`
    removes), or in the system's temporary folder when ``tmp_dir`` is ``None``.
    """

    def __init__(self, path: str | Path, fps: float = 30.0, threads: int = 0, sample_rate: int | None = None,
                 tmp_dir: str | Path | None = None):
        self.path = Path(path)
        self.tmp_dir = Path(tmp_dir) if tmp_dir is not None else None
        self.fps = Fraction(fps).limit_denominator(1001)
        self.threads = int(threads)
        self.sample_rate = sample_rate
        self.width = self.height = 0
        self.src_fps = 0.0
        self.duration_s = 0.0
        self.has_audio = False
        self.audio: np.ndarray | None = None
        self.errors: list[str] = []
        self.returncode: int | None = None
        self._ready = threading.Event()
        self._input_size = (0, 0)

    def _cmd(self, audio_file: str | None) -> list[str]:
        cmd = [
            ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info",
            "-threads", str(self.threads), "-i", str(self.path),
            "-map", "0:v:0", "-vf", f"fps={self.fps}", "-threads", str(self.threads),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
        ]
        if audio_file is not None:
            cmd += ["-map", "0:a:0?", "-vn", "-ac", "1", "-ar", str(self.sample_rate), "-f", "f32le",
                    "-c:a", "pcm_f32le", "-y", audio_file]
        return cmd

    def _parse(self, stderr) -> None:
        section = ""
        for raw in stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            m = _LEVEL.search(line)
            level = m.group(1) if m else "info"
            text = line[m.end():] if m else line
            prefix = re.sub(r" @ 0x[0-9a-f]+\]", "]", line[: m.start()]).strip() if m else ""
            if level in ("error", "fatal", "panic"):
                self.errors.append(f"{prefix} {text}".strip())
                continue
            stripped = text.strip()
            if stripped.startswith("Input #0"):
                section = "input"
            elif stripped.startswith("Stream mapping:"):
                section = "mapping"
            elif stripped.startswith("Output #0"):
                section = "output0"
            elif stripped.startswith("Output #"):
                section = "other"
            elif section == "input" and stripped.startswith("Duration:"):
                d = _DURATION.search(stripped)
                if d:
                    self.duration_s = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3))
            elif section == "input" and stripped.startswith("Stream #0:"):
                if ": Audio:" in stripped:
                    self.has_audio = True
                elif ": Video:" in stripped and not self.src_fps:
                    f = _FPS.search(stripped)
                    self.src_fps = float(f.group(1)) if f else 0.0
                    s = _SIZE.search(stripped + " ")
                    if s:
                        self._input_size = (int(s.group(1)), int(s.group(2)))
            elif section == "output0" and stripped.startswith("Stream #0:") and ": Video:" in stripped:
                s = _SIZE.search(stripped + " ")  # the size ffmpeg writes (after any rotation)
                self.width, self.height = (int(s.group(1)), int(s.group(2))) if s else self._input_size
                self._ready.set()
        self._ready.set()

    def _open_error(self) -> ClipError:
        useful = [e for e in self.errors if "Error opening" not in e or len(self.errors) == 1]
        if self.sample_rate is not None and not self.has_audio and self.duration_s:
            return ClipError("no audio track")
        last = (useful or self.errors or ["ffmpeg printed no stream information"])[-1]
        return ClipError(f"not a readable video ({last.split('] ')[-1]})")

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        audio_file = None
        if self.sample_rate is not None:
            if self.tmp_dir is not None:
                self.tmp_dir.mkdir(parents=True, exist_ok=True)
                fd, audio_file = tempfile.mkstemp(prefix=f".{self.path.stem}.audio.", suffix=".tmp.f32", dir=self.tmp_dir)
            else:
                fd, audio_file = tempfile.mkstemp(prefix="emoface-audio-", suffix=".f32")
            os.close(fd)
        proc = subprocess.Popen(self._cmd(audio_file), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        parser = threading.Thread(target=self._parse, args=(proc.stderr,), daemon=True)
        parser.start()
        finished = False
        index = 0
        try:
            if not self._ready.wait(timeout=120):
                raise ClipError("ffmpeg printed no stream information within 120 s")
            if not self.width:
                proc.wait()
                parser.join(timeout=5)
                raise self._open_error()
            nbytes = self.width * self.height * 3
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
                proc.kill()  # the consumer stopped early, or the file could not be opened
            proc.stdout.close()  # type: ignore[union-attr]
            self.returncode = proc.wait()
            parser.join(timeout=5)
            if audio_file is not None:
                if finished and self.has_audio:
                    self.audio = np.fromfile(audio_file, dtype="<f4").astype(np.float32)
                os.unlink(audio_file)


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


def _check_file(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ClipError(f"unreadable: {exc.strerror or exc}") from exc
    if size == 0:
        raise ClipError("zero-byte file")


def decode_clip(path: str | Path, cfg: DecodeConfig, sink: FrameSink | None = None, threads: int | None = None,
                tmp_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """Decode ``path``; every frame goes to ``sink(index, rgb)``; returns the artefact's arrays.

    ``tmp_dir``: where the audio's temporary file goes (see :class:`MediaReader`).

    Raises :class:`ClipError` (a one-line reason) for a zero-byte, unreadable, truncated or
    corrupt file, a file without an audio track, or one with too few frames.
    """
    path = Path(path)
    _check_file(path)
    reader = MediaReader(path, cfg.fps, threads if threads is not None else cfg.ffmpeg_threads, cfg.sample_rate, tmp_dir)
    thumbs: list[np.ndarray] = []
    thumb_idx: list[int] = []
    wanted: set[int] | None = None
    n = 0
    for index, frame in reader:
        if wanted is None:
            wanted = set(thumbnail_indices(int(round(reader.duration_s * cfg.fps)), cfg.thumbnails).tolist())
        if sink is not None:
            sink(index, frame)
        if index in wanted:
            thumbs.append(_downscale(frame, cfg.thumbnail_width))
            thumb_idx.append(index)
        n = index + 1
    if not reader.has_audio:
        raise ClipError("no audio track")
    if reader.returncode not in (0, None):
        raise ClipError(f"ffmpeg failed while decoding: {reader.errors[-1] if reader.errors else reader.returncode}")
    if len(reader.errors) > cfg.max_decode_errors:
        raise ClipError(f"corrupt video: {len(reader.errors)} decoder error(s), first: {reader.errors[0][:160]}")
    expected = int(round(reader.duration_s * cfg.fps))
    if n < cfg.min_frames:
        raise ClipError(f"only {n} frame(s) decoded (at least {cfg.min_frames} needed)")
    if expected > 0 and n < (1.0 - cfg.max_frame_shortfall) * expected:
        raise ClipError(f"truncated video: decoded {n} of {expected} frames the container announces")
    audio = reader.audio if reader.audio is not None else np.zeros(0, np.float32)
    if audio.size == 0:
        raise ClipError("audio track is empty")
    if not np.all(np.isfinite(audio)):
        raise ClipError("audio holds NaN or inf samples")
    scale = (thumbs[0].shape[1] / reader.width) if thumbs else 1.0
    th = np.stack(thumbs) if thumbs else np.zeros((0, 1, 1, 3), np.uint8)
    return {
        "audio": audio,
        "sample_rate": np.int64(cfg.sample_rate),
        "n_frames": np.int64(n),
        "fps": np.float64(cfg.fps),
        "src_fps": np.float64(reader.src_fps),
        "width": np.int64(reader.width),
        "height": np.int64(reader.height),
        "duration_s": np.float64(reader.duration_s),
        "audio_duration_s": np.float64(audio.size / cfg.sample_rate),
        "thumbnails": th,
        "thumbnail_frames": np.asarray(thumb_idx, dtype=np.int64),
        "thumbnail_scale": np.float64(scale),
    }


def stream_frames(path: str | Path, fps: float, sink: FrameSink, threads: int = 0) -> int:
    """Decode only the frames (for a landmarks rerun when the decode artefact is up to date)."""
    path = Path(path)
    _check_file(path)
    reader = MediaReader(path, fps, threads)
    n = 0
    for index, frame in reader:
        sink(index, frame)
        n = index + 1
    if reader.returncode not in (0, None):
        raise ClipError(f"ffmpeg failed while decoding: {reader.errors[-1] if reader.errors else reader.returncode}")
    return n
