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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoface.utils.atomic import write_json_atomic
from emoface.utils.config import dump_yaml
from pipeline.detectors.registry import DETECTORS, DetectorRegistry
from pipeline.executors import EXECUTORS
from pipeline.sources.manifest import Skipped
from pipeline.sources.ravdess import Manifest, parse_actors, prepare_ravdess
from pipeline.stages.config import BuildConfig, SplitConfig, stages_from
from pipeline.stages.records import Failure, ReportStatus, SplitStatus
from pipeline.stages.registry import REGISTRY, StageRegistry
from pipeline.stages.runtime import TaskContext
from pipeline.stages.store import cleanup_temporaries

if TYPE_CHECKING:
    from pipeline.executors.local import Executor

__all__ = ["BuildSummary", "BuildLocked", "SetupError", "build_ravdess", "make_executor", "check_model", "os_error_line"]

#: model names that need no check at setup (bundled with the package; checking would import torch
#: in the main process, which a no-op rerun otherwise never does)
_BUNDLED_MODELS = ("demo",)


class BuildLocked(RuntimeError):
    """Another build holds the lock on the same output folder."""


class SetupError(RuntimeError):
    """The build cannot start (an output folder it cannot write, a refused model); one line."""


def os_error_line(exc: OSError) -> str:
    """``<file>: <what went wrong>`` on one line."""
    what = exc.strerror or str(exc)
    what = what[:1].lower() + what[1:]
    return f"{exc.filename}: {what}" if exc.filename else str(exc).splitlines()[0]


def check_model(cfg: BuildConfig) -> None:
    """Load ``cfg.model`` once through the back end; raise :class:`SetupError` when it is refused.

    A missing or unsafe model file would otherwise fail every actor at the identity stage.
    The bundled models are not checked here (they need no user file).
    """
    from pipeline.stages.runtime import load_model

    if cfg.model in _BUNDLED_MODELS:
        return
    try:
        load_model(cfg.backend, cfg.model, cfg.backend_options)
    except Exception as exc:  # noqa: BLE001 - every refusal (missing, unsafe, malformed) is a setup error
        msg = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise SetupError(f"--model {cfg.model}: {msg}") from exc


@dataclass
class BuildSummary:
    """What a build did. ``exit_code`` is 1 exactly when a clip, a split, the report or an input failed."""

    out: str
    executor: str
    n_clips: int
    n_ok: int
    failures: list[Failure] = field(default_factory=list)
    #: the entries discovery refused (``kind`` ``bad``)
    bad_inputs: list[Skipped] = field(default_factory=list)
    filtered: int = 0
    splits: dict[str, SplitStatus] = field(default_factory=dict)
    report: ReportStatus | None = None
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
        d["failures"] = [f.to_dict() for f in self.failures]
        d["bad_inputs"] = [asdict(b) for b in self.bad_inputs]
        d["splits"] = {name: s.to_dict() for name, s in self.splits.items()}
        d["report"] = self.report.to_dict() if self.report else None
        d["exit_code"] = self.exit_code
        return d


@contextlib.contextmanager
def _lock(out: Path):
    try:
        out.mkdir(parents=True, exist_ok=True)
        fh = open(out / ".build.lock", "w")
    except OSError as exc:
        raise SetupError(f"cannot write to the output folder {out}: {os_error_line(exc)}") from exc
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BuildLocked(f"{out}: another build is running on this folder") from exc
        yield
    finally:
        fh.close()


def make_executor(kind: str = "local", workers: int = 1, gpus: int = 0, address: str | None = None,
                  cfg: BuildConfig | None = None, executors: Mapping[str, str] = EXECUTORS) -> Executor:
    """The executor for ``--workers/--gpus/--executor``; checks the GPUs first (stops at once when too few)."""
    from pipeline.executors import make_executor as make
    from pipeline.executors.local import check_gpus

    check_gpus(gpus)
    return make(kind, workers, gpus, address, (cfg or BuildConfig()).executor, executors)


