"""The contextual bandit REINFORCE learns from: the reward (``--reward``), the environment
(``--env``) and the collection of a task's grasps in a worker process. The algorithm that learns
from them is :mod:`.reinforce`.

**Rewards.** ``classifier:PATH``: +1 when the probe classifier's P(success) >= ``success_threshold``,
else -1 (the paper's R_t from c_t); a collision, which stops the hand before any probe, is -1
(the controller knows it, no classifier is needed). ``truth``: +1 for a true success, else -1
(the upper bound of a perfect classifier). ``module:function``: a plugin, a function of the
step's info dict returning +1 or -1 (:data:`REWARD_CONTRACT`); one that cannot be imported,
raises or returns anything else stops the run with a one-line :class:`PluginError` naming it.

**Free space** (``--free-space``, graspbench's addition): collection and update use the policy
acting only on clear grasps where the target has one (:func:`.policy.action_masks`); each grasp's
clear cells are stored with it, so mu and pi are over the same actions.

**Environments.** Any with the bandit interface: a Gymnasium id or spec file with a ``pick:``
section (BinPick-v1 by default, ``--split`` picks its objects), or ``module:function`` returning
an environment object with ``reset(seed=None)``, ``step_grasp(Grasp)``,
``width_to_opening_px(width_m, u, v)`` and ``bench_spec.pick.widths_m`` (a user's own bins, a
robot; :data:`BANDIT_INTERFACE`, checked on one instance before any collection). Grasps are collected in tasks of ``grasps_per_bin`` by :func:`graspbench.parallel.run_tasks`;
a task fills a bin from its own seed and picks from it ``grasps_per_bin`` times (a new bin when it
runs low). Every worker process keeps its environment, the current policy and the reward in
module-level caches (for one iteration: run_tasks starts its workers afresh at every call, which
costs each worker a few seconds of imports and loading the object set). Tasks are seeded by
(seed, iteration, task), so a run is reproducible whichever worker runs which task.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import math
import os
import time
from contextlib import contextmanager
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from ..data.generate import spec_mapping
from ..envs.binpick import BinPickEnv
from ..grasp import Grasp
from ..parallel import _import_ray, run_tasks
from .classifier import load_classifier
from .policy import (
    GraspPolicy,
    PolicyAction,
    block_log_probs,
    block_of,
    cell_to_pixel,
    policy_from_checkpoint,
    policy_payload,
)

NOT_PROBED = float("nan")
"""P(success) recorded for grasps the classifier did not judge (collisions, other rewards)."""
REWARD_CONTRACT = "a function of the step's info dict returning +1 (success) or -1 (failure)"
"""What a ``--reward module:function`` plugin must provide."""
BANDIT_INTERFACE = (
    "reset(seed=None) -> (observation, info), step_grasp(Grasp) -> (observation, reward, terminated, "
    "truncated, info with outcome), width_to_opening_px(width_m, u, v) and bench_spec.pick.widths_m"
)
"""What a ``--env module:function`` environment must provide (BinPickEnv's bandit interface)."""
REWARD_FIX = (
    "use classifier:PATH (a `graspbench ivfp train-classifier` checkpoint), truth, or module:function, "
    f"{REWARD_CONTRACT}"
)
ENV_FIX = "give a Gymnasium id or spec file with a `pick:` section, or module:function returning such an environment"


class PluginError(ValueError):
    """A ``--reward`` or ``--env`` plugin that does not provide what it must (one line, naming it)."""


# --- rewards ---------------------------------------------------------------------------------


class Reward:
    """A step's info -> (reward, P(success) or NaN). Made from the ``--reward`` text."""

    def __init__(self, spec: str, success_threshold: float = 0.5):
        self.spec, self.success_threshold = spec, success_threshold
        self.classifier, self.function = None, None
        if spec == "truth":
            return
        kind, _, rest = spec.partition(":")
        if kind == "classifier" and rest:
            try:
                self.classifier = load_classifier(rest)
            except ValueError as error:
                raise ValueError(f"--reward {spec}: {error}") from None
        elif kind and rest:
            self.function = _import(spec, "--reward", f"it must be {REWARD_CONTRACT}")
            if not callable(self.function):
                raise PluginError(
                    f"--reward {spec}: {type(self.function).__name__} is not callable; it must be {REWARD_CONTRACT}"
                )
        else:
            raise ValueError(f"--reward {spec!r} is not understood; {REWARD_FIX}")

    def __call__(self, info: dict) -> tuple[float, float]:
        if self.function is not None:
            try:
                value = self.function(info)
            except Exception as error:  # any error of a user's plugin: one line naming it
                raise PluginError(
                    f"--reward {self.spec} raised {type(error).__name__}: {error}; it must be {REWARD_CONTRACT}"
                ) from None
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.integer, np.floating))
                or value not in (1, -1)
            ):
                raise PluginError(f"--reward {self.spec} returned {value!r}; it must be {REWARD_CONTRACT}")
            return float(value), NOT_PROBED
        if self.classifier is None:
            return (1.0 if info["outcome"] == "success" else -1.0), NOT_PROBED
        if not info["probed"]:
            return -1.0, NOT_PROBED
        p_success = float(self.classifier.predict_proba(info["probe_rgb"])[0, 0])
        return (1.0 if p_success >= self.success_threshold else -1.0), p_success


