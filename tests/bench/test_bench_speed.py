"""``bench.bench_speed`` renders its goals table from one run's rounds and splices it into a Markdown file."""

from pathlib import Path

from bench.bench_speed import END, START, render, splice


def _round(k: float) -> dict:
    inf = {"3s": {"rtf": 0.3 * k, "peak_rss_mib": 900}, "10s": {"rtf": 0.3 * k, "peak_rss_mib": 950},
           "60s": {"rtf": 0.33 * k, "peak_rss_mib": 1000}}
    return {"faceformer": {"rtf_3s": 0.4, "rtf_10s": 0.5, "train_tf_s": 1.0, "train_ar_s": 2.0, "peak_rss_mb": 2000},
            "emoface": inf, "emoface_before": {s: {"rtf": 2 * v["rtf"]} for s, v in inf.items()},
            "train_emoface": {"seconds_per_step": 3.0 * k, "peak_rss_mib": 5000, "cpu_seconds_per_step": 3.0},
            "train_single_branch": {"seconds_per_step": 2.0, "peak_rss_mib": 2800},
            "train_emoface_checkpoint": {"seconds_per_step": 4.0, "peak_rss_mib": 3500},
            "train_emoface_low_memory": {"seconds_per_step": 4.4, "peak_rss_mib": 3700, "cpu_seconds_per_step": 3.9}}


def test_render_takes_medians_of_the_per_round_ratios_and_judges_the_goals(tmp_path: Path):
    meta = {"command": "python -m bench.bench_speed", "machine": {"cores": 2, "cpu_model": "X"}, "date": "2026-12-06",
            "load_start": [1.0], "load_end": [2.0]}
    text = render({"meta": meta, "threads": 1, "rounds": [_round(1.0), _round(1.2), _round(0.8)]}, None)
    assert text.startswith(START) and text.rstrip().endswith(END)
    assert "| EmoFace inference RTF / FaceFormer's, 3 s | 0.75x | <= 1.0x | met |" in text
    assert "| EmoFace RTF 60 s / 3 s | 1.10x | <= 1.2x | met |" in text
    assert "| pair training step, EmoFace / single branch (90 frames) | 1.50x | <= 2.0x | met |" in text
    assert "4.88 GiB | <= 4 GB | **not met**" in text  # 5000 MiB
    # the memory options' row: 3700 MiB = 3.88 GB; CPU time against the default pair step's (medians 3.9 / 3.0)
    low = next(line for line in text.splitlines() if "`optim.step_in_backward=true`" in line)
    assert "| 3.61 GiB | <= 4 GB | met | step 2.20x the single branch's; CPU time 1.30x" in low
    # a results file from before the option (no such run) renders without the row
    old = [{k: v for k, v in r.items() if k != "train_emoface_low_memory"} for r in (_round(1.0),)]
    assert "step_in_backward" not in render({"meta": meta, "threads": 1, "rounds": old}, None)
    md = tmp_path / "B.md"
    md.write_text("# B\n\nintro\n")
    splice(md, text)
    splice(md, text.replace("0.75x", "0.70x"))  # a second splice replaces the section
    s = md.read_text()
    assert s.count(START) == 1 and "0.70x" in s and s.startswith("# B\n\nintro\n")


def test_render_says_the_machine_was_shared_only_when_the_load_exceeded_the_cores_and_shows_the_floor():
    meta = {"command": "python -m bench.bench_speed", "machine": {"cores": 2, "cpu_model": "X"}, "date": "2026-12-07",
            "load_start": [0.4], "load_end": [1.5]}
    paired = {"3s": {"ratio_median": 1.7, "ratios": [1.7, 1.8], "rtf_faceformer": 0.13, "rtf_emoface": 0.22,
                     "encoders_only_ratio_median": 1.12, "bf16_ratio_median": 1.3}}
    idle = render({"meta": meta, "threads": 2, "rounds": [_round(1.0)], "paired": paired}, None)
    assert "shared with other jobs" not in idle
    assert "| 3s | 1.70x | <= 1.0x | **not met** | 0.220 | 0.130 | 1.12x | 1.30x |" in idle
    busy = render({"meta": {**meta, "load_end": [3.5]}, "threads": 2, "rounds": [_round(1.0)]}, None)
    assert "shared with other jobs" in busy


