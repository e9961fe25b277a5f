"""Where a sweep's jobs run: in this process, in `--jobs N` local worker processes, or as Ray tasks.

Every executor runs the same two phases: first the teachers that pending cells need (each
trained once, into the on-disk cache), then the cells. Records flow back to the driver, which
hands each to `on_record` (the one writer of the results store) as soon as its cell ends.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Callable, Protocol

from ..config.cells import Cell
from ..core.registry import Registry
from ..store.record_schema import RunRecord
from .jobs import Runtime, TeacherJob, run_cell_job, run_teacher_job, start_worker
from .placement import check_ray_gpus, local_gpu_slots, visible_gpus

log = logging.getLogger(__name__)
OnRecord = Callable[[Cell, RunRecord], None]


class Executor(Protocol):
    def run(self, teachers: list[TeacherJob], cells: list[Cell], runtime: Runtime, on_record: OnRecord) -> None: ...


@dataclass(frozen=True)
class ExecutorOptions:
    """Everything the CLI can say about where jobs run."""

    jobs: int = 1  # local worker processes
    ray_address: str | None = None  # None: start Ray locally
    cpus_per_cell: float = 1.0  # Ray resources asked by each task
    gpus_per_cell: float = 0.0  # Ray: GPUs each task asks for (placement.resolve_placement: 1 on CUDA)
    max_retries: int = 2  # Ray: reruns of a task whose worker died


class WorkerPoolBroke(RuntimeError):
    """A local worker process died (killed, out of memory); unfinished cells have no record and rerun next time."""


def _log_teacher(result: dict) -> None:
    log.info("%s: %s (val %.1f%%)", result["label"], "cached" if result["cached"] else "trained",
             result["val_accuracy"])


def worker_pool(jobs: int, runtime: Runtime) -> ProcessPoolExecutor:
    """N spawned worker processes; on CUDA worker i sees only GPU i mod count (placement.local_gpu_slots)."""
    # spawn, not fork: a forked copy of a process that already ran torch threads (or CUDA) can deadlock.
    context = multiprocessing.get_context("spawn")
    slots = local_gpu_slots(jobs, visible_gpus()) if runtime.device == "cuda" else []
    return ProcessPoolExecutor(jobs, mp_context=context, initializer=start_worker,
                               initargs=(context.Value("i", 0), slots, runtime.numerics.env()))


class LocalExecutor:
    """`--jobs 1`: everything in this process, in grid order. `--jobs N`: N spawned worker processes, worker i
    pinned to GPU i mod count on CUDA."""

    def __init__(self, options: ExecutorOptions):
        if options.jobs < 1:
            raise ValueError(f"--jobs must be at least 1, got {options.jobs}")
        self.jobs = options.jobs

    def run(self, teachers: list[TeacherJob], cells: list[Cell], runtime: Runtime, on_record: OnRecord) -> None:
        if self.jobs == 1:
            for job in teachers:
                _log_teacher(run_teacher_job(job, runtime))
            for cell in cells:
                on_record(cell, run_cell_job(cell, runtime))
            return
        with worker_pool(self.jobs, runtime) as pool:
            try:
                for future in [pool.submit(run_teacher_job, job, runtime) for job in teachers]:
                    _log_teacher(future.result())
                pending = {pool.submit(run_cell_job, cell, runtime): cell for cell in cells}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        on_record(pending.pop(future), future.result())
            except BrokenProcessPool as exc:
                raise WorkerPoolBroke("a worker process died (killed or out of memory); the cells it and its "
                                      "siblings were running have no record and will run on the next "
                                      "`benchmark run` with the same arguments") from exc


class RayExecutor:
    """Each teacher and each cell is a Ray task asking for `cpus_per_cell` CPUs and `gpus_per_cell` GPUs
    (a whole GPU by default on CUDA; a fraction shares one, recorded as gpu_shared).

    A task whose worker dies (node lost, process killed, OOM) is retried by Ray up to `max_retries`
    times; a cell that fails inside Python is not retried: its failure is its record.
    """

    def __init__(self, options: ExecutorOptions):
        self.options = options

    def _connect(self):
        import ray

        if not ray.is_initialized():
            if self.options.ray_address:
                ray.init(address=self.options.ray_address, log_to_driver=False)
            else:  # a local Ray with this machine's CPUs (how the tests run it)
                ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
        return ray

    def run(self, teachers: list[TeacherJob], cells: list[Cell], runtime: Runtime, on_record: OnRecord) -> None:
        ray = self._connect()
        o = self.options
        check_ray_gpus(ray.cluster_resources().get("GPU", 0.0), o.gpus_per_cell, o.ray_address)
        runtime = replace(runtime, threads=runtime.threads or default_threads("ray", o), executor="ray",
                          gpu_share=o.gpus_per_cell)
        remote = dict(num_cpus=o.cpus_per_cell, num_gpus=o.gpus_per_cell, max_retries=o.max_retries,
                      retry_exceptions=False)
        if runtime.numerics.env():  # set when the task's process starts, before CUDA reads it
            remote["runtime_env"] = {"env_vars": runtime.numerics.env()}
        teacher_task = ray.remote(**remote)(run_teacher_job)
        cell_task = ray.remote(**remote)(run_cell_job)
        for result in ray.get([teacher_task.remote(job, runtime) for job in teachers]):
            _log_teacher(result)
        pending = {cell_task.remote(cell, runtime): cell for cell in cells}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                on_record(pending.pop(ref), ray.get(ref))


EXECUTORS: Registry[Callable[[ExecutorOptions], Executor]] = Registry("executor")
EXECUTORS.add("local", LocalExecutor, "this machine: in-process (--jobs 1) or N worker processes (--jobs N)")
EXECUTORS.add("ray", RayExecutor, "one Ray task per teacher and per cell (--ray-address, or a local Ray)")


def make_executor(name: str, options: ExecutorOptions) -> Executor:
    return EXECUTORS.get(name)(options)


def default_threads(executor: str, options: ExecutorOptions) -> int | None:
    """Torch threads per cell: the cores shared out among local workers, the CPUs a Ray task asked for."""
    if executor == "ray":
        return max(1, int(options.cpus_per_cell))
    if options.jobs > 1:
        return max(1, (os.cpu_count() or 1) // options.jobs)
    return None
