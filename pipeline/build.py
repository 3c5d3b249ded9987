"""``build_ravdess``: RAVDESS videos -> fitted, front-facing mesh sequences in HDF5 splits.

A pure function of its arguments (plus what is already in ``out``): it discovers the clips,
plans and runs the stages on the chosen executor and returns a :class:`BuildSummary`;
``pipeline.commands`` wraps it as the ``build-dataset ravdess`` command. See docs/pipeline.md.

``out`` receives::

    manifest.json           what discovery found and skipped (sha256 of every source)
    config.yaml, split.yaml the fully resolved configuration of this build
    work/<stage>/...        one artefact + sidecar per clip (actor, split) and stage
    qa/report.html|json     the QA report (per-clip metrics, flags, failures, skipped inputs)
    train.h5 val.h5 test.h5 the splits (written atomically)
    build.json              this summary (failures with their one-line reasons)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emoface.utils.atomic import write_json_atomic
from emoface.utils.config import dump_yaml
from pipeline.detectors.config import detector_note
from pipeline.sources.ravdess import Manifest, parse_actors, prepare_ravdess
from pipeline.stages.config import BuildConfig, SplitConfig, stages_from
from pipeline.stages.runtime import TaskContext
from pipeline.stages.store import cleanup_temporaries

__all__ = ["BuildSummary", "BuildLocked", "build_ravdess", "make_executor"]


class BuildLocked(RuntimeError):
    """Another build holds the lock on the same output folder."""


@dataclass
class BuildSummary:
    """What a build did. ``exit_code`` is 1 exactly when a clip, a split, the report or an input failed."""

    out: str
    executor: str
    n_clips: int
    n_ok: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    bad_inputs: list[dict[str, Any]] = field(default_factory=list)
    filtered: int = 0
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    #: lines the user must see (e.g. a detector whose accuracy is not measured)
    notes: list[str] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return len(self.failures) + len(self.bad_inputs)

    @property
    def exit_code(self) -> int:
        return 1 if self.n_failed else 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["exit_code"] = self.exit_code
        return d


@contextlib.contextmanager
def _lock(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    fh = open(out / ".build.lock", "w")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BuildLocked(f"{out}: another build is running on this folder") from exc
        yield
    finally:
        fh.close()


def make_executor(kind: str = "local", workers: int = 1, gpus: int = 0, address: str | None = None, cfg: BuildConfig | None = None):
    """The executor for ``--workers/--gpus/--executor``; checks the GPUs first (stops at once when too few)."""
    from pipeline.executors.local import InlineExecutor, ProcessExecutor, check_gpus

    cfg = cfg or BuildConfig()
    check_gpus(gpus)
    threads = cfg.executor.torch_threads
    if kind == "ray":
        from pipeline.executors.ray_executor import RayExecutor

        return RayExecutor(address or "local", workers=workers, gpus=gpus, torch_threads=threads,
                           max_retries=cfg.executor.worker_death_retries)
    if kind != "local":
        raise ValueError(f"--executor must be local or ray, got {kind!r}")
    if workers <= 1 and gpus == 0:
        return InlineExecutor(threads)
    return ProcessExecutor(workers, gpus, cfg.executor.start_method, threads)


def _stage_stats(outcomes) -> dict[str, dict[str, Any]]:
    stats: dict[str, dict[str, Any]] = defaultdict(lambda: Counter())
    seconds: dict[str, float] = defaultdict(float)
    for o in outcomes:
        stats[o.stage][o.status] += 1
        if o.status == "ran" or (o.status == "failed" and not o.cached_failure):
            seconds[o.stage] += o.seconds
    return {s: {**dict(c), "seconds": round(seconds[s], 3)} for s, c in stats.items()}


def build_ravdess(
    root: str | Path,
    out: str | Path,
    cfg: BuildConfig | None = None,
    *,
    split: SplitConfig | None = None,
    actors: str | list[int] | None = None,
    force: str | None = None,
    workers: int = 1,
    gpus: int = 0,
    executor: str = "local",
    address: str | None = None,
    download: bool = False,
    progress: bool | None = False,
) -> BuildSummary:
    """Build 3D-RAVDESS from the videos under ``root`` into ``out``; returns the summary.

    Nothing that already matches its sidecar is recomputed; ``force`` (a stage name) redoes
    that stage and every later one. Bad inputs are recorded, never raised; only a wrong
    setup (missing root, too few GPUs, a locked ``out``, offline ``--download``) raises.
    """
    from pipeline.executors.progress import BuildProgress
    from pipeline.stages.scheduler import Scheduler

    t0 = time.perf_counter()
    cfg = cfg or BuildConfig()
    split = split or SplitConfig()
    out = Path(out).resolve()
    root = Path(root)
    forced = stages_from(force)
    wanted = parse_actors(actors)
    with _lock(out):
        cleanup_temporaries(out)
        if download:
            from pipeline.sources.zenodo import download_ravdess

            root.mkdir(parents=True, exist_ok=True)
            download_ravdess(root, wanted)
        limits = {"max_member_bytes": cfg.source.max_member_bytes, "max_total_bytes": cfg.source.max_total_bytes,
                  "max_ratio": cfg.source.max_ratio}
        manifest: Manifest = prepare_ravdess(root, out, wanted, cfg.source.extract_to or None, limits)
        if cfg.landmarks.detector != "mediapipe":
            # fail fast, once, with one line (package missing, weights that cannot be downloaded); the
            # workers then find the downloaded weights in torch's hub cache
            from pipeline.detectors import make_detector

            make_detector(cfg.landmarks.detector, cfg.landmarks.min_confidence, cfg.landmarks.fan).close()
        dump_yaml(cfg, out / "config.yaml")
        dump_yaml(split, out / "split.yaml")

        ex = make_executor(executor, workers, gpus, address, cfg)
        cpus = os.cpu_count() or 1
        ctx = TaskContext(str(out), cfg, forced, device=cfg.device,
                          ffmpeg_threads=cfg.decode.ffmpeg_threads or max(1, cpus // max(1, workers)))
        with ex, BuildProgress(progress) as bar:
            sched = Scheduler(ctx, manifest, split, ex, bar, capacity=ex.capacity(), retries=cfg.executor.worker_death_retries)
            sched.run()
        cleanup_temporaries(out)

        failures = sched.failures()
        if sched.report is not None and not sched.report.ok:
            failures.append({"clip_id": None, "subject": None, "stage": "report", "reason": sched.report.reason,
                             "cached": sched.report.cached_failure, "source": None})
        n_ok = sum(1 for st in sched.clips.values() if st.packable)
        summary = BuildSummary(
            out=str(out),
            executor=ex.description,
            n_clips=len(manifest.clips),
            n_ok=n_ok,
            failures=failures,
            bad_inputs=[asdict(s) for s in manifest.bad],
            filtered=sum(1 for s in manifest.skipped if s.kind == "filtered"),
            splits=dict(sorted(sched.splits.items())),
            report={"status": sched.report.status, "path": str(out / "qa" / "report.html")} if sched.report else None,
            stages=_stage_stats(sched.outcomes),
            seconds=round(time.perf_counter() - t0, 3),
            notes=[n for n in (detector_note(cfg.landmarks.detector, cfg.landmarks.fan),) if n],
        )
        write_json_atomic(out / "build.json", summary.to_dict())
    return summary
