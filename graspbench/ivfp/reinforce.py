"""REINFORCE as a contextual bandit (Murray et al., section IV.C): the policy improves from its
own probed grasps, rewarded +1 / -1 by the probe classifier (or any other reward), and
``graspbench ivfp reinforce``.

**An iteration.** ``grasps_per_iteration`` grasps (the paper: 64) are collected with the current
policy, sampled from pi (a width from Q_width, then a cell from Q_grasp's masked softmax at that
width); each grasp's log-probability under that policy, log mu(a | s), is stored with it. Every
grasp is probed and rewarded by the reward; its true outcome is stored beside the reward, so the
reward's error rate is known. Then ``update_steps`` gradient steps, each on ``batch_size`` grasps
drawn uniformly from ALL the grasps gathered so far, minimise the off-policy REINFORCE loss::

    L = -mean_i[ min(pi(a_i | s_i) / mu(a_i | s_i), c) * (R_i - b) * log pi(a_i | s_i) ] - beta * H(pi(. | s_i))

with the importance weight (c = ``max_weight``) held constant in the gradient (it corrects for
the grasps having been drawn by an older policy; clipping bounds the variance that a policy grown
much more confident than the one that acted would cause), b(s_i) the mean reward of all the grasps
so far (``baseline``) plus a learned state-dependent part (``state_value``, :class:`StateValue`),
and an optional entropy bonus (``entropy_weight``; H of the width plus of the cell at the grasp's
width).

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

**Files** in ``--out``: ``experience/iter_NNN.npz`` (the grasps of each iteration: policy inputs,
actions, mu, rewards, outcomes), ``last.pt`` (policy, state value, optimiser, history: the resume
state, and itself a policy checkpoint), ``policy_iter_NNN.pt`` at the iterations of ``keep``
(RL@20, RL@50), ``learning_curve.csv`` and ``.png``, ``run.json``. Running the same command
again resumes after the last finished iteration; an iteration whose grasps were collected before
an interruption reuses them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from ..grasp import Grasp
from ..io import reading, save_figure, write_atomic
from ..parallel import EXECUTORS, run_tasks
from .policy import (GraspPolicy, action_log_prob, action_masks, entropy, masked_log_softmax, policy_from_checkpoint,
                     policy_payload, read_checkpoint, save_checkpoint, to_tensors)

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
            from .classifier import load_classifier

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
    import gymnasium as gym

    import graspbench  # noqa: F401  (registers the environments)

    if env in gym.registry or Path(env).is_file():
        from ..data.generate import spec_mapping

        spec = spec_mapping(env, split)
        if not spec.get("pick"):
            raise ValueError(f"--env {env}: not a target-picking environment (no `pick:` section); {ENV_FIX}")
        return spec
    if ":" in env:
        _import(env, "--env", ENV_FIX)
        return env
    raise ValueError(f"--env {env}: no such environment id or file; {ENV_FIX}")


def make_env(source: dict | str):
    if isinstance(source, dict):
        from ..envs.binpick import BinPickEnv

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
        _CACHE["envs"][key] = make_env(source)
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


# --- the update --------------------------------------------------------------------------------


def importance_weights(log_pi: torch.Tensor, log_mu: torch.Tensor, max_weight: float) -> torch.Tensor:
    """min(pi / mu, c), computed from log-probabilities."""
    return torch.exp(log_pi - log_mu).clamp(max=max_weight)


class StateValue(nn.Module):
    """The state-dependent part of the baseline: b(s) = mean reward + g(s), g a small MLP on the
    policy's pooled state features, fitted to reward - mean by least squares.

    Why: every bin is seen once, and how hard the bin is explains more of a grasp's reward than
    which action was taken (on the first run's 3,200 grasps a ridge fit on the imitation policy's
    features predicted 25% of the held-out rewards' variance, and adding the width predicted no
    more). With the mean as baseline, each failure in a hard bin pushes up every action the policy
    did not take there; b(s) removes that noise, and being a function of the state alone it leaves
    the gradient unbiased. g reads the features detached (the baseline learns from the policy,
    never the reverse) and starts at zero, so the first update is the mean-baseline one."""

    def __init__(self, state_features: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(state_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.net(state.detach())[:, 0]


def stored_log_probs(policy: GraspPolicy, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For stored grasps: log pi(a | s) (B,), differentiable, over the actions each state allowed
    (free space too, where the grasps were collected on it); the policy's entropy there (B,); the
    pooled state features (B, F)."""
    x, valid = to_tensors(batch, policy.input)
    width_allowed, cells = action_masks(valid, torch.as_tensor(batch["clear"]) if "clear" in batch else None,
                                        len(policy.widths_m))
    width_index = torch.as_tensor(batch["width_index"], dtype=torch.long)
    fused, width_logits, state = policy.encode(x)
    width_logits = width_logits.masked_fill(~width_allowed, float("-inf"))
    cells = cells[torch.arange(len(width_index)), width_index]
    pixel_log_probs = masked_log_softmax(policy.grasp_logits(fused, width_index, tuple(valid.shape[1:])), cells)
    log_pi = action_log_prob(width_logits, pixel_log_probs, width_index, torch.as_tensor(batch["cell"], dtype=torch.long))
    return log_pi, entropy(torch.log_softmax(width_logits, dim=1)) + entropy(pixel_log_probs), state