def _stage_stats(outcomes, stages: StageRegistry) -> dict[str, dict[str, Any]]:
    """Per stage, in registry order: how many keys ran, were cached or failed, and the seconds spent."""
    stats: dict[str, dict[str, Any]] = defaultdict(lambda: Counter())
    seconds: dict[str, float] = defaultdict(float)
    for o in outcomes:
        stats[o.stage][o.status] += 1
        if o.status == "ran" or (o.status == "failed" and not o.cached_failure):
            seconds[o.stage] += o.seconds
    return {s.name: {**dict(stats[s.name]), "seconds": round(seconds[s.name], 3)} for s in stages if s.name in stats}


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
    stages: StageRegistry = REGISTRY,
    detectors: DetectorRegistry = DETECTORS,
    executors: Mapping[str, str] = EXECUTORS,
) -> BuildSummary:
    """Build 3D-RAVDESS from the videos under ``root`` into ``out``; returns the summary.

    Nothing that already matches its sidecar is recomputed; ``force`` (a stage name) redoes
    that stage and every later one; ``stages``: the stages to run (default: the registry's);
    ``detectors``/``executors``: the detectors ``cfg.landmarks.detector`` and the executors
    ``executor`` may name (default: the registries; tests add toy ones to a copy).
    Bad inputs are recorded, never raised; only a wrong setup (missing root, too few GPUs, a
    locked or unwritable ``out``, a refused ``--model``, offline ``--download``) raises.
    """
    from pipeline.executors.progress import BuildProgress
    from pipeline.stages.scheduler import Scheduler

    t0 = time.perf_counter()
    cfg = cfg or BuildConfig()
    split = split or SplitConfig()
    out = Path(out).resolve()
    root = Path(root)
    forced = stages_from(force, stages)
    wanted = parse_actors(actors)
    check_model(cfg)
    with _lock(out):
        try:
            cleanup_temporaries(out)
            if download:
                from pipeline.sources.zenodo import download_ravdess

                root.mkdir(parents=True, exist_ok=True)
                download_ravdess(root, wanted)
            limits = {"max_member_bytes": cfg.source.max_member_bytes, "max_total_bytes": cfg.source.max_total_bytes,
                      "max_ratio": cfg.source.max_ratio}
            manifest: Manifest = prepare_ravdess(root, out, wanted, cfg.source.extract_to or None, limits)
            detector = detectors[cfg.landmarks.detector]
            note = detector.note
            if detector.preflight:
                # fail fast, once, with one line (package missing, weights that cannot be downloaded); the
                # workers then find the downloaded weights in torch's hub cache
                from pipeline.detectors import make_detector

                with make_detector(cfg.landmarks.detector, cfg.landmarks.options, detectors) as det:
                    note = det.accuracy_note
            dump_yaml(cfg, out / "config.yaml")  # every section resolved (defaults included)
            dump_yaml(split, out / "split.yaml")
        except (FileNotFoundError, PermissionError):
            raise  # already one line (a missing --root, a read-only root without an output folder)
        except OSError as exc:
            raise SetupError(os_error_line(exc)) from exc

        ex = make_executor(executor, workers, gpus, address, cfg, executors)
        cpus = os.cpu_count() or 1
        ctx = TaskContext(str(out), cfg, forced, device=cfg.device,
                          ffmpeg_threads=cfg.decode.ffmpeg_threads or max(1, cpus // max(1, workers)), stages=stages,
                          detectors=detectors)
        with ex, BuildProgress(progress) as bar:
            sched = Scheduler(ctx, manifest, split, ex, bar, capacity=ex.capacity(), retries=cfg.executor.worker_death_retries)
            sched.run()
        cleanup_temporaries(out)

        failures = sched.failures()
        if sched.report is not None and not sched.report.ok:
            failures.append(Failure(None, None, "report", sched.report.reason or "failed", sched.report.cached_failure))
        n_ok = sum(1 for st in sched.clips.values() if st.packable)
        summary = BuildSummary(
            out=str(out),
            executor=ex.description,
            n_clips=len(manifest.clips),
            n_ok=n_ok,
            failures=failures,
            bad_inputs=manifest.bad,
            filtered=sum(1 for s in manifest.skipped if s.kind == "filtered"),
            splits=dict(sorted(sched.splits.items())),
            report=ReportStatus(sched.report.status, str(out / "qa" / "report.html")) if sched.report else None,
            stages=_stage_stats(sched.outcomes, stages),
            seconds=round(time.perf_counter() - t0, 3),
            notes=[note] if note else [],
        )
        write_json_atomic(out / "build.json", summary.to_dict())
    return summary
