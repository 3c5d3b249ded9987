"""Local executors: in-process (``--workers 1``), a process pool (``--workers N``) and one fitting
process per CUDA device (``--gpus N``).

Worker processes are started with ``spawn`` (or ``forkserver``), never ``fork``: mediapipe and
torch start threads at import, and a forked copy of a threaded process can deadlock. Each
worker limits torch to ``torch_threads`` threads (1 by default), so N workers use N cores.

Two kinds of task exist: ``cpu`` (decode, landmarks, package, report) and ``fit`` (identity,
fit, smooth, canonical, qa). Without GPUs both go to the same pool; with ``--gpus N`` the fit
tasks go to a separate pool of N processes, the i-th pinned to ``cuda:i``.

A worker exits when the build's main process dies (SIGKILL, the OOM killer), so that no idle
worker (nor the multiprocessing resource tracker, which lives while a worker holds its pipe)
outlives the build: see :func:`exit_with_parent`.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.stages.config import ExecutorConfig

__all__ = ["Executor", "InlineExecutor", "ProcessExecutor", "make_local", "count_gpus", "check_gpus", "GPUError",
           "call_task", "worker_setup", "exit_with_parent"]

_PR_SET_PDEATHSIG = 1  # linux/prctl.h

_WORKER: dict[str, Any] = {"device": None, "ready": False}


class GPUError(RuntimeError):
    """Fewer CUDA devices than ``--gpus`` asked for."""


def count_gpus() -> int:
    """Visible CUDA devices (0 when torch has no CUDA)."""
    try:
        import torch

        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken CUDA install counts as no GPU
        return 0


def check_gpus(requested: int) -> None:
    """Stop at once when fewer than ``requested`` CUDA devices are visible."""
    if requested <= 0:
        return
    found = count_gpus()
    if found < requested:
        raise GPUError(f"requested {requested} GPU{'s' if requested != 1 else ''}, found {found}; use --workers N")


def worker_setup(torch_threads: int = 1, device: str | None = None) -> None:
    """Run once in each worker process before its first task.

    ``device`` (``cuda:i`` under ``--gpus``) is handed to every task of this worker as
    ``ctx.device``; the fitting code places its tensors there explicitly.
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(torch_threads))  # read by torch when it is first imported
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(max(1, torch_threads))
    _WORKER["device"] = device
    _WORKER["ready"] = True


def exit_with_parent(parent_pid: int | None, poll_s: float = 0.5) -> None:
    """Make this worker process exit as soon as its parent (the build) dies.

    On Linux the kernel sends SIGKILL at the parent's death (``PR_SET_PDEATHSIG``; the pools are
    created by the thread that runs the whole build, so that thread's end is the build's end).
    A daemon thread polling ``os.getppid()`` covers other systems and the moment before the
    ``prctl``. ``parent_pid``: the process that started this worker, when known (spawn); a
    worker whose parent is already gone exits at once.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    ppid = os.getppid()
    if parent_pid is not None and ppid != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != ppid:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_pool(torch_threads: int, devices: Any, parent_pid: int | None = None) -> None:
    exit_with_parent(parent_pid)
    device = devices.get() if devices is not None else None
    worker_setup(torch_threads, device)


def call_task(fn: Callable, ctx: Any, *args: Any) -> Any:
    """Run ``fn(ctx, *args)`` with the worker's device (set by ``--gpus``) in ``ctx.device``."""
    device = _WORKER.get("device")
    if device and hasattr(ctx, "device") and ctx.device != device:
        ctx = replace(ctx, device=device)
    return fn(ctx, *args)