def _import(spec: str, flag: str, fix: str):
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except Exception as error:  # ImportError, AttributeError, or whatever the plugin's module raised
        raise PluginError(f"{flag} {spec}: cannot import it ({type(error).__name__}: {error}); {fix}") from None


# --- environments ----------------------------------------------------------------------------


def env_source(env: str, split: str | None) -> dict | str:
    """What a worker builds its environment from: a full spec (plain data) for ids and spec files,
    or the ``module:function`` text of a factory."""
    if env in gym.registry or Path(env).is_file():
        spec = spec_mapping(env, split)
        if not spec.get("pick"):
            raise ValueError(f"--env {env}: not a target-picking environment (no `pick:` section); {ENV_FIX}")
        return spec
    if ":" in env:
        check_bandit_env(make_bandit_env(env), env)  # one instance, before any worker: a clear error, now
        return env
    raise ValueError(f"--env {env}: no such environment id or file; {ENV_FIX}")


def make_bandit_env(source: dict | str):
    """The environment a worker collects in, from :func:`env_source`'s answer."""
    if isinstance(source, dict):
        return BinPickEnv(source)
    factory = _import(source, "--env", f"it must return an environment with {BANDIT_INTERFACE}")
    try:
        return factory()
    except Exception as error:  # a user's factory: one line naming it
        raise PluginError(
            f"--env {source} raised {type(error).__name__}: {error}; it must return an environment "
            f"with {BANDIT_INTERFACE}"
        ) from None


def check_bandit_env(env, name: str) -> None:
    """Raise :class:`PluginError` (one line, naming ``name``) unless ``env`` has the bandit interface."""
    missing = [
        method for method in ("reset", "step_grasp", "width_to_opening_px") if not callable(getattr(env, method, None))
    ]
    try:
        env_widths_m(env)
    except ValueError:
        missing.append("bench_spec.pick.widths_m")
    if missing:
        raise PluginError(
            f"--env {name}: {type(env).__name__} has no {', '.join(missing)}; a bandit environment must "
            f"provide {BANDIT_INTERFACE}"
        )


def env_widths_m(env) -> tuple[float, ...]:
    try:
        return tuple(float(w) for w in env.bench_spec.pick.widths_m)
    except AttributeError:
        raise ValueError(
            f"{type(env).__name__} has no bench_spec.pick.widths_m: not a target-picking environment; {ENV_FIX}"
        ) from None
    except TypeError:
        raise ValueError(
            f"{type(env).__name__}'s bench_spec.pick.widths_m is not a list of widths in metres; {ENV_FIX}"
        ) from None


# --- collecting (in worker processes) ----------------------------------------------------------

_CACHE: dict = {"envs": {}, "policy": (None, None), "rewards": {}}


def _cached_env(source):
    key = json.dumps(source, sort_keys=True)
    if key not in _CACHE["envs"]:
        _CACHE["envs"][key] = make_bandit_env(source)
    return _CACHE["envs"][key]


def _cached_policy(blob: bytes) -> GraspPolicy:
    key = hashlib.sha256(blob).hexdigest()
    if _CACHE["policy"][0] != key:
        checkpoint = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=False)
        _CACHE["policy"] = (key, policy_from_checkpoint(checkpoint, "the policy sent to a worker"))
    return _CACHE["policy"][1]


def _cached_reward(spec: str, threshold: float) -> Reward:
    if (spec, threshold) not in _CACHE["rewards"]:
        _CACHE["rewards"][spec, threshold] = Reward(spec, threshold)
    return _CACHE["rewards"][spec, threshold]


