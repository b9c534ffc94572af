"""The contextual bandit REINFORCE learns from: the reward (``--reward``), the environment
(``--env``) and the collection of a task's grasps in a worker process. The algorithm that learns
from them is :mod:`.reinforce`.

**Rewards.** ``classifier:PATH``: +1 when the probe classifier's P(success) >= ``success_threshold``,
else -1 (the paper's R_t from c_t); a collision, which stops the hand before any probe, is -1
(the controller knows it, no classifier is needed). ``truth``: +1 for a true success, else -1
(the upper bound of a perfect classifier). ``module:function``: any function of the step's info
dict returning a float.

**Free space** (``--free-space``, graspbench's addition): collection and update use the policy
acting only on clear grasps where the target has one (:func:`.policy.action_masks`); each grasp's
clear cells are stored with it, so mu and pi are over the same actions.

**Environments.** Any with the bandit interface: a Gymnasium id or spec file with a ``pick:``
section (BinPick-v0 by default, ``--split`` picks its objects), or ``module:function`` returning
an environment object with ``reset(seed=None)``, ``step_grasp(Grasp)``,
``width_to_opening_px(width_m, u, v)`` and ``bench_spec.pick.widths_m`` (a user's own bins, a
robot). Grasps are collected in tasks of ``grasps_per_bin`` by :func:`graspbench.parallel.run_tasks`;
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
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from ..data.generate import spec_mapping
from ..envs.binpick_env import BinPickEnv
from ..grasp import Grasp
from .classifier import load_classifier
from .policy import GraspPolicy, policy_from_checkpoint

NOT_PROBED = float("nan")
"""P(success) recorded for grasps the classifier did not judge (collisions, other rewards)."""
REWARD_FIX = "use classifier:PATH (a `graspbench ivfp train-classifier` checkpoint), truth, or module:function"
ENV_FIX = "give a Gymnasium id or spec file with a `pick:` section, or module:function returning such an environment"


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
            self.function = _import(spec, "--reward", REWARD_FIX)
        else:
            raise ValueError(f"--reward {spec!r} is not understood; {REWARD_FIX}")

    def __call__(self, info: dict) -> tuple[float, float]:
        if self.function is not None:
            return float(self.function(info)), NOT_PROBED
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
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{flag} {spec}: cannot import it ({error}); {fix}") from None


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
        _import(env, "--env", ENV_FIX)
        return env
    raise ValueError(f"--env {env}: no such environment id or file; {ENV_FIX}")


def make_bandit_env(source: dict | str):
    """The environment a worker collects in, from :func:`env_source`'s answer."""
    if isinstance(source, dict):
        return BinPickEnv(source)
    return _import(source, "--env", ENV_FIX)()


def env_widths_m(env) -> tuple[float, ...]:
    try:
        return tuple(float(w) for w in env.bench_spec.pick.widths_m)
    except AttributeError:
        raise ValueError(f"{type(env).__name__} has no bench_spec.pick.widths_m: not a target-picking environment; "
                         f"{ENV_FIX}") from None


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
            raise ValueError(f"the policy's widths {list(policy.widths_m)} are not the environment's {list(widths_m)}; "
                             "train the policy on collections of this environment")
        rng = np.random.default_rng(task["seed"])
        observation, info = env.reset(seed=int(rng.integers(2**31)))
        rows = []
        for k in range(task["grasps"]):
            if k:
                observation, info = env.reset()  # the bin carries on (a new one when it runs low)
            compact = policy.prepare(observation, info)
            action = policy.act(observation, sample=True, rng=rng, temperature=task["temperature"], compact=compact)
            grasp = Grasp(action.u, action.v, 0.0, env.width_to_opening_px(widths_m[action.width_index], action.u, action.v))
            _, _, _, _, info = env.step_grasp(grasp)
            value, p_success = reward(info)
            rows.append({**compact, "width_index": action.width_index, "cell": action.cell, "u": action.u, "v": action.v,
                         "log_mu": action.log_prob, "reward": value, "p_success": p_success, "outcome": info["outcome"],
                         "probed": bool(info.get("probed", True)), "sim_time_s": float(info.get("sim_time_s", math.nan))})
    finally:
        torch.set_num_threads(threads)
    arrays = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    arrays["outcome"] = arrays["outcome"].astype("U16")
    return {"task": task["index"], "arrays": arrays, "seconds": time.perf_counter() - started}
