"""A REINFORCE run (``graspbench ivfp reinforce``): iterations of collecting grasps with the
current policy (:mod:`.bandit`) and updating it (:mod:`.reinforce`, the algorithm), stored so that
an interrupted run resumes to the same curve.

**Files** in ``--out``: ``experience/iter_NNN.npz`` (the grasps of each iteration: policy inputs,
actions, mu, rewards, outcomes), ``last.pt`` (policy, state value, optimiser, history: the resume
state, and itself a policy checkpoint), ``policy_iter_NNN.pt`` at the iterations of ``keep``
(RL@20, RL@50), ``learning_curve.csv`` and ``.png``, ``run.json``. Running the same command
again resumes after the last finished iteration and continues the same curve (every draw is
seeded by the iteration, the adaptive KL coefficient is in the history); an iteration whose
grasps were collected before an interruption reuses them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from tqdm import tqdm

from .. import __version__
from ..io import reading, resume_training, save_checkpoint, save_figure, write_atomic
from ..parallel import EXECUTORS
from ..versions import experiment_version
from .bandit import Reward, collect_iteration, env_source, env_widths_m, make_bandit_env, ray_session
from .policy import GraspPolicy, policy_from_checkpoint, policy_payload, read_checkpoint
from .reinforce import REPLAY_KEYS, StateValue, UpdateOptions, adapt_kl_coef, reinforce_update

UNTRAINED = "untrained"
"""``--init`` for a fresh policy network instead of a checkpoint"""

# --- the run -----------------------------------------------------------------------------------


@dataclass
class ReinforceArgs(UpdateOptions):
    """Every option of ``graspbench ivfp reinforce``: the update's (:class:`UpdateOptions`, above)
    and the run's (below)."""

    init: str = "runs/ivfp_policy/best.pt"
    """the policy to start from: a `graspbench ivfp train-policy` (or reinforce) checkpoint, or
    untrained: a fresh network drawn from --seed, close to uniform over the actions"""
    out: str = "runs/ivfp_rl"
    """run folder (see the module's docstring); an existing run with the same arguments is resumed"""
    env: str = "GraspBench/BinPick-v1"
    """environment: a Gymnasium id or spec file with a `pick:` section, or module:function returning one"""
    split: str | None = "train"
    """object split of an id or spec file: train (the paper's seen objects), test (unseen) or None
    (the spec's own); a module:function environment is what its function makes"""
    reward: str = "classifier:runs/ivfp_classifier/interactive-2.0s.pt"
    """classifier:PATH (probe classifier), truth (the simulator's outcome) or module:function (info -> +1 or -1)"""
    success_threshold: float = 0.5
    """classifier rewards: +1 when P(success) is at least this"""
    iterations: int = 50
    """iterations to run in all (a resumed run continues up to this)"""
    grasps_per_iteration: int = 64
    """grasps collected with the current policy per iteration (the paper: 64)"""
    grasps_per_bin: int = 8
    """grasps per collection task, in one bin filled for it; a task is the unit of parallel work"""
    lr: float = 1e-4
    """Adam learning rate"""
    value_lr: float = 1e-3
    """Adam learning rate of the state value"""
    temperature: float = 1.0
    """collection samples from softmax(logits / temperature); mu is that distribution's probability"""
    free_space: bool = False
    """act only where the fingers and palm come down on free space, where the target has such a
    grasp (graspbench's addition, not the paper's; see policy.action_masks); the policies keep it"""
    keep: tuple[int, ...] = (20, 50)
    """iterations whose policy is kept as policy_iter_NNN.pt (RL@20 and RL@50)"""
    seed: int = 0
    """seeds the collection tasks (bins and sampling) and the update's minibatches"""
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
        super().check()
        for name in ("iterations", "grasps_per_iteration", "grasps_per_bin"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0 or not self.value_lr > 0 or not self.temperature > 0:
            raise ValueError(
                f"--lr, --value-lr and --temperature must be positive, got {self.lr}, {self.value_lr} "
                f"and {self.temperature}"
            )
        if not 0 < self.success_threshold < 1:
            raise ValueError(f"--success-threshold must be between 0 and 1, got {self.success_threshold}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"--executor {self.executor!r} is not one of {EXECUTORS}")
        if self.split not in (None, "train", "test", "all"):
            raise ValueError(f"--split {self.split!r} is not one of train, test, all")

    @property
    def replay_window(self) -> int:
        """Iterations of grasps kept for the replay: those whose draw weight is still above 1/1000."""
        if not self.replay_size:
            return 0
        return self.iterations if self.recency == 1 else max(1, math.ceil(math.log(1e-3) / math.log(self.recency)))


REINFORCE_FREE = ("iterations", "progress", "threads", "executor", "workers", "address", "out", "keep")
"""Options a run may be resumed with changed: more iterations, other workers or threads."""


def experience_path(out: Path, iteration: int) -> Path:
    return out / "experience" / f"iter_{iteration:03d}.npz"


def _write_experience(path: Path, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def _read_experience(path: Path) -> dict:
    if not path.exists():
        raise ValueError(
            f"{path} is missing: a run resumes only with the grasps of every finished iteration; "
            "start over in another --out"
        )
    fix = "delete it and its run's last.pt, or start over in another --out"
    with reading(path, "an iteration's grasps", fix), np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
        missing = set(REPLAY_KEYS) - set(arrays)
        if missing:
            raise ValueError(f"it lacks {sorted(missing)}")
    return arrays


def _iteration_row(
    iteration: int,
    grasps: dict,
    total: int,
    update: dict,
    kl_coef: float,
    collect_core_s: float,
    collect_s: float,
    update_s: float,
) -> dict:
    success = grasps["outcome"] == "success"
    said_success = grasps["reward"] > 0
    return {
        "iteration": iteration,
        "grasps": total,
        "new_grasps": len(grasps["reward"]),
        "steps": update["steps"],
        "mean_reward": float(grasps["reward"].mean()),
        "true_success_rate": float(success.mean()),
        "successes": int(success.sum()),
        "reward_error_rate": float((said_success != success).mean()),
        "collision_rate": float((grasps["outcome"] == "collision").mean()),
        "loss": update["loss"],
        "baseline": update["baseline"],
        "value_error": update["value_error"],
        "mean_weight": update["weight"],
        "clipped_share": update["clipped"],
        "capped_share": update["capped"],
        "kl": update["kl"],
        "kl_coef": kl_coef,
        "entropy": update["entropy"],
        "sim_s_per_grasp": float(np.nanmean(grasps["sim_time_s"])),
        "collect_core_s": collect_core_s,
        "collect_s": collect_s,
        "update_s": update_s,
        "seconds": collect_s + update_s,
    }


def reinforce(args: ReinforceArgs) -> list[dict]:
    """Run (or resume) REINFORCE up to ``args.iterations``; returns the learning curve's rows."""
    args.check()
    Reward(args.reward, args.success_threshold)  # fail now, not in a worker, on a bad --reward
    source = env_source(args.env, args.split)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.init == UNTRAINED:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(args.seed)
            policy, init_sha256 = GraspPolicy(env_widths_m(make_bandit_env(source))).eval(), UNTRAINED
    else:
        policy = policy_from_checkpoint(read_checkpoint(args.init), args.init)
        init_sha256 = hashlib.sha256(Path(args.init).read_bytes()).hexdigest()[:16]
    meta = {
        "args": {**dataclasses.asdict(args), "keep": list(args.keep)},
        "init_sha256": init_sha256,
        "graspbench_version": __version__,
        "code_version": experiment_version("ivfp"),
    }
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
    state = resume_training(
        out,
        meta,
        "an IVFP REINFORCE state",
        f"delete {out} (or choose another --out) to start over",
        REINFORCE_FREE,
        ("the --init policies", "init_sha256"),
        policy,
        optimiser,
        defaults={**dataclasses.asdict(ReinforceArgs()), "keep": list(ReinforceArgs().keep)},
    )
    if state is not None:
        if state_value is not None:
            state_value.load_state_dict(state["state_value"])
        history = state["history"]
        if args.progress and len(history) < args.iterations:
            print(f"{out}: resuming after iteration {len(history)}")
    policy.eval()
    keys = REPLAY_KEYS + ("clear",) * args.free_space
    past = {}  # iteration -> what the update reads of its grasps, for the replay
    for iteration in range(max(1, len(history) - args.replay_window + 1), len(history) + 1):
        grasps = _read_experience(experience_path(out, iteration))
        past[iteration] = {key: grasps[key] for key in keys}

    with ray_session(args.executor, args.workers, args.address):
        _loop(args, source, policy, state_value, optimiser, history, past, meta, out)
    write_atomic(
        out / "run.json",
        json.dumps({**meta, "iterations_done": len(history), "seconds": sum(r["seconds"] for r in history)}, indent=1),
    )
    if args.progress:
        print(
            f"{out}: {len(history)} iterations; policies in {out}/last.pt"
            + "".join(f", {out}/policy_iter_{k:03d}.pt" for k in args.keep if k <= len(history))
            + f"; learning curve in {out}/learning_curve.csv and .png"
        )
    return history


def _replay(past: dict, iteration: int, window: int) -> dict | None:
    """The older grasps the update may replay, with their age in iterations."""
    kept = [k for k in sorted(past) if iteration - k <= window]
    if not kept:
        return None
    arrays = {key: np.concatenate([past[k][key] for k in kept]) for key in past[kept[0]]}
    arrays["age"] = np.concatenate([np.full(len(past[k]["reward"]), iteration - k) for k in kept])
    return arrays


def _loop(
    args: ReinforceArgs,
    source,
    policy: GraspPolicy,
    state_value: StateValue | None,
    optimiser,
    history: list[dict],
    past: dict,
    meta: dict,
    out: Path,
) -> None:
    """Iterations from the one after ``history``'s last to ``args.iterations``: collect, store, update, save."""
    bar = tqdm(
        range(len(history) + 1, args.iterations + 1),
        desc="REINFORCE",
        unit="iteration",
        disable=not args.progress,
        initial=len(history),
        total=args.iterations,
    )
    keys = REPLAY_KEYS + ("clear",) * args.free_space
    for iteration in bar:
        started = time.perf_counter()
        path = experience_path(out, iteration)
        if path.exists():  # collected with this very policy before an interruption
            grasps, collect_core_s = _read_experience(path), math.nan
        else:
            grasps, collect_core_s = collect_iteration(
                source,
                policy,
                [args.seed, iteration],
                args.grasps_per_iteration,
                args.grasps_per_bin,
                args.reward,
                args.success_threshold,
                args.temperature,
                args.grid,
                args.executor,
                args.workers,
                args.address,
            )
            _write_experience(path, grasps)
        collect_s = time.perf_counter() - started
        started = time.perf_counter()
        kl_coef = history[-1]["next_kl_coef"] if history else args.kl_coef
        new = {key: grasps[key] for key in keys}
        batches = torch.Generator().manual_seed(args.seed * 100_003 + iteration)  # a resumed run draws the same
        update = reinforce_update(
            policy, optimiser, new, args, _replay(past, iteration, args.replay_window), batches, state_value, kl_coef
        )
        total = (history[-1]["grasps"] if history else 0) + len(new["reward"])
        row = _iteration_row(
            iteration,
            grasps,
            total,
            update,
            kl_coef if args.trust_region == "kl" else math.nan,
            collect_core_s,
            collect_s,
            time.perf_counter() - started,
        )
        row["next_kl_coef"] = (
            adapt_kl_coef(kl_coef, update["kl"], args.kl_target) if args.trust_region == "kl" else kl_coef
        )
        history.append(row)
        past[iteration] = new
        for old in [k for k in past if iteration + 1 - k > args.replay_window]:
            del past[old]
        payload = policy_payload(policy, meta=meta, iteration=iteration, row=row)
        if iteration in args.keep:
            save_checkpoint(out / f"policy_iter_{iteration:03d}.pt", payload)
        save_checkpoint(
            out / "last.pt",
            {
                **payload,
                "optimiser": optimiser.state_dict(),
                "history": history,
                "state_value": state_value.state_dict() if state_value is not None else None,
            },
        )
        write_atomic(out / "learning_curve.csv", pd.DataFrame(history).to_csv(index=False))
        _plot(history, out / "learning_curve.png", args)
        if args.progress:
            bar.write(
                f"iteration {iteration}: mean reward {row['mean_reward']:+.2f}, true success "
                f"{100 * row['true_success_rate']:.0f}% ({row['successes']}/{row['new_grasps']}), "
                f"reward errors {100 * row['reward_error_rate']:.0f}%, KL {row['kl']:.4f}, entropy "
                f"{row['entropy']:.2f}, weight {row['mean_weight']:.2f} ({100 * row['clipped_share']:.0f}% "
                f"clipped), {row['steps']} steps, {row['seconds']:.0f} s (collect {row['collect_s']:.0f}, "
                f"update {row['update_s']:.0f})"
            )


def _plot(history: list[dict], path: Path, args: ReinforceArgs) -> None:
    iterations = [r["iteration"] for r in history]
    fig = Figure(figsize=(10, 6.4))
    (success, weights), (kl, spread) = fig.subplots(2, 2)
    success.plot(iterations, [100 * r["true_success_rate"] for r in history], "o-", label="true success")
    success.plot(iterations, [50 * (r["mean_reward"] + 1) for r in history], "s--", label="rewarded success")
    success.plot(iterations, [100 * r["reward_error_rate"] for r in history], "^:", label="reward errors")
    success.set_ylabel("% of the iteration's grasps")
    success.legend(fontsize=8)
    weights.plot(iterations, [r["mean_weight"] for r in history], "o-", label="mean importance weight")
    weights.plot(
        iterations, [r.get("clipped_share", math.nan) for r in history], "s--", label="share outside the trust region"
    )
    weights.plot(
        iterations,
        [r.get("capped_share", math.nan) for r in history],
        "^:",
        label=f"share at the cap {args.max_weight:g}",
    )
    weights.axhline(1, color="grey", linewidth=0.8, linestyle=":")
    weights.legend(fontsize=8)
    kl.plot(iterations, [r.get("kl", math.nan) for r in history], "o-", label="KL(mu || pi) after the update")
    if args.trust_region == "kl":
        kl.axhline(args.kl_target, color="grey", linewidth=0.8, linestyle="--", label="target")
    kl.set_ylabel("nats")
    kl.legend(fontsize=8)
    spread.plot(iterations, [r["entropy"] for r in history], "o-", color="tab:purple")
    spread.set_ylabel("policy entropy (nats)")
    for axis in (success, weights, kl, spread):
        axis.set_xlabel("iteration")
    fig.suptitle(f"IVFP REINFORCE, reward {args.reward}, trust region {args.trust_region}", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
