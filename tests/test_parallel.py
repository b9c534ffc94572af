"""The serial, local-process and Ray executors of graspbench.parallel.

The work functions are top-level functions of this module, so that worker processes can import
them: spawned local workers get this process's ``sys.path`` (which pytest gave ``tests/``), and
Ray workers get the driver's working directory, hence the ``chdir`` in the Ray tests.
"""

import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest

from graspbench.parallel import run_tasks

TESTS_DIR = Path(__file__).resolve().parent
RANDOM_DRAWS = 3
FAILING_TASK = 3
SLOW_TASK_S = 30.0

_calls_in_this_process = 0


def draw_random(seed):
    """A deterministic, per-task result that shows when tasks get mixed up."""
    return tuple(np.random.default_rng(seed).random(RANDOM_DRAWS))


def count_calls(task):
    """How many tasks this process has run, this one included."""
    global _calls_in_this_process
    _calls_in_this_process += 1
    return _calls_in_this_process


def fail_on_three(task):
    if task == FAILING_TASK:
        raise ValueError("scene blew up")
    return task


def always_fail(task):
    raise ValueError("no")


def sleep_for(seconds):
    time.sleep(seconds)
    return seconds


@pytest.fixture
def in_tests_dir(monkeypatch):
    """Ray workers import this module from the driver's working directory."""
    monkeypatch.chdir(TESTS_DIR)


@pytest.fixture(scope="module")
def expected_draws():
    return sorted((seed, draw_random(seed)) for seed in range(10))


def test_serial_runs_in_order(expected_draws):
    assert list(run_tasks(draw_random, range(10), executor="serial")) == expected_draws


def test_local_gives_the_serial_results(expected_draws):
    assert sorted(run_tasks(draw_random, range(10), executor="local", workers=2)) == expected_draws


def test_ray_gives_the_serial_results(expected_draws, in_tests_dir):
    results = sorted(run_tasks(draw_random, range(10), executor="ray", workers=2))
    assert results == expected_draws


def test_local_workers_are_long_lived():
    counts = [count for _, count in run_tasks(count_calls, range(5), executor="local", workers=1)]
    assert sorted(counts) == [1, 2, 3, 4, 5]


def test_no_tasks_yields_nothing():
    for executor in ("serial", "local", "ray"):
        assert list(run_tasks(draw_random, [], executor=executor, workers=2)) == []


@pytest.mark.parametrize("executor", ["serial", "local", "ray"])
def test_failing_task_names_the_task(executor, in_tests_dir):
    with pytest.raises(RuntimeError, match=r"task 3 failed: ValueError: scene blew up") as info:
        list(run_tasks(fail_on_three, range(6), executor=executor, workers=2))
    assert "scene blew up" in str(info.value.__cause__)


def test_long_task_is_shortened_in_the_error():
    with pytest.raises(RuntimeError, match=r"task 'x+\.\.\.x+' failed: ValueError: no") as info:
        list(run_tasks(always_fail, ["x" * 1000], executor="serial"))
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("stop", ["break", "ctrl-c"])
def test_stopping_early_ends_the_local_workers_now(stop):
    children_before = set(multiprocessing.active_children())
    started = time.perf_counter()
    tasks = run_tasks(sleep_for, [0.0] + [SLOW_TASK_S] * 10, executor="local", workers=2)
    assert next(tasks) == (0.0, 0.0)
    if stop == "break":
        tasks.close()  # what leaving a for loop over the generator does
    else:
        # Ctrl-C arrives as KeyboardInterrupt wherever the generator is waiting.
        with pytest.raises(KeyboardInterrupt):
            tasks.throw(KeyboardInterrupt)
    # The workers were ended, not waited for: no slow task ran to its end.
    assert time.perf_counter() - started < SLOW_TASK_S / 2
    assert set(multiprocessing.active_children()) <= children_before


@pytest.mark.parametrize("executor", ["threads", "", None])
def test_unknown_executor_is_refused(executor):
    with pytest.raises(ValueError, match=r"executor must be one of \('serial', 'local', 'ray'\)"):
        run_tasks(draw_random, range(3), executor=executor)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_bad_worker_count_is_refused(workers):
    with pytest.raises(ValueError, match="workers must be"):
        run_tasks(draw_random, range(3), executor="local", workers=workers)