def reinforce_loss(policy: GraspPolicy, batch: dict, baseline: float, max_weight: float, entropy_weight: float = 0.0,
                   state_value: StateValue | None = None):
    """The off-policy REINFORCE loss of a batch of stored grasps (see the module's docstring), plus
    the state value's squared error when there is one, and statistics (mean weight, share of
    weights clipped, mean entropy, mean baseline)."""
    log_pi, spread, state = stored_log_probs(policy, batch)
    weights = importance_weights(log_pi.detach(), torch.as_tensor(batch["log_mu"], dtype=torch.float32), max_weight)
    reward = torch.as_tensor(batch["reward"], dtype=torch.float32)
    b = torch.full_like(reward, baseline)
    value_error = torch.zeros(())
    if state_value is not None:
        residual = state_value(state)
        value_error = F.mse_loss(residual, reward - baseline)
        b = b + residual.detach()
    loss = -(weights * (reward - b) * log_pi).mean() + value_error
    if entropy_weight:
        loss = loss - entropy_weight * spread.mean()
    return loss, {"weight": weights.mean().item(), "clipped": (weights >= max_weight).float().mean().item(),
                  "entropy": spread.mean().item(), "baseline": b.mean().item(), "value_error": value_error.item()}


def reinforce_update(policy: GraspPolicy, optimiser, replay: dict, steps: int, batch_size: int, max_weight: float,
                     baseline: bool = True, entropy_weight: float = 0.0, generator: torch.Generator | None = None,
                     state_value: StateValue | None = None) -> dict:
    """``steps`` gradient steps on batches drawn uniformly from ``replay`` (all grasps so far);
    returns the mean loss and statistics. ``baseline``: subtract the mean reward of the replay;
    ``state_value`` (its parameters in ``optimiser``) adds the state's part to it."""
    policy.train()
    count = len(replay["reward"])
    mean = float(np.mean(replay["reward"])) if baseline else 0.0
    sums: dict[str, float] = {}
    for _ in range(steps):
        chosen = torch.randperm(count, generator=generator)[:batch_size].numpy()
        loss, stats = reinforce_loss(policy, {key: value[chosen] for key, value in replay.items()}, mean, max_weight,
                                     entropy_weight, state_value)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        for key, value in {"loss": loss.item(), **stats}.items():
            sums[key] = sums.get(key, 0.0) + value
    policy.eval()
    return {key: value / max(steps, 1) for key, value in sums.items()}


REPLAY_KEYS = ("rgb", "height", "mask", "valid", "width_index", "cell", "log_mu", "reward")
"""What the update reads of each stored grasp (and ``clear``, acting on free space)."""


# --- the loop ----------------------------------------------------------------------------------


