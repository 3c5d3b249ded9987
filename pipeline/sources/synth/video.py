"""Streaming H.264 + AAC writer for generated clips (the bundled ffmpeg, argument lists).

Frames go to ffmpeg as raw YUV 4:2:0 (BT.601, limited range, the conversion OpenCV's
``COLOR_RGB2YUV_I420`` does): the generator changes only a rectangle around the face, so
only that rectangle is converted per frame and the rest of the planes stay as they are.
The output is H.264 yuv420p (``libx264``), AAC at 48 kHz mono, written to a temporary name
and renamed when ffmpeg succeeds (:func:`emoface.utils.atomic.atomic_path`).
"""

from __future__ import annotations

import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from emoface.utils.media import MediaError, ffmpeg_exe
from pipeline.sources.synth.warp import Region

__all__ = ["ClipWriter", "even_region"]


def even_region(region: Region, width: int, height: int) -> Region:
    """Grow a region to even corners (4:2:0 chroma covers 2x2 pixel blocks)."""
    x0, y0 = region.x0 - region.x0 % 2, region.y0 - region.y0 % 2
    x1, y1 = min(region.x1 + region.x1 % 2, width), min(region.y1 + region.y1 % 2, height)
    return Region(x0, y0, x1, y1)


class ClipWriter:
    """``with ClipWriter(path, w, h, fps, audio, sr) as wr: wr.write(rgb_frame, region)``.

    ``region`` (even-aligned) says which pixels changed since the previous frame; ``None``
    converts the whole frame. ``audio (N,)`` float32 in [-1, 1] at ``sample_rate`` Hz; it is
    resampled to ``audio_rate`` by ffmpeg.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: float,
        audio: np.ndarray,
        sample_rate: int,
        audio_rate: int = 48000,
        crf: int = 20,
        preset: str = "ultrafast",
        threads: int = 1,
    ) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"{path}: H.264 yuv420p needs even frame sizes, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height = width, height
        self._y = np.zeros((height, width), np.uint8)
        self._u = np.zeros((height // 2, width // 2), np.uint8)
        self._v = np.zeros((height // 2, width // 2), np.uint8)
        self._n = 0
        self._tmpdir = tempfile.TemporaryDirectory(prefix=".synth-", dir=self.path.parent)
        wav = Path(self._tmpdir.name) / "audio.wav"
        _write_wav(wav, audio, sample_rate)
        rate = Fraction(fps).limit_denominator(1001)
        self._err = open(Path(self._tmpdir.name) / "ffmpeg.log", "w+b")
        cmd = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-framerate", f"{rate.numerator}/{rate.denominator}",
            "-i", "pipe:0", "-i", str(wav),
            "-map", "0:v:0", "-map", "1:a:0",
            "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p", "-threads", str(threads),
            "-color_range", "tv", "-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m",
            "-c:a", "aac", "-b:a", "128k", "-ar", str(audio_rate), "-ac", "1",
            "-movflags", "+faststart", "-f", "mp4", str(self.path),
        ]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err)

    def write(self, frame: np.ndarray, region: Region | None = None) -> None:
        """Send one RGB uint8 ``(H, W, 3)`` frame; only ``region`` is re-converted."""
        if region is None or self._n == 0:
            region = Region(0, 0, self.width, self.height)
        sl = region.slices
        yuv = cv2.cvtColor(np.ascontiguousarray(frame[sl]), cv2.COLOR_RGB2YUV_I420)
        h, w = region.shape
        self._y[sl] = yuv[:h]
        chroma = yuv[h:].reshape(2, h // 2, w // 2)
        cs = (slice(region.y0 // 2, region.y1 // 2), slice(region.x0 // 2, region.x1 // 2))
        self._u[cs] = chroma[0]
        self._v[cs] = chroma[1]
        try:
            for plane in (self._y, self._u, self._v):
                self._proc.stdin.write(memoryview(plane).cast("B"))
        except BrokenPipeError:
            self._fail()
        self._n += 1

    def _fail(self) -> None:
        self._proc.wait()
        self._err.seek(0)
        lines = [ln for ln in self._err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        raise MediaError(f"{self.path}: ffmpeg failed: {lines[-1] if lines else 'no message'}")

    def close(self) -> None:
        if self._proc.stdin and not self._proc.stdin.closed:
            self._proc.stdin.close()
        code = self._proc.wait()
        try:
            if code != 0:
                self._fail()
        finally:
            self._err.close()
            self._tmpdir.cleanup()

    def abort(self) -> None:
        """Stop ffmpeg without finishing the file (the caller discards it)."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._err.close()
        self._tmpdir.cleanup()

    def __enter__(self) -> "ClipWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    sf.write(str(path), np.clip(audio, -1.0, 1.0).astype(np.float32), sample_rate, subtype="PCM_16")
