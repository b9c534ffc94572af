"""Executors that run independent work items serially, on local processes or on a Ray cluster.

One entry point, :func:`run_tasks`. A work item is anything picklable ("generate and label scene
number i"); ``fn(task)`` does the work. Workers are long-lived processes that each run many tasks,
so ``fn`` may keep expensive per-process state (a simulator, a loaded model) in a module-level cache.

::

    for seed, scene in run_tasks(generate_scene, list(range(1000)), executor="local", workers=8):
        store.write(seed, scene)

Results come back in completion order, not task order: pair them up by the task yielded with them.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import reprlib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

EXECUTORS = ("serial", "local", "ray")

# Tasks queued per worker beyond the one it is running: enough that a worker never idles while the
# caller hands it the next task, few enough that stopping early leaves little work behind.
IN_FLIGHT_PER_WORKER = 2

# "spawn", not "fork": a forked child inherits the parent's PyBullet and OpenGL state, which breaks.
START_METHOD = "spawn"

TASK_REPR_MAX_CHARS = 80

_task_repr = reprlib.Repr()
_task_repr.maxstring = TASK_REPR_MAX_CHARS
_task_repr.maxother = TASK_REPR_MAX_CHARS


def run_tasks(fn, tasks, executor="local", workers=None, address=None):
    """Runs ``fn`` on every task and yields ``(task, result)`` pairs in completion order.

    Args:
        fn: a picklable top-level function ``fn(task) -> result``. Worker processes are long-lived
            and run many tasks each, so ``fn`` may cache per-process state in module globals. Its
            module must be importable by the workers: local processes get this process's
            ``sys.path``; Ray workers get the driver script's folder and the working directory.
        tasks: picklable work items; an iterable is read into a list first.
        executor: ``"serial"`` (in this process, in order), ``"local"`` (a pool of local worker
            processes) or ``"ray"`` (one Ray actor with ``num_cpus=1`` per worker).
        workers: how many worker processes. Default: ``os.cpu_count()`` for ``"local"``; for
            ``"ray"``, the cluster's CPU count. Ignored by ``"serial"``.
        address: Ray only. None starts a private local cluster (with ``workers`` CPUs) for this
            call and shuts it down at the end; otherwise the address of a running cluster to
            connect to, which is left running. If this process is already connected to Ray, that
            connection is used and left open.

    Yields:
        ``(task, result)`` for every task.

    Raises:
        ValueError: ``executor`` or ``workers`` is not valid. Raised at the call, not at the first
            iteration.
        RuntimeError: a task raised (the message names the task and the original error, which is
            chained as the cause) or its worker died. The remaining work is cancelled.
        ImportError: ``executor="ray"`` and Ray is not installed (raised at the call).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    valid_count = isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1
    if workers is not None and not valid_count:
        raise ValueError(f"workers must be None (use every CPU) or an integer >= 1, got {workers!r}")
    tasks = list(tasks)
    if executor == "serial":
        return _run_serial(fn, tasks)
    if executor == "local":
        return _run_local(fn, tasks, workers or os.cpu_count() or 1)
    return _run_ray(_import_ray(), fn, tasks, workers, address)


def _task_failed(task, error):
    """The error the caller sees when ``fn(task)`` raised ``error``."""
    return RuntimeError(f"task {_task_repr.repr(task)} failed: {type(error).__name__}: {error}")


def _run_serial(fn, tasks):
    for task in tasks:
        try:
            result = fn(task)
        except Exception as error:
            raise _task_failed(task, error) from error
        yield task, result


def _run_local(fn, tasks, workers):
    if not tasks:
        return
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)), mp_context=multiprocessing.get_context(START_METHOD)
    )
    todo = iter(tasks)
    in_flight = {}  # future -> task
    finished = False
    try:
        for task in itertools.islice(todo, workers * IN_FLIGHT_PER_WORKER):
            in_flight[pool.submit(fn, task)] = task
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                task = in_flight.pop(future)
                error = future.exception()
                if error is not None:
                    raise _task_failed(task, error) from error
                # Refill before yielding, so the workers stay busy while the caller handles this.
                for next_task in itertools.islice(todo, 1):
                    in_flight[pool.submit(fn, next_task)] = next_task
                yield task, future.result()
        finished = True
    finally:
        if finished:
            pool.shutdown()
        else:
            _stop_pool(pool)


def _stop_pool(pool):
    """Cancels queued tasks and ends the pool's processes now, without waiting for running tasks.

    Used when the caller stops early (Ctrl-C, ``break``) or a task failed: a simulation task can run
    for minutes and its result is no longer wanted.
    """
    # Python < 3.14 has no public way to end running workers (3.14 adds terminate_workers). The
    # pool notices its workers died, fails what was queued and reaps them, so shutdown() is quick.
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def _import_ray():
    # Imported here: Ray is heavy to import and only the "ray" executor needs it.
    try:
        import ray
    except ImportError as error:
        raise ImportError("executor='ray' needs Ray: pip install ray") from error
    return ray


def _run_ray(ray, fn, tasks, workers, address):
    if not tasks:
        return

    connected_here = not ray.is_initialized()
    if connected_here and address is None:
        # address="local" always starts a fresh cluster rather than joining one found on this
        # machine; the dashboard and usage reporting need network and add seconds to the start.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            address="local",
            num_cpus=workers,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    elif connected_here:
        ray.init(address=address)

    @ray.remote(num_cpus=1)
    class _Worker:
        """Holds ``fn`` (and so its module's caches) for the life of one worker process."""

        def __init__(self, fn):
            self.fn = fn

        def run(self, task):
            return self.fn(task)

    actors = []
    try:
        workers = workers or int(ray.cluster_resources().get("CPU", 1))
        actors = [_Worker.remote(fn) for _ in range(min(workers, len(tasks)))]
        todo = iter(tasks)
        in_flight = {}  # ObjectRef -> (task, actor)
        for actor in actors:
            for task in itertools.islice(todo, IN_FLIGHT_PER_WORKER):
                in_flight[actor.run.remote(task)] = (task, actor)
        while in_flight:
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            task, actor = in_flight.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError as error:
                raise _task_failed(task, error.cause) from error
            except ray.exceptions.RayError as error:  # the actor died (crash, killed), fn did not raise
                raise _task_failed(task, error) from error
            for next_task in itertools.islice(todo, 1):
                in_flight[actor.run.remote(next_task)] = (next_task, actor)
            yield task, result
    finally:
        # Killing the actors also drops the tasks queued on them.
        for actor in actors:
            ray.kill(actor)
        # Leave Ray as we found it. On a cluster we only connected to, shutdown() disconnects this
        # process and the cluster keeps running.
        if connected_here:
            ray.shutdown()
