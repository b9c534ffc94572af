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

import ctypes
import itertools
import multiprocessing
import os
import pickle
import reprlib
import signal
import sys
import threading
import time
from multiprocessing.connection import wait as wait_ready

from .options import positive_int

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


def add_executor_flags(parser) -> None:
    """The flags of a command whose work items go through :func:`run_tasks`: --workers,
    --executor and --address, passed on by :func:`executor_options`."""
    parser.add_argument("--workers", type=positive_int, help="worker processes (default: one per core)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local")
    parser.add_argument("--address", help="Ray cluster address (default: start a local one)")


def executor_options(args) -> dict:
    """:func:`run_tasks`' workers, executor and address, as the flags of :func:`add_executor_flags` gave them."""
    return {"workers": args.workers, "executor": args.executor, "address": args.address}


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
    # Processes of our own, each fed through its own pipe, rather than a ProcessPoolExecutor: its
    # queues are named semaphores in /dev/shm that outlive a run killed as a process group, and its
    # workers outlive a main process killed alone. These die with their parent (see _worker_loop)
    # and share nothing but pipes.
    if not tasks:
        return
    context = multiprocessing.get_context(START_METHOD)
    pool = []
    finished = False
    try:
        for _ in range(min(workers, len(tasks))):
            pool.append(_Worker(context, fn))
        todo = iter(tasks)
        for worker in pool:  # one task each: a worker asks for the next by returning a result
            for task in itertools.islice(todo, 1):
                worker.send(task)
        while any(worker.task is not _IDLE for worker in pool):
            busy = [worker for worker in pool if worker.task is not _IDLE]
            ready = set(wait_ready([w.connection for w in busy] + [w.process.sentinel for w in busy]))
            for worker in busy:
                if worker.connection not in ready and worker.process.sentinel not in ready:
                    continue
                task, (ok, result) = worker.task, worker.receive()
                worker.task = _IDLE
                if not ok:
                    raise _task_failed(task, result) from result
                for next_task in itertools.islice(todo, 1):  # before yielding: keep the worker busy
                    worker.send(next_task)
                yield task, result
        finished = True
    finally:
        for worker in pool:
            worker.stop(wait=finished)


_IDLE = object()


class _Worker:
    """One worker process and the pipe it takes tasks from and returns results through."""

    def __init__(self, context, fn):
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_worker_loop, args=(child_end, fn, os.getpid()))
        self.process.start()
        child_end.close()
        self.task = _IDLE

    def send(self, task):
        self.task = task
        self.connection.send(task)

    def receive(self):
        """``(True, result)`` or ``(False, the exception)``; a worker that died is an exception too."""
        try:
            return self.connection.recv()
        except (EOFError, OSError):
            self.process.join(1)
            return False, RuntimeError(f"its worker process died (exit code {self.process.exitcode})")

    def stop(self, wait: bool):
        """End the process: ask it to (``wait``), else now, without waiting for its task."""
        if wait and self.process.is_alive():
            try:
                self.connection.send(None)
            except OSError:
                pass
            self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
        self.connection.close()


def _worker_loop(connection, fn, parent_pid):
    """A worker process: dies with its parent, leaves Ctrl-C to it, runs ``fn`` on every task sent."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers on Ctrl-C
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            reply = (True, fn(task))
        except Exception as error:
            try:
                pickle.loads(pickle.dumps(error))
            except Exception:  # an exception that cannot cross the pipe: its gist can
                error = RuntimeError(f"{type(error).__name__}: {error}")
            reply = (False, error)
        connection.send(reply)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux: PR_SET_PDEATHSIG), however
    the parent ends: SIGKILL, the out-of-memory killer, a scheduler. Elsewhere a thread watches
    the parent instead."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent_pid:  # the parent died before the request took effect
                os._exit(1)
            return

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


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