class Executor:
    """``submit(kind, fn, ctx, *args) -> Future``; ``kind`` is ``cpu`` or ``fit``."""

    description = ""

    def capacity(self) -> dict[str, int]:
        """Tasks that can usefully run at once, per pool (``cpu``, and ``fit`` when fitting has its own workers)."""
        return {"cpu": 1}

    def submit(self, kind: str, fn: Callable, ctx: Any, *args: Any) -> Future:
        raise NotImplementedError

    def worker_lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` (raised by a task's future) means its worker died rather than the task failing."""
        return isinstance(exc, BrokenProcessPool)

    def restart(self) -> None:
        """Replace broken worker pools (after a worker process died)."""

    def close(self) -> None:
        pass

    def terminate(self) -> None:
        """Stop at once (the build was interrupted): running tasks are abandoned, their artefacts never half-written."""
        self.close()

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None and issubclass(exc_type, (KeyboardInterrupt, SystemExit)):
            self.terminate()
        else:
            self.close()


def make_local(workers: int, gpus: int, address: str | None, cfg: ExecutorConfig) -> Executor:
    """``--executor local``: in this process for one CPU worker, else a process pool (plus GPU workers)."""
    if workers <= 1 and gpus == 0:
        return InlineExecutor(cfg.torch_threads)
    return ProcessExecutor(workers, gpus, cfg.start_method, cfg.torch_threads)


class InlineExecutor(Executor):
    """Runs each task at once in this process (``--workers 1``: no process start-up, easy to debug)."""

    def __init__(self, torch_threads: int = 1):
        self.description = "in-process (1 worker)"
        self._threads = torch_threads

    def submit(self, kind: str, fn: Callable, ctx: Any, *args: Any) -> Future:
        if not _WORKER["ready"]:
            worker_setup(self._threads, None)
        fut: Future = Future()
        try:
            fut.set_result(call_task(fn, ctx, *args))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future like a pool would
            if isinstance(exc, KeyboardInterrupt):
                raise
            fut.set_exception(exc)
        return fut


class ProcessExecutor(Executor):
    """``workers`` CPU processes, plus one fitting process per device when ``gpus > 0``."""

    def __init__(self, workers: int, gpus: int = 0, start_method: str = "spawn", torch_threads: int = 1):
        self.workers = max(1, int(workers))
        self.gpus = int(gpus)
        self.torch_threads = torch_threads
        self._mp = mp.get_context(start_method)
        #: the workers' parent: this process under spawn; the fork server under forkserver (unknown here)
        self._parent = os.getpid() if start_method == "spawn" else None
        self._cpu: ProcessPoolExecutor | None = None
        self._fit: ProcessPoolExecutor | None = None
        self.description = f"{self.workers} local worker process(es)" + (f" + {self.gpus} GPU fitting worker(s)" if gpus else "")

    def _pool(self, kind: str) -> ProcessPoolExecutor:
        if kind == "fit" and self.gpus > 0:
            if self._fit is None:
                devices = self._mp.Queue()
                for i in range(self.gpus):
                    devices.put(f"cuda:{i}")
                self._fit = ProcessPoolExecutor(self.gpus, mp_context=self._mp, initializer=_init_pool,
                                                initargs=(self.torch_threads, devices, self._parent))
            return self._fit
        if self._cpu is None:
            self._cpu = ProcessPoolExecutor(self.workers, mp_context=self._mp, initializer=_init_pool,
                                            initargs=(self.torch_threads, None, self._parent))
        return self._cpu

    def capacity(self) -> dict[str, int]:
        return {"cpu": self.workers, "fit": self.gpus} if self.gpus > 0 else {"cpu": self.workers}

    def submit(self, kind: str, fn: Callable, ctx: Any, *args: Any) -> Future:
        return self._pool(kind).submit(call_task, fn, ctx, *args)

    def restart(self) -> None:
        for name in ("_cpu", "_fit"):
            pool = getattr(self, name)
            if pool is not None and getattr(pool, "_broken", False):
                pool.shutdown(wait=False, cancel_futures=True)
                setattr(self, name, None)

    def close(self) -> None:
        for pool in (self._cpu, self._fit):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._cpu = self._fit = None

    def terminate(self) -> None:
        for pool in (self._cpu, self._fit):
            if pool is not None:
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.terminate()
                pool.shutdown(wait=False, cancel_futures=True)
        self._cpu = self._fit = None
