"""The generator's face photographs: the default set alternates the astronaut and Grace Hopper by
actor, the photo is recorded per clip and per actor, ``--photo`` replaces the set, and a photo
that cannot be read or has no face is a one-line error naming the file (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from pipeline.sources.synth.config import DEFAULT_PHOTOS, SynthConfig
from pipeline.sources.synth.corpus import clip_paths, generate_corpus, make_clip_actor, plan_names
from pipeline.sources.synth.state import face_rig
from pipeline.sources.synth.photoset import BUILTIN, actor_photos, photo_index, photos_dir, resolve_photos

HOPPER = photos_dir() / "grace_hopper.jpg"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "synth", *args], capture_output=True, text=True, timeout=300)


def test_hopper_ships_with_its_provenance():
    import hashlib

    notice = (photos_dir() / "NOTICE.md").read_text()
    sha = hashlib.sha256(HOPPER.read_bytes()).hexdigest()
    assert sha in notice and "public domain" in notice.lower() and "Navy" in notice
    assert set(DEFAULT_PHOTOS) <= set(BUILTIN) and DEFAULT_PHOTOS == ("astronaut", "grace_hopper")


def test_actors_alternate_among_the_photos_in_order():
    assert [photo_index(a, 2) for a in range(1, 7)] == [0, 1, 0, 1, 0, 1]
    assert [photo_index(a, 3) for a in range(1, 7)] == [0, 1, 2, 0, 1, 2]
    assert actor_photos([1, 2, 3, 24], resolve_photos(SynthConfig().photos, check_face=False)) == {1: "astronaut", 2: "grace_hopper", 3: "astronaut", 24: "grace_hopper"}
    three = SynthConfig(photos=("grace_hopper", "astronaut", str(HOPPER)))
    ids = actor_photos([1, 2, 3, 4], resolve_photos(three.photos, check_face=False))
    assert ids[1] == "grace_hopper" and ids[2] == "astronaut" and ids[4] == "grace_hopper"
    # a file that shares a built-in's name gets its hash appended: every id names one image
    assert ids[3].startswith("grace_hopper-") and len(ids[3]) == len("grace_hopper-") + 8


def test_a_photo_without_a_face_or_unreadable_is_a_one_line_error(tmp_path):
    wall = tmp_path / "wall.png"
    y, x = np.mgrid[0:240, 0:320]
    cv2.imwrite(str(wall), np.dstack([x % 256, y % 256, (x + y) % 256]).astype(np.uint8))
    text = tmp_path / "notes.jpg"
    text.write_text("not an image\n")
    with pytest.raises(ValueError, match="finds no face"):
        resolve_photos([str(wall)])
    for bad, what in ((wall, "finds no face"), (text, "not a readable image"), (tmp_path / "missing.jpg", "no such photo file")):
        r = _cli("--out", str(tmp_path / "out"), "--actors", "1", "--clips-per-actor", "1", "--photo", str(HOPPER), "--photo", str(bad))
        assert r.returncode == 2, r.stderr[-2000:]
        lines = [ln for ln in r.stderr.splitlines() if "error" in ln.lower()]  # MediaPipe logs besides
        assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0] and what in lines[0], r.stderr
        assert "Traceback" not in r.stderr
        assert not list((tmp_path / "out").rglob("*.mp4")), "nothing is generated with a bad photo"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Actor 1 (astronaut) and actor 2 (Grace Hopper), one clip each, the default photo set."""
    out = tmp_path_factory.mktemp("photos")
    result = generate_corpus(out, actors=[1, 2], clips_per_actor=1, seed=0, workers=1)
    assert not result.failed, result.failed
    return out


def test_the_photo_is_recorded_per_clip_and_per_actor(corpus):
    manifest = json.loads((corpus / "synth_manifest.json").read_text())
    assert manifest["actor_photos"] == {"1": "astronaut", "2": "grace_hopper"}
    assert [p["id"] for p in manifest["photos"]] == ["astronaut", "grace_hopper"]
    assert all(len(p["sha256"]) == 64 for p in manifest["photos"]) and "US Navy" in manifest["licences"]["photo"]
    assert manifest["config"]["photos"] == ["astronaut", "grace_hopper"]
    for name in plan_names([1, 2], 1):
        gt = np.load(clip_paths(corpus, name)[1])
        want = "astronaut" if name.actor == 1 else "grace_hopper"
        assert str(gt["photo"]) == want and json.loads(str(gt["generator"]))["photo"] == want


def test_the_hopper_actor_is_detected_in_every_frame(corpus):
    from emoface.utils.media import run_ffmpeg
    from pipeline.landmarker import FaceLandmarker

    (name,) = plan_names([2], 1)
    video, gt_path = clip_paths(corpus, name)
    gt = np.load(gt_path)
    raw = run_ffmpeg(["-i", str(video), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], what=video)
    frames = np.frombuffer(raw, np.uint8).reshape(-1, 720, 1280, 3)
    assert frames.shape[0] == gt["vertices"].shape[0]
    gap = []
    with FaceLandmarker(mode="video") as lm:
        for k, f in enumerate(frames):
            d = lm.detect(f, int(k * 1000 / 30))
            assert d is not None, f"{video.name}: face lost in frame {k}"
            p = d.landmarks[:, :2]
            gap.append(np.linalg.norm(p[13] - p[14]) / np.linalg.norm(p[263] - p[33]))
    # the detector follows the generated mouth on her face too
    assert np.corrcoef(gap, gt["mouth_opening"])[0, 1] > 0.85


def test_photo_file_replaces_the_set_and_rest_mouth_reads_closed(tmp_path):
    """``photos=(file,)``: every actor uses the file; the detector finds its face and reads the
    closed mouth of the rest pose as closed (as for the astronaut, test_synth_mouth.py)."""
    from pipeline.landmarker import FaceLandmarker

    cfg = SynthConfig(photos=(str(HOPPER),))
    errs = []
    with FaceLandmarker(mode="image") as det:
        for a in (1, 2):
            actor = make_clip_actor(a, cfg, 0)
            assert actor.photo.startswith("grace_hopper-")
            rig = face_rig(actor, cfg, 0)
            pts = rig.points(rig.rest[None], actor.rest_rotation[None], actor.rest_translation[None], np.zeros((1, 3)))[0]
            d = det.detect(rig.render(pts).copy())
            assert d is not None
            errs.append((d.landmarks[14, 1] - d.landmarks[13, 1]) - (pts.pix[14, 1] - pts.pix[13, 1]))
            # the detected face is where the rig put it
            assert np.median(np.linalg.norm(d.landmarks[:468, :2] - pts.pix[:468], axis=1)) < 8.0
    assert abs(np.mean(errs)) < 1.5, errs


def test_cli_photo_replaces_the_default_set(tmp_path):
    out = tmp_path / "one"
    r = _cli("--out", str(out), "--actors", "1", "--clips-per-actor", "1", "--photo", str(HOPPER))
    assert r.returncode == 0, r.stderr[-2000:]
    manifest = json.loads((out / "synth_manifest.json").read_text())
    (source,) = manifest["photos"]
    assert source["spec"] == str(HOPPER.resolve()) and manifest["config"]["photos"] == [str(HOPPER.resolve())]
    assert manifest["actor_photos"] == {"1": source["id"]} and source["id"].startswith("grace_hopper-")
    (name,) = plan_names([1], 1)
    assert str(np.load(clip_paths(out, name)[1])["photo"]) == source["id"]
    assert "photos:" in (out / "synth_config.yaml").read_text()
