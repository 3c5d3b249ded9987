"""Failures found by trying to break ``build-dataset ravdess`` (issue 13, section 2).

- the disk fills while the splits are written (``--workers 1``): exit 1, one line naming the
  file and "no space left", the old splits untouched, no temporary file (was: SIGSEGV in HDF5);
- a read-only ``--out``: exit 2 and one line (was: an OSError traceback, exit 1);
- a folder named like a clip is a bad input (was: filtered silently, exit 0);
- a refused ``--model`` (unsafe pickle, missing file): exit 2 and one line at setup (was: a
  failure of every clip at the identity stage).

The full disk and the read-only folder are real: a tmpfs and a read-only bind mount in a private
mount namespace (``unshare``), so nothing outside the test sees them; those tests skip where
mount namespaces are not allowed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from buildtest_support import BACKEND, HERE, make_corpus
from pipeline.build import build_ravdess
from pipeline.stages.config import BuildConfig

REPO = HERE.parents[2]
CLIPS = ("Actor_01/01-01-03-01-01-01-01.mp4", "Actor_21/01-01-05-01-01-01-21.mp4", "Actor_23/01-01-02-01-02-02-23.mp4")


@lru_cache(maxsize=1)
def _unshare() -> tuple[str, ...] | None:
    """The command prefix that runs a shell in a private mount namespace, or None."""
    exe = shutil.which("unshare")
    if exe is None or not sys.platform.startswith("linux"):
        return None
    prefix = (exe, "--mount") if os.geteuid() == 0 else (exe, "--map-root-user", "--mount")
    probe = subprocess.run([*prefix, "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True)
    return prefix if probe.returncode == 0 else None


needs_mount_ns = pytest.mark.skipif(_unshare() is None, reason="no private mount namespace here (unshare --mount refused)")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)])}


def _build_command(root: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out", str(out), "--no-progress", *extra]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _error_lines(stderr: str) -> list[str]:
    """stderr without the detector's start-up chatter (MediaPipe / TensorFlow Lite log lines)."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(("W0000", "I0000", "INFO:", "WARNING: Logging"))]


@needs_mount_ns
def test_full_disk_while_writing_the_splits_is_one_failure_and_keeps_the_old_splits(tmp_path, media):
    root = make_corpus(tmp_path / "ravdess", {c: media["good"] for c in CLIPS})
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"backend: {BACKEND}\n")
    built = tmp_path / "built"
    first = subprocess.run(_build_command(root, built, "--config", str(cfg)), env=_env(), capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    old = {p.name: _sha(p) for p in built.glob("*.h5")}
    assert sorted(old) == ["test.h5", "train.h5", "val.h5"]

    # in a private namespace: OUT on a tmpfs that is full but for 100 KiB, then the splits are written again
    mnt, results = tmp_path / "mnt", tmp_path / "results"
    mnt.mkdir()
    results.mkdir()
    build = " ".join(f"'{a}'" for a in _build_command(root, mnt / "out", "--config", str(cfg), "--workers", "1", "--force", "package"))
    script = f"""
        set -e
        mount -t tmpfs -o size=16m tmpfs '{mnt}'
        cp -a '{built}' '{mnt}/out'
        avail=$(df --output=avail -B1 '{mnt}' | tail -1)
        head -c $((avail - 102400)) /dev/zero > '{mnt}/filler'
        set +e
        {build} > '{results}/stdout' 2> '{results}/stderr'
        echo $? > '{results}/rc'
        rm '{mnt}/filler'
        cp -a '{mnt}/out' '{results}/out'
    """
    subprocess.run([*_unshare(), "bash", "-c", script], env=_env(), check=True, timeout=300)

    rc = int((results / "rc").read_text())
    stderr = (results / "stderr").read_text()
    assert rc == 1, f"exit {rc}: {stderr[-3000:]}"
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr[-3000:]
    out = results / "out"
    assert {p.name: _sha(p) for p in out.glob("*.h5")} == old  # the old splits are untouched
    assert [p for p in out.rglob("*") if ".tmp" in p.name] == []
    failures = json.loads((out / "build.json").read_text())["failures"]
    assert failures and all(f["stage"] == "package" for f in failures)
    for f in failures:
        split = f["reason"].split(":", 1)[0]
        assert f"{mnt / 'out' / split}.h5" in f["reason"] and "no space left" in f["reason"] and "\n" not in f["reason"], f


@needs_mount_ns
def test_read_only_out_is_a_setup_error(tmp_path, media):
    root = make_corpus(tmp_path / "ravdess", {CLIPS[0]: media["good"]})
    ro = tmp_path / "ro"
    ro.mkdir()
    results = tmp_path / "results"
    results.mkdir()
    lines = []
    for out in (ro, ro / "new"):  # an existing read-only folder, and a new folder inside one
        build = " ".join(f"'{a}'" for a in _build_command(root, out))
        script = f"""
            mount --bind '{ro}' '{ro}' && mount -o remount,bind,ro '{ro}'
            {build} > '{results}/stdout' 2> '{results}/stderr'
            echo $? > '{results}/rc'
        """
        subprocess.run([*_unshare(), "bash", "-c", script], env=_env(), check=True, timeout=120)
        rc = int((results / "rc").read_text())
        err = _error_lines((results / "stderr").read_text())
        assert rc == 2 and len(err) == 1, f"exit {rc}: {err}"
        lines.append(err[0])
    assert all(ln.startswith("error: ") and str(ro) in ln and "read-only file system" in ln for ln in lines), lines


def test_a_folder_named_like_a_clip_is_a_bad_input(tmp_path, media):
    root = make_corpus(tmp_path / "ravdess", {CLIPS[0]: media["good"]})
    (root / "Actor_01" / "01-01-01-01-01-01-01.mp4").mkdir()
    (root / "Actor_01" / "01-01-01-01-01-01-01.mp4" / "inside.mp4").write_bytes(b"x")
    (root / "01-01-01-01-01-02-01.mp4").mkdir()  # the same, at the top of a flat layout
    (root / "Actor_01" / "extras").mkdir()  # an ordinary sub-folder stays a deliberate skip

    s = build_ravdess(root, tmp_path / "out", BuildConfig(backend=BACKEND))
    assert s.exit_code == 1 and s.n_ok == 1
    bad = {os.path.relpath(b.path, root): b.reason for b in s.bad_inputs}
    assert bad == {"Actor_01/01-01-01-01-01-01-01.mp4": "a folder, not a video file",
                   "01-01-01-01-01-02-01.mp4": "a folder, not a video file"}
    assert s.filtered == 1


def _unsafe_pickle(path: Path) -> Path:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path.write_bytes(pickle.dumps({"v_template": Evil()}))
    return path


@pytest.mark.parametrize("kind", ["unsafe pickle", "missing file"])
def test_a_refused_model_is_a_setup_error(tmp_path, media, kind):
    root = make_corpus(tmp_path / "ravdess", {CLIPS[0]: media["good"]})
    model = _unsafe_pickle(tmp_path / "evil.pkl") if kind == "unsafe pickle" else tmp_path / "absent" / "generic_model.pkl"
    out = tmp_path / "out"
    r = subprocess.run(_build_command(root, out, "--model", str(model)), env=_env(), capture_output=True, text=True, timeout=300)
    err = _error_lines(r.stderr)
    assert r.returncode == 2 and len(err) == 1, f"exit {r.returncode}: {r.stderr[-3000:]}"
    assert err[0].startswith(f"error: --model {model}: ") and "pwned" not in r.stdout
    assert not (out / "work").exists()  # refused before any stage ran