@dataclass
class ReinforceArgs:
    init: str = "runs/ivfp_policy/best.pt"
    """the policy to start from: a `graspbench ivfp train-policy` (or reinforce) checkpoint"""
    out: str = "runs/ivfp_rl"
    """run folder (see the module's docstring); an existing run with the same arguments is resumed"""
    env: str = "GraspBench/BinPick-v0"
    """environment: a Gymnasium id or spec file with a `pick:` section, or module:function returning one"""
    split: str | None = "train"
    """object split of an id or spec file: train (the paper's seen objects), test (unseen) or None
    (the spec's own); a module:function environment is what its function makes"""
    reward: str = "classifier:runs/ivfp_classifier/interactive-2.0s.pt"
    """classifier:PATH (probe classifier), truth (the simulator's outcome) or module:function (info -> float)"""
    success_threshold: float = 0.5
    """classifier rewards: +1 when P(success) is at least this"""
    iterations: int = 50
    """iterations to run in all (a resumed run continues up to this)"""
    grasps_per_iteration: int = 64
    """grasps collected with the current policy per iteration (the paper: 64)"""
    grasps_per_bin: int = 8
    """grasps per collection task, in one bin filled for it; a task is the unit of parallel work"""
    update_steps: int = 16
    """gradient steps per iteration (16 x 64 grasps: about 30 s of one core for the default network)"""
    batch_size: int = 64
    """grasps per gradient step, drawn uniformly from all grasps gathered so far"""
    lr: float = 1e-4
    """Adam learning rate"""
    max_weight: float = 10.0
    """c, the clip of the importance weights min(pi / mu, c)"""
    baseline: bool = True
    """subtract the mean reward of all grasps so far from every reward"""
    state_value: bool = True
    """add a learned state-dependent part to the baseline (StateValue: how hard the bin is)"""
    value_lr: float = 1e-3
    """Adam learning rate of the state value"""
    entropy_weight: float = 0.0
    """beta, the weight of the entropy bonus; 0: none"""
    temperature: float = 1.0
    """collection samples from softmax(logits / temperature); mu is that distribution's probability"""
    free_space: bool = False
    """act only where the fingers and palm come down on free space, where the target has such a
    grasp (graspbench's addition, not the paper's; see policy.action_masks); the policies keep it"""
    keep: tuple[int, ...] = (20, 50)
    """iterations whose policy is kept as policy_iter_NNN.pt (RL@20 and RL@50)"""
    seed: int = 0
    """seeds the collection tasks (bins and sampling) and the update's batches"""
    executor: str = "local"
    """where grasps are collected: local (worker processes), ray or serial"""
    workers: int | None = None
    """worker processes; None: one per core (local) or the cluster's CPUs (ray)"""
    address: str | None = None
    """Ray cluster address; None: start a local one"""
    threads: int = 0
    """torch threads of the update (workers use one each); 0: one per core"""
    progress: bool = True
    """show progress and print one line per iteration"""

    def check(self) -> None:
        for name in ("iterations", "grasps_per_iteration", "grasps_per_bin", "update_steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not self.max_weight > 0:
            raise ValueError(f"--max-weight must be positive, got {self.max_weight}")
        if not self.lr > 0 or not self.value_lr > 0 or not self.temperature > 0:
            raise ValueError(f"--lr, --value-lr and --temperature must be positive, got {self.lr}, {self.value_lr} "
                             f"and {self.temperature}")
        if self.entropy_weight < 0:
            raise ValueError(f"--entropy-weight must not be negative, got {self.entropy_weight}")
        if not 0 < self.success_threshold < 1:
            raise ValueError(f"--success-threshold must be between 0 and 1, got {self.success_threshold}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"--executor {self.executor!r} is not one of {EXECUTORS}")
        if self.split not in (None, "train", "test", "all"):
            raise ValueError(f"--split {self.split!r} is not one of train, test, all")


def experience_path(out: Path, iteration: int) -> Path:
    return out / "experience" / f"iter_{iteration:03d}.npz"


def _write_experience(path: Path, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def _read_experience(path: Path) -> dict:
    if not path.exists():
        raise ValueError(f"{path} is missing: a run resumes only with the grasps of every finished iteration; "
                         "start over in another --out")
    fix = "delete it and its run's last.pt, or start over in another --out"
    with reading(path, "an iteration's grasps", fix), np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
        missing = set(REPLAY_KEYS) - set(arrays)
        if missing:
            raise ValueError(f"it lacks {sorted(missing)}")
    return arrays


def _collect(args: ReinforceArgs, source, policy: GraspPolicy, iteration: int) -> tuple[dict, float]:
    """The iteration's grasps, in task order, and the core-seconds they took."""
    buffer = io.BytesIO()
    torch.save(policy_payload(policy), buffer)
    blob = buffer.getvalue()
    sizes = [args.grasps_per_bin] * (args.grasps_per_iteration // args.grasps_per_bin)
    if args.grasps_per_iteration % args.grasps_per_bin:
        sizes.append(args.grasps_per_iteration % args.grasps_per_bin)
    tasks = [{"index": t, "env": source, "policy": blob, "reward": args.reward, "success_threshold": args.success_threshold,
              "temperature": args.temperature, "seed": [args.seed, iteration, t], "grasps": n} for t, n in enumerate(sizes)]
    results = {}
    for _, result in run_tasks(collect_grasps, tasks, executor=args.executor, workers=args.workers, address=args.address):
        results[result["task"]] = result
    ordered = [results[t]["arrays"] for t in range(len(tasks))]
    return {key: np.concatenate([a[key] for a in ordered]) for key in ordered[0]}, sum(r["seconds"] for r in results.values())


@contextmanager
def _ray_session(args: ReinforceArgs):
    """With the Ray executor, one cluster for the whole run: run_tasks, called once per iteration,
    reuses a connection it finds open instead of starting a cluster every time."""
    if args.executor != "ray":
        yield
        return
    from ..parallel import _import_ray

    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here and args.address:
        ray.init(address=args.address)
    elif started_here:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address="local", num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


def _iteration_row(iteration: int, grasps: dict, total: int, update: dict, collect_core_s: float, collect_s: float,
                   update_s: float) -> dict:
    success = grasps["outcome"] == "success"
    said_success = grasps["reward"] > 0
    return {"iteration": iteration, "grasps": total, "mean_reward": float(grasps["reward"].mean()),
            "true_success_rate": float(success.mean()), "successes": int(success.sum()),
            "reward_error_rate": float((said_success != success).mean()),
            "collision_rate": float((grasps["outcome"] == "collision").mean()),
            "loss": update["loss"], "baseline": update["baseline"], "value_error": update["value_error"],
            "mean_weight": update["weight"],
            "clipped_share": update["clipped"], "entropy": update["entropy"],
            "sim_s_per_grasp": float(np.nanmean(grasps["sim_time_s"])),
            "collect_core_s": collect_core_s, "collect_s": collect_s, "update_s": update_s, "seconds": collect_s + update_s}


def _same_run(old: dict, new: dict) -> bool:
    """A run may be resumed with more iterations or on other workers, nothing else changed."""
    free = ("iterations", "progress", "threads", "executor", "workers", "address", "out", "keep")
    defaults = dataclasses.asdict(ReinforceArgs())  # an argument added since a run started took its default
    strip = lambda args: {k: v for k, v in {**defaults, **args}.items() if k not in free}  # noqa: E731
    return strip(old["args"]) == strip(new["args"]) and old["init_sha256"] == new["init_sha256"]


def reinforce(args: ReinforceArgs) -> list[dict]:
    """Run (or resume) REINFORCE up to ``args.iterations``; returns the learning curve's rows."""
    from .. import __version__

    args.check()
    Reward(args.reward, args.success_threshold)  # fail now, not in a worker, on a bad --reward
    source = env_source(args.env, args.split)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    init = read_checkpoint(args.init)
    meta = {"args": {**dataclasses.asdict(args), "keep": list(args.keep)},
            "init_sha256": hashlib.sha256(Path(args.init).read_bytes()).hexdigest()[:16], "graspbench_version": __version__}
    policy = policy_from_checkpoint(init, args.init)
    policy.free_space = args.free_space
    state_value = None
    if args.state_value:
        with torch.random.fork_rng(devices=[]):  # its initial weights come from the seed, not from what ran before
            torch.manual_seed(args.seed)
            state_value = StateValue(policy.state_features)
    groups = [{"params": policy.parameters()}]
    if state_value is not None:
        groups.append({"params": state_value.parameters(), "lr": args.value_lr})
    optimiser = torch.optim.Adam(groups, lr=args.lr)
    history: list[dict] = []
    last = out / "last.pt"
    if last.exists():
        with reading(last, "an IVFP REINFORCE state", f"delete {out} (or choose another --out) to start over"):
            state = torch.load(last, map_location="cpu", weights_only=False)
            if not isinstance(state, dict) or not {"meta", "state_dict", "optimiser", "history"} <= set(state):
                raise ValueError("fields missing")
        if not _same_run(state["meta"], meta):
            raise ValueError(f"--out {out} holds a run with other arguments or another --init; choose another --out")
        policy.load_state_dict(state["state_dict"])
        if state_value is not None:
            state_value.load_state_dict(state["state_value"])
        optimiser.load_state_dict(state["optimiser"])
        history = state["history"]
        if args.progress and len(history) < args.iterations:
            print(f"{out}: resuming after iteration {len(history)}")
    policy.eval()
    keys = REPLAY_KEYS + ("clear",) * args.free_space
    replay: dict[str, list] = {key: [] for key in keys}  # what the update reads of every grasp so far
    for iteration in range(1, len(history) + 1):
        grasps = _read_experience(experience_path(out, iteration))
        for key in keys:
            replay[key].append(grasps[key])

    with _ray_session(args):
        _loop(args, source, policy, state_value, optimiser, history, replay, meta, out)
    write_atomic(out / "run.json", json.dumps({**meta, "iterations_done": len(history),
                                               "seconds": sum(r["seconds"] for r in history)}, indent=1))
    if args.progress:
        print(f"{out}: {len(history)} iterations; policies in {out}/last.pt"
              + "".join(f", {out}/policy_iter_{k:03d}.pt" for k in args.keep if k <= len(history))
              + f"; learning curve in {out}/learning_curve.csv and .png")
    return history


def _loop(args: ReinforceArgs, source, policy: GraspPolicy, state_value: StateValue | None, optimiser,
          history: list[dict], replay: dict, meta: dict, out: Path) -> None:
    """Iterations from the one after ``history``'s last to ``args.iterations``: collect, store, update, save."""
    from tqdm import tqdm

    bar = tqdm(range(len(history) + 1, args.iterations + 1), desc="REINFORCE", unit="iteration", disable=not args.progress,
               initial=len(history), total=args.iterations)
    for iteration in bar:
        started = time.perf_counter()
        path = experience_path(out, iteration)
        if path.exists():  # collected with this very policy before an interruption
            grasps, collect_core_s = _read_experience(path), math.nan
        else:
            grasps, collect_core_s = _collect(args, source, policy, iteration)
            _write_experience(path, grasps)
        collect_s = time.perf_counter() - started
        for key in replay:
            replay[key].append(grasps[key])
        everything = {key: np.concatenate(value) for key, value in replay.items()}
        started = time.perf_counter()
        batches = torch.Generator().manual_seed(args.seed * 100_003 + iteration)  # a resumed run draws the same
        update = reinforce_update(policy, optimiser, everything, args.update_steps, args.batch_size, args.max_weight,
                                  args.baseline, args.entropy_weight, batches, state_value)
        row = _iteration_row(iteration, grasps, len(everything["reward"]), update, collect_core_s, collect_s,
                             time.perf_counter() - started)
        history.append(row)
        payload = policy_payload(policy, meta=meta, iteration=iteration, row=row)
        if iteration in args.keep:
            save_checkpoint(out / f"policy_iter_{iteration:03d}.pt", payload)
        save_checkpoint(out / "last.pt", {**payload, "optimiser": optimiser.state_dict(), "history": history,
                                          "state_value": state_value.state_dict() if state_value is not None else None})
        write_atomic(out / "learning_curve.csv", pd.DataFrame(history).to_csv(index=False))
        _plot(history, out / "learning_curve.png", args.reward)
        if args.progress:
            bar.write(f"iteration {iteration}: mean reward {row['mean_reward']:+.2f}, true success "
                      f"{100 * row['true_success_rate']:.0f}% ({row['successes']}/{len(grasps['reward'])}), "
                      f"reward errors {100 * row['reward_error_rate']:.0f}%, loss {row['loss']:.3f}, "
                      f"{row['seconds']:.0f} s (collect {row['collect_s']:.0f}, update {row['update_s']:.0f})")


def _plot(history: list[dict], path: Path, reward: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    iterations = [r["iteration"] for r in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(iterations, [100 * r["true_success_rate"] for r in history], "o-", label="true success")
    left.plot(iterations, [50 * (r["mean_reward"] + 1) for r in history], "s--", label="rewarded success")
    left.plot(iterations, [100 * r["reward_error_rate"] for r in history], "^:", label="reward errors")
    left.set_xlabel("iteration")
    left.set_ylabel("% of the iteration's grasps")
    left.legend(fontsize=8)
    right.plot(iterations, [r["loss"] for r in history], "o-")
    right.set_xlabel("iteration")
    right.set_ylabel("REINFORCE loss")
    fig.suptitle(f"IVFP REINFORCE, reward {reward}", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


# --- command line ------------------------------------------------------------------------------


def add_commands(group) -> None:
    """Register ``reinforce`` on the ``graspbench ivfp`` group."""
    d = ReinforceArgs()
    p = group.add_parser("reinforce", help="improve a policy from its own probed grasps (REINFORCE, contextual bandit)")
    p.add_argument("--init", required=True, help="policy checkpoint to start from (e.g. RUN/best.pt of train-policy)")
    p.add_argument("--out", required=True, help="run folder; the same command again resumes it")
    p.add_argument("--env", default=d.env, help="environment id, spec file, or module:function returning one")
    p.add_argument("--split", choices=["train", "test", "all"], default=d.split, help="object split of an id or spec file")
    p.add_argument("--reward", default=d.reward, help="classifier:PATH, truth, or module:function (info -> float)")
    p.add_argument("--success-threshold", type=float, default=d.success_threshold, help="classifier rewards: P(success) for +1")
    p.add_argument("--iterations", type=int, default=d.iterations)
    p.add_argument("--grasps-per-iteration", type=int, default=d.grasps_per_iteration)
    p.add_argument("--grasps-per-bin", type=int, default=d.grasps_per_bin, help="grasps per collection task (one bin each)")
    p.add_argument("--update-steps", type=int, default=d.update_steps, help="gradient steps per iteration")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--max-weight", type=float, default=d.max_weight, help="c in min(pi / mu, c)")
    p.add_argument("--no-baseline", action="store_true", help="do not subtract the mean reward")
    p.add_argument("--no-state-value", action="store_true", help="no learned state-dependent part of the baseline")
    p.add_argument("--value-lr", type=float, default=d.value_lr, help="Adam learning rate of the state value")
    p.add_argument("--entropy-weight", type=float, default=d.entropy_weight)
    p.add_argument("--temperature", type=float, default=d.temperature, help="sampling temperature of the collection")
    p.add_argument("--free-space", action="store_true",
                   help="act only where the fingers come down on free space (graspbench's addition, not the paper's)")
    p.add_argument("--keep", default=",".join(map(str, d.keep)), help="iterations whose policy is kept, comma-separated")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--executor", choices=list(EXECUTORS), default=d.executor)
    p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    p.add_argument("--address", help="Ray cluster address (default: start a local one)")
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads of the update (0: one per core)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_reinforce)


def cmd_reinforce(args) -> int:
    try:
        keep = tuple(int(k) for k in args.keep.split(",") if k.strip())
    except ValueError:
        raise ValueError(f"--keep {args.keep!r}: give iteration numbers separated by commas, e.g. 20,50") from None
    reinforce(ReinforceArgs(init=args.init, out=args.out, env=args.env, split=args.split, reward=args.reward,
                            success_threshold=args.success_threshold, iterations=args.iterations,
                            grasps_per_iteration=args.grasps_per_iteration, grasps_per_bin=args.grasps_per_bin,
                            update_steps=args.update_steps, batch_size=args.batch_size, lr=args.lr,
                            max_weight=args.max_weight, baseline=not args.no_baseline,
                            state_value=not args.no_state_value, value_lr=args.value_lr,
                            entropy_weight=args.entropy_weight, temperature=args.temperature,
                            free_space=args.free_space, keep=keep, seed=args.seed,
                            executor=args.executor, workers=args.workers, address=args.address, threads=args.threads,
                            progress=not args.quiet))
    return 0
