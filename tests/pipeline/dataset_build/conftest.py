"""Fixtures of the build tests: small real and broken videos made from the committed RAVDESS piece."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from emoface.utils.media import ffmpeg_exe

from buildtest_support import BACKEND, FIXTURE, HERE, SHARED_CLIP, make_corpus  # noqa: F401 (re-exported)


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """``good`` (1 s, 1280x720, 29.97 fps, with a face), and broken variants of it."""
    d = tmp_path_factory.mktemp("media")
    good = d / "good.mp4"
    shutil.copy(FIXTURE, good)
    _ffmpeg("-i", str(good), "-an", "-c:v", "copy", str(d / "no_audio.mp4"))
    _ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=320x240:r=30:d=1", "-f", "lavfi", "-i", "sine=f=440:d=1:sample_rate=48000",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(d / "no_face.mp4"))
    data = good.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: int(len(data) * 0.6)])
    _ffmpeg("-i", str(good), "-c", "copy", "-movflags", "+faststart", str(d / "faststart.mp4"))
    fast = bytearray((d / "faststart.mp4").read_bytes())
    rng = random.Random(0)
    for i in range(int(len(fast) * 0.3), int(len(fast) * 0.3) + 3000):
        fast[i] = rng.randrange(256)
    (d / "corrupt.mp4").write_bytes(bytes(fast))
    (d / "zero.mp4").write_bytes(b"")
    return {p.stem: p for p in d.iterdir()}
