"""The stage registry: every stage of a build declared once, in order.

A :class:`Stage` names what its artefact is made from (``reads``: upstream stages and clip
facts, hashed in that order into its sidecar's input hash), the config sections it reads
(its config hash), the code that makes it (its code version: ``modules``, the default back
end's ``numerics``, an external tool's version, ``format_version``), its task and, for stages
chained inside a per-clip task, its run function. A :class:`TaskKind` is a unit of work the
scheduler submits: its key scope, worker pool, priority, progress-bar label and task function.

The scheduler, the resume hashes (:mod:`pipeline.stages.runtime`, :mod:`pipeline.stages.config`),
the progress bars and the build report all read this table; adding a stage to an existing
task is one :class:`Stage` here plus its function. This module imports nothing heavy:
``python -m pipeline.stages`` lists the stages without torch or mediapipe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Literal

from pipeline._spec import load_object

__all__ = ["TaskKind", "Stage", "StageRegistry", "REGISTRY", "CLIP_FACTS", "FRAME_PASS", "resolve"]

#: what a per-clip stage may read besides upstream artefacts (see :func:`pipeline.stages.tasks.clip_input`)
CLIP_FACTS: tuple[str, ...] = ("clip_id", "source", "fps", "ground_truth")

#: the media task's stages made by its one streamed pass over the frames (ffmpeg feeding the detector,
#: :func:`pipeline.stages.tasks.run_media_task`): the only per-clip stages without a run function; every
#: other media stage is declared after them and runs, with its run function, once they are done
FRAME_PASS: tuple[str, ...] = ("decode", "landmarks")


def resolve(spec: str) -> Callable[..., object]:
    """The function named ``module:function`` (imported on first use, so workers import what they run)."""
    return load_object(spec, "stage code", ImportError)  # type: ignore[return-value]


@dataclass(frozen=True)
class TaskKind:
    """A unit of work: ``run(ctx, key, ...) -> TaskResult`` on one ``scope`` key in ``pool``.

    ``priority``: ready tasks are taken lowest first (barriers before the work that feeds them);
    ``bar``/``unit``: the progress bar that counts this task's keys.
    """

    name: str
    scope: Literal["clip", "actor", "split", "build"]
    pool: Literal["cpu", "fit"]
    priority: int
    bar: str
    unit: str
    run: str


@dataclass(frozen=True)
class Stage:
    """One stage: an artefact and a sidecar per key (see the module docstring and docs/pipeline.md)."""

    name: str
    task: TaskKind
    #: upstream stages (their content hashes) and :data:`CLIP_FACTS`, in input-hash order
    reads: tuple[str, ...]
    #: ``BuildConfig`` sections in the config hash (their dataclasses validate them at load)
    sections: tuple[str, ...]
    #: modules whose source enters the code version
    modules: tuple[str, ...]
    #: the default back end's modules for this stage (empty: the stage does not use the back end)
    numerics: tuple[str, ...] = ()
    #: ``module:function(ctx)`` returning the version of an external tool the stage runs (ffmpeg, the detector)
    tool_version: str | None = None
    #: ``module:function(ctx, clip, memo) -> (file name, content hash)`` for a stage chained in a clip task
    run: str | None = None
    #: bump to invalidate every artefact of the stage after a change of its on-disk format
    format_version: int = 1

    @property
    def pool(self) -> str:
        return self.task.pool


class StageRegistry:
    """An ordered, immutable table of stages (``--force S`` redoes ``S`` and every later stage)."""

    def __init__(self, stages: tuple[Stage, ...]):
        self._stages = tuple(stages)
        self._by_name = {s.name: s for s in self._stages}
        if len(self._by_name) != len(self._stages):
            raise ValueError("stage names must be unique")
        seen: set[str] = set()
        for s in self._stages:
            bad = [r for r in s.reads if r not in seen and r not in CLIP_FACTS]
            if bad:
                raise ValueError(f"stage {s.name!r} reads {', '.join(bad)}: neither an earlier stage nor one of {CLIP_FACTS}")
            frame_pass = s.task.name == "media" and s.name in FRAME_PASS
            if s.task.scope == "clip" and not frame_pass and s.run is None:
                raise ValueError(f"stage {s.name!r} of the clip task {s.task.name!r} needs a run function"
                                 + (f" (only {', '.join(FRAME_PASS)}, the media task's pass over the frames, run without one)"
                                    if s.task.name == "media" else ""))
            if s.task.name == "media" and not frame_pass:
                early = [f for f in FRAME_PASS if f in self._by_name and f not in seen]
                if early:
                    raise ValueError(f"stage {s.name!r} of the media task runs after its pass over the frames: "
                                     f"declare it after {early[-1]!r}")
            seen.add(s.name)

    def __iter__(self) -> Iterator[Stage]:
        return iter(self._stages)

    def __len__(self) -> int:
        return len(self._stages)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Stage:
        return self._by_name[name]

    def __hash__(self) -> int:
        return hash(self._stages)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StageRegistry) and other._stages == self._stages

    def __reduce__(self):
        return (StageRegistry, (self._stages,))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._stages)

    def tasks(self) -> dict[str, TaskKind]:
        """Task kinds in order of their first stage."""
        out: dict[str, TaskKind] = {}
        for s in self._stages:
            out.setdefault(s.task.name, s.task)
        return out

    def of_task(self, task: str) -> tuple[Stage, ...]:
        return tuple(s for s in self._stages if s.task.name == task)

    def later(self, name: str) -> tuple[str, ...]:
        """``name`` and every stage declared after it."""
        return self.names[self.names.index(name):]

    def with_stage(self, stage: Stage, after: str | None = None) -> StageRegistry:
        """A new registry with ``stage`` added (after ``after``, default: last)."""
        stages = list(self._stages)
        at = stages.index(self[after]) + 1 if after else len(stages)
        return StageRegistry(tuple(stages[:at] + [stage] + stages[at:]))

    def replaced(self, name: str, **changes: object) -> StageRegistry:
        """A new registry with stage ``name``'s fields changed."""
        return StageRegistry(tuple(replace(s, **changes) if s.name == name else s for s in self._stages))

    def describe(self) -> str:
        """One line per stage (``python -m pipeline.stages``)."""
        rows = [("stage", "task", "pool", "reads", "config", "format")]
        rows += [(s.name, s.task.name, s.pool, ",".join(s.reads), ",".join(s.sections), str(s.format_version)) for s in self]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)

    def __repr__(self) -> str:
        return f"StageRegistry({', '.join(self.names)})"


