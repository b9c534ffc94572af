"""REINFORCE as a contextual bandit (Murray et al., section IV.C): the policy improves from its
own probed grasps, rewarded +1 / -1 by the probe classifier (or any other reward); the work of
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

Rewards and environments: :mod:`.bandit`.

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
from matplotlib.figure import Figure
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from .. import __version__
from ..io import reading, save_figure, write_atomic
from ..parallel import EXECUTORS, _import_ray, run_tasks
from ..versions import experiment_version
from .bandit import Reward, collect_grasps, env_source
from .policy import (
    GraspPolicy,
    action_log_prob,
    action_masks,
    entropy,
    masked_log_softmax,
    policy_from_checkpoint,
    policy_payload,
    read_checkpoint,
    save_checkpoint,
    to_tensors,
)
from .runs import refuse_other_run

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


REINFORCE_FREE = ("iterations", "progress", "threads", "executor", "workers", "address", "out", "keep")
"""Options a run may be resumed with changed: more iterations, other workers or threads."""


def reinforce(args: ReinforceArgs) -> list[dict]:
    """Run (or resume) REINFORCE up to ``args.iterations``; returns the learning curve's rows."""
    args.check()
    Reward(args.reward, args.success_threshold)  # fail now, not in a worker, on a bad --reward
    source = env_source(args.env, args.split)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    init = read_checkpoint(args.init)
    meta = {"args": {**dataclasses.asdict(args), "keep": list(args.keep)},
            "init_sha256": hashlib.sha256(Path(args.init).read_bytes()).hexdigest()[:16], "graspbench_version": __version__,
            "code_version": experiment_version("ivfp")}
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
        refuse_other_run(out, state["meta"]["args"], meta["args"], REINFORCE_FREE,
                         {**dataclasses.asdict(ReinforceArgs()), "keep": list(ReinforceArgs().keep)},
                         inputs=(("the --init policies", state["meta"]["init_sha256"], meta["init_sha256"]),),
                         fix="choose another --out")
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
    iterations = [r["iteration"] for r in history]
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
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
