"""Render the README's pictures.

    python docs/images/make_images.py [--demo demo_out]
    python docs/images/make_images.py --qa-pair RAVDESS_CLIP.mp4

From a finished `make demo` run:

- ``qa_report.png``: the top of ``demo_out/3d-dataset/qa/report.html`` as a browser shows
  it (headless Chromium; skipped with a message when no chromium is installed);
- ``animation_frame.png``: the middle frame of ``demo_out/animation/animation.mp4`` (the
  bundled ffmpeg of imageio-ffmpeg).

With ``--qa-pair``, instead:

- ``qa_pair_real.jpg``: the QA report's picture of a real RAVDESS clip (the README's is
  ``01-01-01-01-02-01-05.mp4`` of Actor 05, from ``Video_Speech_Actor_05.zip`` of Zenodo
  record 1188976): the clip is built alone with the demo head (``build-dataset ravdess
  --model demo`` in a temporary folder) and its most expressive frame beside the fitted
  front-facing mesh is copied here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


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


def qa_pair(clip: Path, jpg: Path) -> None:
    """Build ``clip`` (a RAVDESS video named ``MM-VV-EE-II-SS-RR-AA.mp4``) with the demo head and
    copy its QA picture (most expressive frame | fitted front-facing mesh) to ``jpg``."""
    if not clip.is_file():
        raise SystemExit(f"{clip}: not found")
    actor = clip.stem.split("-")[-1]
    if not actor.isdigit():
        raise SystemExit(f"{clip}: not a RAVDESS file name (MM-VV-EE-II-SS-RR-AA.mp4)")
    with tempfile.TemporaryDirectory(prefix="emoface-qa-pair-") as tmp:
        root = Path(tmp) / "ravdess"
        (root / f"Actor_{int(actor):02d}").mkdir(parents=True)
        shutil.copy(clip, root / f"Actor_{int(actor):02d}" / clip.name)
        out = Path(tmp) / "out"
        subprocess.run([sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out", str(out),
                        "--model", "demo"], check=True, cwd=REPO)
        report = json.loads((out / "qa" / "report.json").read_text())
        pictures = [c.get("picture") for c in report["clips"] if c.get("picture")]
        if not pictures:
            notes = [(c["qa"]["metrics"].get("expressive_frame") or {}).get("note") for c in report["clips"]]
            raise SystemExit(f"{clip}: the QA made no picture ({'; '.join(n for n in notes if n) or 'no clip built'})")
        shutil.copy(out / "qa" / pictures[0], jpg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=Path("demo_out"))
    ap.add_argument("--qa-pair", type=Path, metavar="CLIP", help="render only qa_pair_real.jpg from this RAVDESS video")
    args = ap.parse_args()
    if args.qa_pair is not None:
        qa_pair(args.qa_pair, HERE / "qa_pair_real.jpg")
        print(HERE / "qa_pair_real.jpg")
        return
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