def sample_action(
    policy: GraspPolicy,
    observation: dict,
    compact: dict,
    rng: np.random.Generator,
    temperature: float = 1.0,
    grid: int = 1,
) -> PolicyAction:
    """An action sampled from the policy (the behaviour policy mu): a width, then a cell, or with
    ``grid`` > 1 a block of grid x grid cells (:func:`.policy.block_log_probs`), executed at its
    valid cell nearest the block's centre; ``log_prob`` is log mu of the width and the cell (block)."""
    if grid == 1:
        return policy.act(observation, sample=True, rng=rng, temperature=temperature, compact=compact)
    with torch.no_grad():
        fused, width_log_probs, cells = policy.encode_one(compact, temperature)
        width = _sample(width_log_probs, rng)
        pixel_log_probs = policy.cell_log_probs(fused, cells, [width], temperature)[0]
        h, w = cells.shape[1:]
        blocks = block_log_probs(torch.from_numpy(pixel_log_probs)[None], (h, w), grid)[0].numpy()
    block = _sample(blocks, rng)
    valid = np.flatnonzero(np.isfinite(pixel_log_probs))
    in_block = valid[block_of(valid, w, grid) == block]
    block_row, block_column = divmod(block, -(-w // grid))
    centre = ((block_row + 0.5) * grid - 0.5, (block_column + 0.5) * grid - 0.5)
    cell = int(in_block[np.argmin((in_block // w - centre[0]) ** 2 + (in_block % w - centre[1]) ** 2)])
    u, v = cell_to_pixel(cell, observation["target_mask"], policy.downsample)
    return PolicyAction(width, cell, u, v, float(width_log_probs[width] + blocks[block]))


def _sample(log_probs: np.ndarray, rng: np.random.Generator) -> int:
    p = np.exp(log_probs - log_probs.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def collect_grasps(task: dict) -> dict:
    """A task: fill a bin from ``task["seed"]`` and make ``task["grasps"]`` grasps in it with the
    policy, sampled; returns the arrays of the grasps. Plain data in and out (worker processes)."""
    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core per worker; the same numbers whichever executor runs it
    try:
        env = _cached_env(task["env"])
        policy = _cached_policy(task["policy"])
        reward = _cached_reward(task["reward"], task["success_threshold"])
        widths_m = env_widths_m(env)
        if tuple(policy.widths_m) != widths_m:
            raise ValueError(
                f"the policy's widths {list(policy.widths_m)} are not the environment's {list(widths_m)}; "
                "train the policy on collections of this environment"
            )
        rng = np.random.default_rng(task["seed"])
        observation, info = env.reset(seed=int(rng.integers(2**31)))
        rows = []
        for k in range(task["grasps"]):
            if k:
                observation, info = env.reset()  # the bin carries on (a new one when it runs low)
            compact = policy.prepare(observation, info)
            action = sample_action(policy, observation, compact, rng, task["temperature"], task.get("grid", 1))
            grasp = Grasp(
                action.u, action.v, 0.0, env.width_to_opening_px(widths_m[action.width_index], action.u, action.v)
            )
            _, _, _, _, info = env.step_grasp(grasp)
            value, p_success = reward(info)
            rows.append(
                {
                    **compact,
                    "width_index": action.width_index,
                    "cell": action.cell,
                    "u": action.u,
                    "v": action.v,
                    "log_mu": action.log_prob,
                    "reward": value,
                    "p_success": p_success,
                    "outcome": info["outcome"],
                    "probed": bool(info.get("probed", True)),
                    "sim_time_s": float(info.get("sim_time_s", math.nan)),
                }
            )
    finally:
        torch.set_num_threads(threads)
    arrays = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    arrays["outcome"] = arrays["outcome"].astype("U16")
    return {"task": task["index"], "arrays": arrays, "seconds": time.perf_counter() - started}


def collect_iteration(
    source,
    policy: GraspPolicy,
    seed: list[int],
    grasps: int,
    grasps_per_bin: int,
    reward: str,
    success_threshold: float = 0.5,
    temperature: float = 1.0,
    grid: int = 1,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
) -> tuple[dict, float]:
    """One iteration's ``grasps`` with ``policy``, in tasks of ``grasps_per_bin`` (task t seeded by
    ``seed + [t]``), concatenated in task order; and the core-seconds they took. A plugin's error in
    a worker comes back as the same one-line :class:`PluginError`."""
    buffer = io.BytesIO()
    torch.save(policy_payload(policy), buffer)
    blob = buffer.getvalue()
    sizes = [grasps_per_bin] * (grasps // grasps_per_bin) + (
        [grasps % grasps_per_bin] if grasps % grasps_per_bin else []
    )
    tasks = [
        {
            "index": t,
            "env": source,
            "policy": blob,
            "reward": reward,
            "success_threshold": success_threshold,
            "temperature": temperature,
            "grid": grid,
            "seed": [*seed, t],
            "grasps": n,
        }
        for t, n in enumerate(sizes)
    ]
    results = {}
    try:
        for _, result in run_tasks(collect_grasps, tasks, executor=executor, workers=workers, address=address):
            results[result["task"]] = result
    except RuntimeError as error:
        if isinstance(error.__cause__, PluginError):
            raise PluginError(str(error.__cause__)) from None
        raise
    ordered = [results[t]["arrays"] for t in range(len(tasks))]
    return {key: np.concatenate([a[key] for a in ordered]) for key in ordered[0]}, sum(
        r["seconds"] for r in results.values()
    )


@contextmanager
def ray_session(executor: str, workers: int | None, address: str | None):
    """With the Ray executor, one cluster for a whole run: run_tasks, called once per iteration,
    reuses a connection it finds open instead of starting a cluster every time."""
    if executor != "ray":
        yield
        return
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here and address:
        ray.init(address=address)
    elif started_here:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False
        )
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()
