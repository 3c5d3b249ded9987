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
(by each task's ``priority`` in :mod:`pipeline.stages.registry`: package, report, fit,
identity, then media) and clips actor by actor, so that actors
finish early and their fits (on GPUs, if any) overlap the decoding of the next actors.

A task that raises is recorded as a failure of its stage; a task whose worker died (the
executor's ``worker_lost``) is retried ``retries`` times on a fresh pool, then recorded as failed too. A dead worker
breaks every task in flight on its pool, so those retries run *isolated* (one task at a
time, nothing else in flight): the task that kills its worker then fails alone.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline.executors.local import Executor
from pipeline.executors.progress import BuildProgress
from pipeline.sources.manifest import Manifest, SourceClip
from pipeline.stages.config import SplitConfig
from pipeline.stages.outcome import Outcome, TaskResult, check_stage
from pipeline.stages.package import member, package_input
from pipeline.stages.qastage import oracle_extra, report_input
from pipeline.stages.records import Failure, SplitStatus
from pipeline.stages.registry import REGISTRY, StageRegistry, TaskKind, resolve
from pipeline.stages.runtime import TaskContext
from pipeline.stages.tasks import check_fit_task, check_media_task, identity_input

__all__ = ["Scheduler", "ClipState", "TASK_STAGES", "task_stages"]


def task_stages(stages: StageRegistry = REGISTRY) -> dict[str, tuple[str, ...]]:
    """Each task kind and the stages it runs, from the registry."""
    return {name: tuple(s.name for s in stages.of_task(name)) for name in stages.tasks()}


TASK_STAGES = task_stages()


@dataclass
class ClipState:
    clip: SourceClip
    split: str | None
    hashes: dict[str, str] = field(default_factory=dict)
    failure: Failure | None = None
    final: bool = False

    @property
    def packable(self) -> bool:
        """Finished clips are packaged; a clip whose only failure is its QA still has valid meshes."""
        return self.final and (self.failure is None or self.failure.stage == "qa")


@dataclass
class _Task:
    kind: TaskKind
    key: str
    args: tuple
    tries: int = 0
    isolated: bool = False

    @property
    def pool(self) -> str:
        return self.kind.pool

    @property
    def fn(self) -> Callable[..., TaskResult]:
        return resolve(self.kind.run)


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
        self.tasks = ctx.stages.tasks()
        self.identity: dict[str, Outcome] = {}
        self.splits: dict[str, SplitStatus] = {}
        self.report: Outcome | None = None
        self.outcomes: list[Outcome] = []
        self.task_failures: list[Failure] = []
        self._ready: list[tuple[int, int, _Task]] = []
        self._counter = itertools.count()
        self._inflight: dict[Future, _Task] = {}

    # -- driving ---------------------------------------------------------------------------------
    def run(self) -> None:
        totals = {"clip": len(self.clips), "actor": len(self.by_actor), "split": len(self.by_split), "build": 1}
        for task in self.tasks.values():
            self.progress.add(task.bar, totals[task.scope], unit=task.unit)
        for st in sorted(self.clips.values(), key=lambda s: (s.clip.subject, s.clip.clip_id)):
            done = check_media_task(self.ctx, st.clip)
            if done is not None:
                self._on_media(done)
            else:
                self._enqueue(_Task(self.tasks["media"], st.clip.clip_id, (st.clip,)))
        if not self.clips:
            self._start_report()
        self._drain()

    def _enqueue(self, task: _Task) -> None:
        heapq.heappush(self._ready, (-1 if task.isolated else task.kind.priority, next(self._counter), task))

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
                except Exception as exc:  # noqa: BLE001 - a task error is one key's failure, never the build's
                    if not self.executor.worker_lost(exc):
                        result = self._failed_task(task, f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
                    elif task.tries < self.retries:
                        self.executor.restart()
                        task.tries += 1
                        task.isolated = True
                        self._enqueue(task)
                        continue
                    else:
                        self.executor.restart()
                        result = self._failed_task(task, "worker process died (killed or crashed) while running this task")
                self._dispatch(task, result)
            self._submit_ready()

    def _failed_task(self, task: _Task, reason: str) -> TaskResult:
        first = self.ctx.stages.of_task(task.kind.name)[0].name
        return TaskResult(task.kind.name, task.key, [Outcome(first, task.key, "failed", reason=reason)])

    def _dispatch(self, task: _Task, result: TaskResult) -> None:
        {"media": self._on_media, "identity": self._on_identity_result, "fit": self._on_fit,
         "package": self._on_package, "report": self._on_report}[task.kind.name](result)

    # -- clip bookkeeping --------------------------------------------------------------------------
    def _record(self, result: TaskResult) -> ClipState:
        st = self.clips[result.key]
        self.outcomes.extend(result.outcomes)
        for o in result.outcomes:
            if o.ok and o.output_sha256:
                st.hashes[o.stage] = o.output_sha256
        return st

    def _fail(self, st: ClipState, stage: str, reason: str, cached: bool = False) -> None:
        st.failure = Failure(st.clip.clip_id, st.clip.subject, stage, reason, cached, st.clip.path)
        self._final(st)

    def _final(self, st: ClipState) -> None:
        if st.final:
            return
        st.final = True
        self.progress.advance(self.tasks["fit"].bar)
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
        self.progress.advance(self.tasks["media"].bar)
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
            self.progress.advance(self.tasks["identity"].bar)
            return
        done = check_stage(self.ctx, "identity", actor, identity_input(members))
        if done is not None:
            self._on_identity(actor, done)
        else:
            self._enqueue(_Task(self.tasks["identity"], actor, (actor, members)))

    def _on_identity_result(self, result: TaskResult) -> None:
        self.outcomes.extend(result.outcomes)
        self._on_identity(result.key, result.outcomes[0])

    def _on_identity(self, actor: str, outcome: Outcome) -> None:
        self.identity[actor] = outcome
        self.progress.advance(self.tasks["identity"].bar)
        for st in sorted(self.by_actor[actor], key=lambda s: s.clip.clip_id):
            if st.failure is not None:
                continue
            if not outcome.ok:
                self._fail(st, "identity", f"identity fit of {actor} failed: {outcome.reason}", outcome.cached_failure)
                continue
            st.hashes["identity"] = outcome.output_sha256 or ""
            upstream: dict[str, str | None] = dict(st.hashes)
            done = check_fit_task(self.ctx, st.clip, upstream)
            if done is not None:
                self._on_fit(done)
            else:
                self._enqueue(_Task(self.tasks["fit"], st.clip.clip_id, (st.clip, upstream)))

    def _on_fit(self, result: TaskResult) -> None:
        st = self._record(result)
        f = result.failure()
        if f is not None:
            self._fail(st, f.stage, f.reason or "failed", f.cached_failure)
        else:
            self._final(st)

    # -- barriers ---------------------------------------------------------------------------------------
    def _start_package(self, split: str) -> None:
        members = [member(self.ctx, s.clip, s.hashes) for s in sorted(self.by_split[split], key=lambda s: s.clip.clip_id)
                   if s.packable]
        path = Path(self.ctx.out) / f"{split}.h5"
        if not members:
            self.splits[split] = SplitStatus(None, 0, "empty (every clip failed)")
            self.progress.advance(self.tasks["package"].bar)
            return
        done = check_stage(self.ctx, "package", split, package_input(split, self.manifest_sha, members), {"split": split})
        self.splits[split] = SplitStatus(str(path), len(members), "pending")
        if done is not None:
            self._on_package(TaskResult("package", split, [done]))
        else:
            self._enqueue(_Task(self.tasks["package"], split, (split, members, self.manifest_sha, self.manifest.root)))

    def _on_package(self, result: TaskResult) -> None:
        self.outcomes.extend(result.outcomes)
        o = result.outcomes[0]
        status = self.splits[result.key]
        status.status = "written" if o.status == "ran" else "up to date" if o.status == "cached" else "failed"
        if not o.ok:
            status.reason = o.reason
            self.task_failures.append(Failure(None, None, "package", f"{result.key}: {o.reason}", o.cached_failure))
        self.progress.advance(self.tasks["package"].bar)

    def failures(self) -> list[Failure]:
        clip_failures = [st.failure for st in sorted(self.clips.values(), key=lambda s: s.clip.clip_id) if st.failure]
        return clip_failures + self.task_failures

    def _start_report(self) -> None:
        rows = [
            {"clip_id": s.clip.clip_id, "subject": s.clip.subject, "emotion": s.clip.emotion, "intensity": s.clip.intensity,
             "statement": s.clip.statement, "repetition": s.clip.repetition, "qa_hash": s.hashes["qa"],
             "ground_truth": s.clip.ground_truth}
            for s in sorted(self.clips.values(), key=lambda s: s.clip.clip_id) if "qa" in s.hashes
        ]
        failures = self.failures()
        skipped = [{"path": s.path, "reason": s.reason, "kind": s.kind} for s in self.manifest.skipped]
        done = check_stage(self.ctx, "report", "report", report_input([(r["clip_id"], r["qa_hash"]) for r in rows], failures, skipped),
                           extra=oracle_extra(self.ctx))
        if done is not None:
            self._on_report(TaskResult("report", "report", [done]))
        else:
            self._enqueue(_Task(self.tasks["report"], "report", (rows, failures, skipped)))

    def _on_report(self, result: TaskResult) -> None:
        self.outcomes.extend(result.outcomes)
        self.report = result.outcomes[0]
        self.progress.advance(self.tasks["report"].bar)
