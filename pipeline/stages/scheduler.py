"""The build's task graph, driven on any executor.

::

    media(clip) ──> identity(actor) ──> fit(clip) ──┬─> package(split)   when all clips of the split are final
     decode,          barrier over        fit,       └─> report          when every clip is final
     landmarks        the actor's clips   smooth, canonical, qa

Before submitting a task the scheduler asks whether its stages are already up to date (the
sidecar checks of :mod:`pipeline.stages.tasks`), so a rerun with nothing to do starts no
worker and reads only small JSON files. Per pool (``cpu``; ``fit`` when fitting has its own
GPU workers) at most ``capacity[pool]`` tasks are in flight, so the executor's queue never
holds work that a more urgent task should overtake; ready tasks are taken barrier-first
(package, report, fit, identity, then media) and clips actor by actor, so that actors
finish early and their fits (on GPUs, if any) overlap the decoding of the next actors.

A task that raises is recorded as a failure of its stage; a task whose worker process died
is retried ``retries`` times on a fresh pool, then recorded as failed too. A dead worker
breaks every task in flight on its pool, so those retries run *isolated* (one task at a
time, nothing else in flight): the task that kills its worker then fails alone.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.executors.local import Executor
from pipeline.executors.progress import BuildProgress
from pipeline.sources.ravdess import Manifest, SourceClip
from pipeline.stages.config import SplitConfig
from pipeline.stages.outcome import Outcome, TaskResult, check_stage
from pipeline.stages.package import member, package_input, run_package_task
from pipeline.stages.qastage import report_input, run_report_task
from pipeline.stages.runtime import TaskContext
from pipeline.stages.tasks import check_fit_task, check_media_task, identity_input, run_fit_task, run_identity_task, run_media_task

__all__ = ["Scheduler", "ClipState", "TASK_STAGES"]

TASK_STAGES = {
    "media": ("decode", "landmarks"),
    "identity": ("identity",),
    "fit": ("fit", "smooth", "canonical", "qa"),
    "package": ("package",),
    "report": ("report",),
}
_PRIORITY = {"package": 0, "report": 0, "fit": 1, "identity": 2, "media": 3}
_BAR = {"media": "decode+landmarks", "identity": "identity", "fit": "fit+smooth+qa", "package": "package", "report": "report"}


@dataclass
class ClipState:
    clip: SourceClip
    split: str | None
    hashes: dict[str, str] = field(default_factory=dict)
    failure: dict[str, Any] | None = None
    final: bool = False

    @property
    def packable(self) -> bool:
        """Finished clips are packaged; a clip whose only failure is its QA still has valid meshes."""
        return self.final and (self.failure is None or self.failure["stage"] == "qa")


@dataclass
class _Task:
    kind: str
    key: str
    pool: str
    fn: Callable
    args: tuple
    tries: int = 0
    isolated: bool = False


class Scheduler:
    def __init__(self, ctx: TaskContext, manifest: Manifest, split_cfg: SplitConfig, executor: Executor,
                 progress: BuildProgress, capacity: dict[str, int] | int = 1, retries: int = 1):
        self.ctx = ctx
        self.manifest = manifest
        self.manifest_sha = manifest.sha256()
        self.executor = executor
        self.progress = progress
        cap = capacity if isinstance(capacity, dict) else {"cpu": capacity}
        self.capacity = {k: max(1, v) for k, v in cap.items()}
        self.retries = retries
        self.clips = {c.clip_id: ClipState(c, split_cfg.split_of(c.actor)) for c in manifest.clips}
        self.by_actor: dict[str, list[ClipState]] = defaultdict(list)
        self.by_split: dict[str, list[ClipState]] = defaultdict(list)
        for st in self.clips.values():
            self.by_actor[st.clip.subject].append(st)
            if st.split:
                self.by_split[st.split].append(st)
        self.actor_pending = {a: len(v) for a, v in self.by_actor.items()}
        self.split_pending = {s: len(v) for s, v in self.by_split.items()}
        self.all_pending = len(self.clips)
        self.identity: dict[str, Outcome] = {}
        self.splits: dict[str, dict[str, Any]] = {}
        self.report: Outcome | None = None
        self.outcomes: list[Outcome] = []
        self.task_failures: list[dict[str, Any]] = []
        self._ready: list[tuple[int, int, _Task]] = []
        self._counter = itertools.count()
        self._inflight: dict[Future, _Task] = {}

    # -- driving ---------------------------------------------------------------------------------
    def run(self) -> None:
        p = self.progress
        p.add(_BAR["media"], len(self.clips))
        p.add(_BAR["identity"], len(self.by_actor), unit="actors")
        p.add(_BAR["fit"], len(self.clips))
        p.add(_BAR["package"], len(self.by_split), unit="splits")
        p.add(_BAR["report"], 1, unit="reports")
        for st in sorted(self.clips.values(), key=lambda s: (s.clip.subject, s.clip.clip_id)):
            done = check_media_task(self.ctx, st.clip)
            if done is not None:
                self._on_media(done)
            else:
                self._enqueue(_Task("media", st.clip.clip_id, "cpu", run_media_task, (st.clip,)))
        if not self.clips:
            self._start_report()
        self._drain()

    def _enqueue(self, task: _Task) -> None:
        heapq.heappush(self._ready, (-1 if task.isolated else _PRIORITY[task.kind], next(self._counter), task))

    def _slot(self, task: _Task) -> str:
        return task.pool if task.pool in self.capacity else "cpu"

    def _submit_ready(self) -> None:
        busy: dict[str, int] = defaultdict(int)
        for t in self._inflight.values():
            busy[self._slot(t)] += 1
        waiting = []
        while self._ready:
            if any(t.isolated for t in self._inflight.values()):
                break  # an isolated retry runs alone
            if self._ready[0][2].isolated and self._inflight:
                break  # wait until everything else has finished
            item = heapq.heappop(self._ready)
            if item[2].isolated:
                self._inflight[self.executor.submit(item[2].pool, item[2].fn, self.ctx, *item[2].args)] = item[2]
                break
            slot = self._slot(item[2])
            if busy[slot] >= self.capacity[slot]:
                waiting.append(item)
                if all(busy[k] >= v for k, v in self.capacity.items()):
                    break
                continue
            task = item[2]
            fut = self.executor.submit(task.pool, task.fn, self.ctx, *task.args)
            self._inflight[fut] = task
            busy[slot] += 1
        for item in waiting:
            heapq.heappush(self._ready, item)

    def _drain(self) -> None:
        self._submit_ready()
        while self._inflight:
            done, _ = wait(list(self._inflight), return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: self._inflight[f].key):
                task = self._inflight.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    self.executor.restart()
                    if task.tries < self.retries:
                        task.tries += 1
                        task.isolated = True
                        self._enqueue(task)
                        continue
                    result = self._failed_task(task, "worker process died (killed or crashed) while running this task")
                except Exception as exc:  # noqa: BLE001 - a task error is one key's failure, never the build's
                    name = type(exc).__name__
                    if name in ("WorkerCrashedError", "RayActorError", "NodeDiedError") and task.tries < self.retries:
                        task.tries += 1
                        task.isolated = True
                        self._enqueue(task)
                        continue
                    result = self._failed_task(task, f"{name}: {exc}".splitlines()[0][:300])
                self._dispatch(task, result)
            self._submit_ready()

    def _failed_task(self, task: _Task, reason: str) -> TaskResult:
        return TaskResult(task.kind, task.key, [Outcome(TASK_STAGES[task.kind][0], task.key, "failed", reason=reason)])

    def _dispatch(self, task: _Task, result: TaskResult) -> None:
        {"media": self._on_media, "identity": self._on_identity_result, "fit": self._on_fit,
         "package": self._on_package, "report": self._on_report}[task.kind](result)

    # -- clip bookkeeping --------------------------------------------------------------------------
    def _record(self, result: TaskResult) -> ClipState:
        st = self.clips[result.key]
        self.outcomes.extend(result.outcomes)
        for o in result.outcomes:
            if o.ok and o.output_sha256:
                st.hashes[o.stage] = o.output_sha256
        return st

    def _fail(self, st: ClipState, stage: str, reason: str, cached: bool = False) -> None:
        st.failure = {"clip_id": st.clip.clip_id, "subject": st.clip.subject, "stage": stage, "reason": reason,
                      "cached": cached, "source": st.clip.path}
        self._final(st)

    def _final(self, st: ClipState) -> None:
        if st.final:
            return
        st.final = True
        self.progress.advance(_BAR["fit"])
        if st.split:
            self.split_pending[st.split] -= 1
            if self.split_pending[st.split] == 0:
                self._start_package(st.split)
        self.all_pending -= 1
        if self.all_pending == 0:
            self._start_report()

    # -- media -> identity -------------------------------------------------------------------------------
    def _on_media(self, result: TaskResult) -> None:
        st = self._record(result)
        self.progress.advance(_BAR["media"])
        f = result.failure()
        if f is not None:
            self._fail(st, f.stage, f.reason or "failed", f.cached_failure)
        actor = st.clip.subject
        self.actor_pending[actor] -= 1
        if self.actor_pending[actor] == 0:
            self._start_identity(actor)

    def _identity_members(self, actor: str) -> list[tuple[str, str]]:
        return [(s.clip.clip_id, s.hashes["landmarks"]) for s in self.by_actor[actor] if s.failure is None]

    def _start_identity(self, actor: str) -> None:
        members = self._identity_members(actor)
        if not members:
            self.progress.advance(_BAR["identity"])
            return
        done = check_stage(self.ctx, "identity", actor, identity_input(members))
        if done is not None:
            self._on_identity(actor, done)
        else:
            self._enqueue(_Task("identity", actor, "fit", run_identity_task, (actor, members)))

    def _on_identity_result(self, result: TaskResult) -> None:
        self.outcomes.extend(result.outcomes)
        self._on_identity(result.key, result.outcomes[0])

    def _on_identity(self, actor: str, outcome: Outcome) -> None:
        self.identity[actor] = outcome
        self.progress.advance(_BAR["identity"])
        for st in sorted(self.by_actor[actor], key=lambda s: s.clip.clip_id):
            if st.failure is not None:
                continue
            if not outcome.ok:
                self._fail(st, "identity", f"identity fit of {actor} failed: {outcome.reason}", outcome.cached_failure)
                continue
            st.hashes["identity"] = outcome.output_sha256 or ""
            upstream = {k: st.hashes.get(k) for k in ("decode", "landmarks", "identity")}
            done = check_fit_task(self.ctx, st.clip, upstream)
            if done is not None:
                self._on_fit(done)
            else:
                self._enqueue(_Task("fit", st.clip.clip_id, "fit", run_fit_task, (st.clip, upstream)))

    def _on_fit(self, result: TaskResult) -> None:
        st = self._record(result)
        f = result.failure()
        if f is not None:
            self._fail(st, f.stage, f.reason or "failed", f.cached_failure)
        else:
            self._final(st)

    # -- barriers ---------------------------------------------------------------------------------------
    def _start_package(self, split: str) -> None:
        members = [member(s.clip, s.hashes) for s in sorted(self.by_split[split], key=lambda s: s.clip.clip_id) if s.packable]
        path = Path(self.ctx.out) / f"{split}.h5"
        if not members:
            self.splits[split] = {"path": None, "clips": 0, "status": "empty (every clip failed)"}
            self.progress.advance(_BAR["package"])
            return
        done = check_stage(self.ctx, "package", split, package_input(split, self.manifest_sha, members), {"split": split})
        self.splits[split] = {"path": str(path), "clips": len(members), "status": "pending"}
        if done is not None:
            self._on_package(TaskResult("package", split, [done]))
        else:
            self._enqueue(_Task("package", split, "cpu", run_package_task, (split, members, self.manifest_sha, self.manifest.root)))

    def _on_package(self, result: TaskResult) -> None:
        self.outcomes.extend(result.outcomes)
        o = result.outcomes[0]
        self.splits[result.key]["status"] = {"ran": "written", "cached": "up to date"}.get(o.status, "failed")
        if not o.ok:
            self.splits[result.key]["reason"] = o.reason
            self.task_failures.append({"clip_id": None, "subject": None, "stage": "package", "reason": f"{result.key}: {o.reason}",
                                       "cached": o.cached_failure, "source": None})
        self.progress.advance(_BAR["package"])

    def failures(self) -> list[dict[str, Any]]:
        clip_failures = [st.failure for st in sorted(self.clips.values(), key=lambda s: s.clip.clip_id) if st.failure]
        return clip_failures + self.task_failures

    def _start_report(self) -> None:
        rows = [
            {"clip_id": s.clip.clip_id, "subject": s.clip.subject, "emotion": s.clip.emotion, "intensity": s.clip.intensity,
             "statement": s.clip.statement, "repetition": s.clip.repetition, "qa_hash": s.hashes["qa"]}
            for s in sorted(self.clips.values(), key=lambda s: s.clip.clip_id) if "qa" in s.hashes
        ]
        failures = [{k: v for k, v in f.items() if k != "cached"} for f in self.failures()]
        skipped = [{"path": s.path, "reason": s.reason, "kind": s.kind} for s in self.manifest.skipped]
        done = check_stage(self.ctx, "report", "report", report_input([(r["clip_id"], r["qa_hash"]) for r in rows], failures, skipped))
        if done is not None:
            self._on_report(TaskResult("report", "report", [done]))
        else:
            self._enqueue(_Task("report", "report", "cpu", run_report_task, (rows, failures, skipped)))

    def _on_report(self, result: TaskResult) -> None:
        self.outcomes.extend(result.outcomes)
        self.report = result.outcomes[0]
        self.progress.advance(_BAR["report"])
