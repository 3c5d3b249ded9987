"""Render the README's pictures from a finished `make demo` run.

    python docs/images/make_images.py [--demo demo_out]

- ``qa_report.png``: the top of ``demo_out/3d-dataset/qa/report.html`` as a browser shows
  it (headless Chromium; skipped with a message when no chromium is installed);
- ``animation_frame.png``: the middle frame of ``demo_out/animation/animation.mp4`` (the
  bundled ffmpeg of imageio-ffmpeg).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import imageio_ffmpeg

HERE = Path(__file__).resolve().parent


def screenshot(html: Path, png: Path, size: str = "1300,1500") -> bool:
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if exe is None:
        print("no chromium on PATH: qa_report.png not rendered")
        return False
    with tempfile.TemporaryDirectory() as prof:
        subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={prof}", f"--window-size={size}", f"--screenshot={png}", html.resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )
    return png.exists()


def middle_frame(mp4: Path, png: Path) -> None:
    reader = imageio_ffmpeg.read_frames(str(mp4))
    meta = next(reader)
    n = int(round(meta["duration"] * meta["fps"]))
    w, h = meta["size"]
    frame = None
    for i, buf in enumerate(reader):
        frame = buf
        if i >= n // 2:
            break
    reader.close()
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", f"{w}x{h}", "-i", "-", "-frames:v", "1", str(png)],
        input=frame, check=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=Path("demo_out"))
    args = ap.parse_args()
    html = args.demo / "3d-dataset" / "qa" / "report.html"
    mp4 = args.demo / "animation" / "animation.mp4"
    for p in (html, mp4):
        if not p.exists():
            raise SystemExit(f"{p}: missing; run `make demo` first")
    if screenshot(html, HERE / "qa_report.png"):
        print(HERE / "qa_report.png")
    middle_frame(mp4, HERE / "animation_frame.png")
    print(HERE / "animation_frame.png")


if __name__ == "__main__":
    main()
