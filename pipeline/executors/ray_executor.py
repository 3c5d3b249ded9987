"""``--executor ray``: the same tasks as the local executors, as Ray remote functions.

Install the optional extra ``cluster`` (``pip install emoface3d[cluster]``, i.e. ``ray``).
``--address auto`` joins a running cluster (``ray start --head`` on one node, ``ray start
--address HEAD:6379`` on the others); ``--address local`` (the default) starts a private
local instance with ``--workers`` CPUs. The project must be installed on every node and
``--out`` must be a folder all nodes see (a shared file system): tasks write their artefacts
and sidecars there, exactly as local workers do, so resume works the same way.

Fit tasks ask Ray for one GPU each when ``--gpus`` is given (Ray then sets
``CUDA_VISIBLE_DEVICES`` per task and the task uses ``cuda:0``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from pipeline.executors import ExecutorUnavailable
from pipeline.executors.local import Executor, call_task, worker_setup

if TYPE_CHECKING:
    from pipeline.stages.config import ExecutorConfig

__all__ = ["RayExecutor", "RayUnavailable", "make_ray"]


class RayUnavailable(ExecutorUnavailable):
    """``ray`` is not installed."""


def make_ray(workers: int, gpus: int, address: str | None, cfg: ExecutorConfig) -> RayExecutor:
    """``--executor ray``: a private local Ray instance, or the cluster at ``address``."""
    return RayExecutor(address or "local", workers=workers, gpus=gpus, torch_threads=cfg.torch_threads,
                       max_retries=cfg.worker_death_retries)


def _ray_call(fn: Callable, ctx: Any, torch_threads: int, device: str | None, *args: Any) -> Any:
    from pipeline.executors import local

    if not local._WORKER["ready"] or local._WORKER["device"] != device:
        worker_setup(torch_threads, device)
    return call_task(fn, ctx, *args)


class RayExecutor(Executor):
    def __init__(self, address: str | None = "local", workers: int = 1, gpus: int = 0, torch_threads: int = 1,
                 max_retries: int = 1):
        try:
            import ray
        except ImportError as exc:
            raise RayUnavailable("--executor ray needs the optional 'cluster' extra: pip install 'emoface3d[cluster]' (ray)") from exc
        self._ray = ray
        self.gpus = int(gpus)
        self.torch_threads = torch_threads
        self._own = False
        if not ray.is_initialized():
            # workers import the project from the driver's sys.path (an editable install or a checkout)
            env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            if address in (None, "", "local"):
                ray.init(num_cpus=max(1, workers), num_gpus=self.gpus or None, include_dashboard=False,
                         log_to_driver=False, runtime_env={"env_vars": env}, configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, runtime_env={"env_vars": env}, configure_logging=False)
            self._own = True
        self._cpu = ray.remote(num_cpus=1, max_retries=max_retries)(_ray_call)
        self._fit = ray.remote(num_cpus=1, num_gpus=1 if self.gpus else 0, max_retries=max_retries)(_ray_call)
        where = "local Ray instance" if address in (None, "", "local") else f"Ray cluster at {address}"
        self.description = f"{where} ({int(ray.cluster_resources().get('CPU', 0))} CPUs, {int(ray.cluster_resources().get('GPU', 0))} GPUs)"

    def capacity(self) -> dict[str, int]:
        res = self._ray.cluster_resources()
        cpus = max(1, int(res.get("CPU", 1)))
        return {"cpu": cpus, "fit": max(1, int(res.get("GPU", 0)))} if self.gpus else {"cpu": cpus}

    def worker_lost(self, exc: BaseException) -> bool:
        """A crashed worker process, actor or node (Ray's own retries are spent by then)."""
        errors = self._ray.exceptions
        return isinstance(exc, (errors.WorkerCrashedError, errors.RayActorError, errors.NodeDiedError))

    def submit(self, kind: str, fn: Callable, ctx: Any, *args: Any) -> Future:
        remote = self._fit if kind == "fit" else self._cpu
        device = "cuda:0" if (kind == "fit" and self.gpus) else None
        ref = remote.remote(fn, ctx, self.torch_threads, device, *args)
        return ref.future()

    def close(self) -> None:
        if self._own and self._ray.is_initialized():
            self._ray.shutdown()
