"""REINFORCE as a contextual bandit (Murray et al., section IV.C): the policy improves from its
own probed grasps, rewarded +1 / -1 by the probe classifier (or any other reward); the work of
``graspbench ivfp reinforce``: the algorithm. The bandit it learns from (rewards, environments, collecting grasps
in workers) is :mod:`.bandit`.

**An iteration.** ``grasps_per_iteration`` grasps (the paper: 64) are collected with the current
policy, the behaviour policy mu, sampled from it (a width from Q_width, then a cell, or with
``grid`` > 1 a block of grid x grid cells, from Q_grasp's masked softmax at that width); each
grasp's log-probability log mu(a | s) is stored with it. Every grasp is probed and rewarded; its
true outcome is stored beside the reward, so the reward's error rate is known. Then the update.

**The update** (issue 27: the first one took 16 full-batch steps on the first 64 grasps and drew
uniformly from everything gathered, so iteration 1's grasps were reused about 72 times and the
fiftieth's 0.3 times; its weights were clipped only from above with the gradient flowing at the
clip, and no entropy term: the policy moved 10 nats of KL from imitation and gained nothing):

* *Steps in proportion to the new data*: ``passes`` passes over the newest iteration's grasps in
  minibatches of ``batch_size``, so ``passes * ceil(new / batch_size)`` steps whatever was gathered
  before (:func:`update_steps`). Each minibatch adds ``replay_size`` older grasps drawn with
  probability proportional to ``recency ** age`` (age in iterations): the recent past helps, the
  first iteration does not dominate.
* *The loss*, per grasp i with advantage A_i = R_i - b(s_i) and ratio r_i = pi(a_i | s_i) / mu(a_i | s_i)::

      L = -mean_i[ sg(min(r_i, c)) * A_i * m_i * log pi(a_i | s_i) ] - beta * mean_i H(pi(. | s_i)) [+ kappa * KL]

  ``sg`` stops the gradient through the capped importance weight (c = ``max_weight``; Chen et al.'s
  top-K off-policy correction). The trust region (``trust_region``) keeps each update near the
  policy that acted: ``clip`` (default) sets m_i = 0 where PPO's clipped surrogate has no gradient
  (r_i > 1 + eps with A_i > 0, or r_i < 1 - eps with A_i < 0; eps = ``clip_eps``), which makes
  the gradient exactly PPO's (grad r = r grad log pi) with r capped at c; ``kl`` keeps m_i = 1 and
  adds kappa KL(mu || pi), estimated from mu's own samples as mean((r - 1) - log r) (unbiased,
  never negative), kappa adapted after each iteration (x2 above 1.5 x ``kl_target``, /2 below
  ``kl_target`` / 1.5). beta = ``entropy_weight`` (0.01): H is the width's entropy plus the cell's
  (block's) at the grasp's width.
* *The baseline* b(s): the recency-weighted mean reward of the grasps the update reads
  (``baseline``), plus, optionally (``state_value``), a learned per-state part
  (:class:`StateValue`), fitted on the replayed older grasps only, never on the grasps it
  baselines.

Each iteration's row in ``learning_curve.csv`` (and the plot) has, after the update and on the
newest grasps: the mean importance weight, the share of grasps outside the trust region
(``clipped_share``) and at the weight cap (``capped_share``), the KL to the behaviour policy, the
entropy; and the reward and true success of the grasps collected.

**Free space** (``--free-space``, graspbench's addition): collection and update use the policy
acting only on clear grasps where the target has one (:func:`.policy.action_masks`); each grasp's
clear cells are stored with it, so mu and pi are over the same actions.

The run (collecting, storing, resuming, the learning curve): :mod:`.reinforce_run`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .policy import (
    GraspPolicy,
    action_masks,
    block_log_probs,
    block_of,
    entropy,
    masked_log_softmax,
    to_tensors,
)

TRUST_REGIONS = ("clip", "kl")


# --- the update --------------------------------------------------------------------------------


@dataclass
class UpdateOptions:
    """How one iteration's update learns from the grasps (see the module's docstring)."""

    passes: int = 2
    """passes over the newest iteration's grasps: passes * ceil(new / batch_size) gradient steps"""
    batch_size: int = 32
    """newest grasps per gradient step"""
    replay_size: int = 16
    """older grasps added to every step, drawn with probability recency ** age; 0: the newest only"""
    recency: float = 0.5
    """factor by which an older grasp's chance of being replayed falls per iteration of age"""
    trust_region: str = "clip"
    """clip: PPO's clipped ratio to the behaviour policy; kl: an adaptive KL(mu || pi) penalty"""
    clip_eps: float = 0.2
    """eps of the clipped ratio: no gradient pushes pi / mu beyond [1 - eps, 1 + eps]"""
    kl_target: float = 0.01
    """kl: the KL to the behaviour policy per iteration that the penalty's coefficient is adapted to"""
    kl_coef: float = 0.2
    """kl: the penalty's coefficient at the first iteration (then x2 or /2 after each)"""
    max_weight: float = 10.0
    """c, the cap of the importance weights min(pi / mu, c) (held constant in the gradient)"""
    entropy_weight: float = 0.01
    """beta, the weight of the entropy bonus; 0: none"""
    baseline: bool = True
    """subtract the recency-weighted mean reward of the grasps the update reads"""
    state_value: bool = False
    """add a learned per-state part to the baseline (StateValue), fitted on the replayed grasps only"""
    grid: int = 1
    """policy cells per side of one action: 1 every cell; k > 1 a coarser grid of k x k blocks"""

    def check(self) -> None:
        for name in ("passes", "batch_size", "grid"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.replay_size < 0:
            raise ValueError(f"--replay-size must not be negative, got {self.replay_size}")
        if not 0 < self.recency <= 1:
            raise ValueError(f"--recency must be in (0, 1], got {self.recency}")
        if self.trust_region not in TRUST_REGIONS:
            raise ValueError(f"--trust-region {self.trust_region!r} is not one of {TRUST_REGIONS}")
        if not 0 < self.clip_eps < 1 or not self.kl_target > 0 or not self.kl_coef >= 0 or not self.max_weight > 0:
            raise ValueError(
                f"--clip-eps must be in (0, 1), --kl-target and --max-weight positive, --kl-coef not "
                f"negative; got {self.clip_eps}, {self.kl_target}, {self.max_weight}, {self.kl_coef}"
            )
        if self.entropy_weight < 0:
            raise ValueError(f"--entropy-weight must not be negative, got {self.entropy_weight}")


def update_steps(new_grasps: int, options: UpdateOptions) -> int:
    """Gradient steps of one update: in proportion to the new data, whatever was gathered before."""
    return options.passes * math.ceil(new_grasps / options.batch_size)


def importance_weights(log_pi: torch.Tensor, log_mu: torch.Tensor, max_weight: float) -> torch.Tensor:
    """min(pi / mu, c), computed from log-probabilities."""
    return torch.exp(log_pi - log_mu).clamp(max=max_weight)


def kl_to_behaviour(log_pi: torch.Tensor, log_mu: torch.Tensor) -> torch.Tensor:
    """KL(mu || pi) estimated from grasps mu drew: mean of (r - 1) - log r with r = pi / mu
    (unbiased, and never negative, unlike the mean of -log r)."""
    log_ratio = log_pi - log_mu
    return (torch.expm1(log_ratio) - log_ratio).mean()


def inside_trust_region(ratio: torch.Tensor, advantage: torch.Tensor, clip_eps: float) -> torch.Tensor:
    """Where PPO's clipped surrogate min(r A, clip(r, 1 - eps, 1 + eps) A) has a gradient: everywhere
    except where r is already beyond 1 + eps with A > 0, or below 1 - eps with A < 0."""
    return ~(((ratio > 1 + clip_eps) & (advantage > 0)) | ((ratio < 1 - clip_eps) & (advantage < 0)))


class StateValue(nn.Module):
    """The state-dependent part of the baseline: b(s) = mean reward + g(s), g a small MLP on the
    policy's pooled state features, fitted to reward - mean by least squares on the replayed older
    grasps (never on the grasps it baselines: a value fitted on them absorbs their own reward).

    Why: every bin is seen once, and how hard the bin is explains more of a grasp's reward than
    which action was taken (on the first run's 3,200 grasps a ridge fit on the imitation policy's
    features predicted 25% of the held-out rewards' variance). Being a function of the state alone
    it leaves the gradient unbiased. g reads the features detached and starts at zero."""

    def __init__(self, state_features: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(state_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.net(state.detach())[:, 0]


def stored_log_probs(
    policy: GraspPolicy, batch: dict, grid: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For stored grasps: log pi(a | s) (B,), differentiable, over the actions each state allowed
    (free space too, where the grasps were collected on it; blocks of ``grid`` cells); the
    policy's entropy there (B,); the pooled state features (B, F)."""
    x, valid = to_tensors(batch, policy.input)
    width_allowed, cells = action_masks(
        valid, torch.as_tensor(batch["clear"]) if "clear" in batch else None, len(policy.widths_m)
    )
    width_index = torch.as_tensor(batch["width_index"], dtype=torch.long)
    fused, width_logits, state = policy.encode(x)
    width_log_probs = torch.log_softmax(width_logits.masked_fill(~width_allowed, float("-inf")), dim=1)
    rows = torch.arange(len(width_index))
    cells = cells[rows, width_index]
    shape = tuple(valid.shape[1:])
    action_log_probs = block_log_probs(
        masked_log_softmax(policy.grasp_logits(fused, width_index, shape), cells), shape, grid
    )
    chosen = block_of(torch.as_tensor(batch["cell"], dtype=torch.long), shape[1], grid)
    log_pi = width_log_probs[rows, width_index] + action_log_probs[rows, chosen]
    return log_pi, entropy(width_log_probs) + entropy(action_log_probs), state


def reinforce_loss(
    policy: GraspPolicy,
    batch: dict,
    baseline: float,
    options: UpdateOptions,
    state_value: StateValue | None = None,
    fit_value: np.ndarray | None = None,
    kl_coef: float = 0.0,
):
    """The loss of a batch of stored grasps (see the module's docstring) and its statistics: mean
    importance weight, share outside the trust region (``clipped``) and at the cap (``capped``), KL
    to the behaviour policy, mean entropy and baseline, the state value's error. ``fit_value``: the
    rows the state value is fitted on (default: none)."""
    log_pi, spread, state = stored_log_probs(policy, batch, options.grid)
    log_mu = torch.as_tensor(batch["log_mu"], dtype=torch.float32)
    reward = torch.as_tensor(batch["reward"], dtype=torch.float32)
    b = torch.full_like(reward, baseline)
    value_error = torch.zeros(())
    if state_value is not None:
        residual = state_value(state)
        if fit_value is not None and fit_value.any():
            rows = torch.from_numpy(fit_value)
            value_error = F.mse_loss(residual[rows], reward[rows] - baseline)
        b = b + residual.detach()
    advantage = reward - b
    ratio = torch.exp(log_pi.detach() - log_mu)
    weights = ratio.clamp(max=options.max_weight)  # a constant: no gradient through the capped weight
    inside = inside_trust_region(ratio, advantage, options.clip_eps)
    active = inside if options.trust_region == "clip" else torch.ones_like(inside)
    kl = kl_to_behaviour(log_pi, log_mu)
    loss = -(weights * advantage * active * log_pi).mean() - options.entropy_weight * spread.mean() + value_error
    if options.trust_region == "kl":
        loss = loss + kl_coef * kl
    return loss, {
        "weight": weights.mean().item(),
        "clipped": 1 - inside.float().mean().item(),
        "capped": (ratio >= options.max_weight).float().mean().item(),
        "kl": kl.item(),
        "entropy": spread.mean().item(),
        "baseline": b.mean().item(),
        "value_error": value_error.item(),
    }


def _take(arrays: dict, rows: np.ndarray) -> dict:
    return {key: value[rows] for key, value in arrays.items()}


def reinforce_update(
    policy: GraspPolicy,
    optimiser,
    new: dict,
    options: UpdateOptions,
    replay: dict | None = None,
    generator: torch.Generator | None = None,
    state_value: StateValue | None = None,
    kl_coef: float = 0.0,
) -> dict:
    """One iteration's update: :func:`update_steps` steps, each on ``batch_size`` of the ``new``
    grasps (a fresh permutation each pass) and ``replay_size`` of the ``replay`` (older grasps, with
    ``age`` in iterations), drawn with probability recency ** age. Returns the mean loss, the step
    count, and the statistics of :func:`reinforce_loss` on the new grasps after the update."""
    count = len(new["reward"])
    old = 0 if replay is None else len(replay["reward"])
    keys = [key for key in new if key != "age"]
    recency = options.recency ** replay["age"].astype(np.float64) if old else np.zeros(0)
    # The baseline: the recency-weighted mean reward of the grasps this update reads.
    weights = np.concatenate([np.ones(count), recency])
    rewards = np.concatenate([new["reward"], replay["reward"] if old else np.zeros(0)])
    mean = float(np.average(rewards, weights=weights)) if options.baseline else 0.0
    draw = torch.as_tensor(recency / recency.sum()) if old else None
    steps, losses = update_steps(count, options), []
    policy.train()
    for _ in range(options.passes):
        order = torch.randperm(count, generator=generator).numpy()
        for start in range(0, count, options.batch_size):
            batch = _take({key: new[key] for key in keys}, order[start : start + options.batch_size])
            fit_value = np.zeros(len(batch["reward"]), bool)
            if old and options.replay_size:
                picked = torch.multinomial(draw, options.replay_size, replacement=True, generator=generator).numpy()
                older = _take({key: replay[key] for key in keys}, picked)
                batch = {key: np.concatenate([batch[key], older[key]]) for key in keys}
                fit_value = np.concatenate([fit_value, np.ones(len(picked), bool)])
            loss, _ = reinforce_loss(policy, batch, mean, options, state_value, fit_value, kl_coef)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
    policy.eval()
    with torch.no_grad():  # where the update left the policy, on the grasps it just collected
        _, stats = reinforce_loss(policy, {key: new[key] for key in keys}, mean, options, state_value, None, kl_coef)
    return {"loss": float(np.mean(losses)), "steps": steps, **stats}


def adapt_kl_coef(kl_coef: float, kl: float, target: float) -> float:
    """The adaptive KL penalty's rule (Schulman et al. 2017): double the coefficient when the
    update moved more than 1.5 x the target, halve it when less than the target / 1.5."""
    if kl > 1.5 * target:
        return kl_coef * 2
    if kl < target / 1.5:
        return kl_coef / 2
    return kl_coef


REPLAY_KEYS = ("rgb", "height", "mask", "valid", "width_index", "cell", "log_mu", "reward")
"""What the update reads of each stored grasp (and ``clear``, acting on free space)."""