def test_the_before_rows_name_the_before_checkout_commit(tmp_path: Path):
    import subprocess

    from bench.bench_speed import checkout_commit

    meta = {"command": "python -m bench.bench_speed", "machine": {"cores": 2, "cpu_model": "X"}, "date": "2026-12-07",
            "load_start": [1.0], "load_end": [1.0], "before_commit": "abc1234"}
    text = render({"meta": meta, "threads": 2, "rounds": [_round(1.0)]}, None)
    assert "| before this change (same rounds; commit abc1234): RTF 60 s / 3 s |" in text
    assert checkout_commit(tmp_path) is None  # not a checkout
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "a.txt").write_text("1\n")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert checkout_commit(repo) == head
    (repo / "sub").mkdir()
    assert checkout_commit(repo / "sub") is None  # an export inside another checkout names no commit
    (repo / "a.txt").write_text("2\n")
    assert checkout_commit(repo) == head + "-dirty"


def test_the_tcmalloc_rows_appear_only_for_rounds_that_ran_them():
    meta = {"command": "python -m bench.bench_speed", "machine": {"cores": 2, "cpu_model": "X"}, "date": "2026-12-07",
            "load_start": [1.0], "load_end": [1.0]}
    plain = render({"meta": meta, "threads": 2, "rounds": [_round(1.0)]}, None)
    assert "tcmalloc" not in plain
    r = _round(1.0) | {"tcmalloc": "libtcmalloc_minimal.so.4",
                       "train_emoface_tcmalloc": {"seconds_per_step": 2.7, "peak_rss_mib": 4100},
                       "train_single_branch_tcmalloc": {"seconds_per_step": 1.5, "peak_rss_mib": 2400},
                       "train_emoface_tcmalloc_low_memory": {"seconds_per_step": 3.3, "peak_rss_mib": 3600}}
    lines = render({"meta": meta, "threads": 2, "rounds": [r]}, None).splitlines()
    tc = next(line for line in lines if line.startswith("| same with tcmalloc"))
    # 4100 MiB = 4.30 GB; time against the glibc pair step of the same round (3.0 s); 2.7 / 1.5 with tcmalloc
    assert "| 4.00 GiB | <= 4 GB | **not met** | step 0.90x the default pair step's time; pair / single branch 1.80x" in tc
    low = next(line for line in lines if line.startswith("| tcmalloc with"))
    assert "`model.content_encoder.checkpoint=true`, `optim.step_in_backward=true` | 3.52 GiB | <= 4 GB | met | step 1.10x" in low


def test_a_preload_that_did_not_take_is_refused_and_the_parent_preload_is_not_inherited(monkeypatch):
    import pytest

    from bench.bench_speed import REPO, _py, _ran_with

    row = {"seconds_per_step": 2.0, "allocator": "tcmalloc"}
    assert _ran_with(row, "tcmalloc", "libtcmalloc_minimal.so.4") is row
    with pytest.raises(RuntimeError, match="ran with libc's malloc, not tcmalloc"):
        _ran_with({"allocator": "libc"}, "tcmalloc", "/no/such/libtcmalloc.so")
    monkeypatch.setenv("LD_PRELOAD", "/no/such/library.so")  # a parent's preload stays out of the glibc rows
    code = "import os; print(os.environ.get('LD_PRELOAD'))"
    assert _py(["-c", code], REPO).strip().splitlines()[-1] == "None"
    assert _py(["-c", code], REPO, preload="/no/such/other.so").strip().splitlines()[-1] == "/no/such/other.so"
