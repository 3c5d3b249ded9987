"""What a killed build leaves behind: no orphaned workers, no temporary files a rerun does not remove.

- only the main process is SIGKILLed (as the OOM killer does): its worker processes and the
  multiprocessing resource tracker exit within seconds instead of idling forever;
- SIGKILL (of the whole build) or SIGTERM while a clip's audio is being decoded: the audio's
  temporary file lives under OUT (never in the system's temporary folder) and the rerun removes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from buildtest_support import BACKEND, HERE, cmdline, descendants, make_corpus, proc_stat

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux only)")

REPO = HERE.parents[2]
CLIPS = ("Actor_01/01-01-03-01-01-01-01.mp4", "Actor_01/01-01-06-02-02-01-01.mp4", "Actor_21/01-01-05-01-01-01-21.mp4",
         "Actor_23/01-01-02-01-02-02-23.mp4")


def _setup(tmp_path: Path, media) -> tuple[Path, Path, dict[str, str]]:
    root = make_corpus(tmp_path / "ravdess", {c: media["good"] for c in CLIPS})
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"backend: {BACKEND}\n")
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)]), "TMPDIR": str(systmp)}
    return root, cfg, env


def _command(root: Path, out: Path, cfg: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out", str(out), "--config", str(cfg), *extra]


def _wait_for(predicate, timeout: float, poll: float = 0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    return predicate()


def _audio_temporaries(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*") if p.name.endswith(".f32"))


def test_workers_exit_when_only_the_main_process_is_killed(tmp_path, media):
    root, cfg, env = _setup(tmp_path, media)
    proc = subprocess.Popen(_command(root, tmp_path / "out", cfg, "--workers", "2"), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def two_workers():
            found = [p for p in descendants(proc.pid) if "spawn_main" in cmdline(p)]
            return found if len(found) >= 2 else None

        assert _wait_for(two_workers, 60) and proc.poll() is None, "the build did not start two workers"
        time.sleep(0.5)  # the workers take their first tasks
        family = [p for p in descendants(proc.pid) if "python" in cmdline(p)]
        assert any("resource_tracker" in cmdline(p) for p in family), [cmdline(p) for p in family]
        proc.send_signal(signal.SIGKILL)  # the main process only, as the OOM killer does
        proc.wait(timeout=30)
        left = _wait_for(lambda: not [p for p in family if proc_stat(p) is not None], 10, poll=0.1)
        assert left, "still running 10 s after the build was killed: " + "; ".join(
            f"{p} {cmdline(p)[:120]}" for p in family if proc_stat(p) is not None)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever the old code left behind
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


@pytest.mark.parametrize("how", ["sigkill-all", "sigterm"])
def test_audio_temporaries_of_a_killed_build_are_removed_by_the_rerun(tmp_path, media, how):
    root, cfg, env = _setup(tmp_path, media)
    out = tmp_path / "out"
    systmp = Path(env["TMPDIR"])
    workers = ["--workers", "2"] if how == "sigterm" else []
    proc = subprocess.Popen(_command(root, out, cfg, *workers), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        seen = _wait_for(lambda: _audio_temporaries(systmp, out) if out.exists() else None, 120, poll=0.005)
        assert seen, "no audio temporary seen while the build ran"
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 130
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
    time.sleep(0.5)  # ffmpeg processes of killed workers notice their closed pipe
    assert all(str(p).startswith(str(out)) for p in seen), f"audio temporaries outside OUT: {seen}"

    again = subprocess.run(_command(root, out, cfg), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _audio_temporaries(systmp, out) == []