_T = "pipeline.stages.tasks"
MEDIA = TaskKind("media", "clip", "cpu", 3, "decode+landmarks", "clips", f"{_T}:run_media_task")
IDENTITY = TaskKind("identity", "actor", "fit", 2, "identity", "actors", f"{_T}:run_identity_task")
FIT = TaskKind("fit", "clip", "fit", 1, "fit+smooth+qa", "clips", f"{_T}:run_fit_task")
REPORT = TaskKind("report", "build", "cpu", 0, "report", "reports", "pipeline.stages.qastage:run_report_task")
PACKAGE = TaskKind("package", "split", "cpu", 0, "package", "splits", "pipeline.stages.package:run_package_task")

_FITTING = ("pipeline.fitting", "emoface.morphable", "emoface.mesh.camera")
_QA = ("pipeline.qa", "emoface.eval.truth", "emoface.morphable", "emoface.mesh.camera")
_BACKEND = ("model", "backend", "backend_options")

#: the stages of ``build-dataset ravdess``, in order
REGISTRY = StageRegistry((
    Stage("decode", MEDIA, ("clip_id", "source"), ("decode",), ("pipeline.stages.decode", "emoface.utils.media"),
          tool_version="pipeline.stages.runtime:ffmpeg_version"),
    # the detectors' shared code; the configured detector's own modules are in its tool version (detector_version),
    # so that editing one detector does not redo another's landmarks
    Stage("landmarks", MEDIA, ("clip_id", "source", "fps"), ("landmarks",),
          ("pipeline.stages.landmarks", "pipeline.detectors.__init__", "pipeline.detectors.base", "pipeline.detectors.registry"),
          tool_version="pipeline.stages.runtime:detector_version"),
    Stage("identity", IDENTITY, ("landmarks",), (*_BACKEND, "fit"), ("pipeline.stages.fitstages",), _FITTING),
    Stage("fit", FIT, ("clip_id", "landmarks", "identity"), (*_BACKEND, "fit"), ("pipeline.stages.fitstages",), _FITTING,
          run="pipeline.stages.fitstages:fit_stage"),
    Stage("smooth", FIT, ("fit",), (*_BACKEND, "smooth"), ("pipeline.stages.fitstages",), _FITTING,
          run="pipeline.stages.fitstages:smooth_stage"),
    Stage("canonical", FIT, ("smooth", "identity"), _BACKEND, ("pipeline.stages.fitstages",), _FITTING,
          run="pipeline.stages.fitstages:canonical_stage"),
    Stage("qa", FIT, ("decode", "landmarks", "fit", "smooth", "canonical", "ground_truth"), (*_BACKEND, "qa"),
          ("pipeline.stages.qastage",), _QA, run="pipeline.stages.qastage:qa_stage"),
    # with oracle.enabled, what the oracle's fits depend on enters its config hash too (qastage.oracle_extra)
    Stage("report", REPORT, ("qa",), ("backend", "backend_options", "qa"), ("pipeline.stages.qastage",), _QA),
    Stage("package", PACKAGE, ("decode", "landmarks", "identity", "smooth", "canonical"), (*_BACKEND, "package", "decode"),
          ("pipeline.stages.package", "emoface.data.schema"), ("emoface.morphable",)),
))
