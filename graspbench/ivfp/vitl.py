"""Verification in the loop (ViTL, Murray et al., section IV.D): probe every grasp, let the probe
classifier judge it, and extract only what it predicts will succeed.

For one target: take several widths from Q_width (the most likely, or drawn from it with
``sample``), compute Q_grasp's action map for each, and choose candidate grasps (width, u, v)
across the maps by their probability under the policy, pi(w) * pi(u, v | w), which is what the
policy predicts of their success. Candidates of one width are kept ``min_separation_px`` apart: a
retry a millimetre from a rejected grasp would be rejected again. Then, most likely first:
execute the candidate, probe, classify the probe's film; on a predicted success the hand extracts
(the pick's true outcome is then known), on a predicted failure it releases where the probe ended
and the next candidate is tried on the bin as it now is (its depth and target mask observed
afresh; a candidate no longer on the target is skipped). A collision also moves on to the next
candidate. The pick ends at the first extraction or when the candidates run out (``rejected``:
nothing extracted, a failed pick for the success rate).

Time: every motion of every attempt (approach, probe, release, extraction, settling) counts in
``sim_time_s``, so units per hour pay for the probes and retries; the wall-clock of planning and
of the classifier is reported beside it.

Needs an environment whose ``step_grasp`` takes ``verify`` (BinPickEnv does: see its class
docstring) and a classifier with ``predict_proba(probe_rgb) -> (1, 3)`` in
:data:`graspbench.ivfp.picks.CLASSES` order (a trained C_phi, or a scripted stand-in).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..grasp import Grasp
from .policy import GraspPolicy, cell_to_pixel

REJECTED = "rejected"
"""Pick outcome when every candidate was predicted to fail: nothing was extracted."""
LOST = "lost"
"""Pick outcome when the target left the overhead camera's view before any extraction."""


@dataclass(frozen=True)
class VitlSettings:
    """How verification in the loop chooses and tries its candidates."""

    widths: int = 3
    """widths taken from Q_width (the most likely first); one action map each"""
    candidates: int = 5
    """grasps tried at most on one target"""
    min_separation_px: float = 8.0
    """candidates of the same width lie at least this far apart (image pixels; 8 px is about 7 mm)"""
    success_threshold: float = 0.5
    """the classifier's P(success) from which a probed grasp is extracted"""
    sample: bool = False
    """draw widths and candidates from the policy (without replacement) instead of taking the most
    likely; either way they are tried in order of probability"""

    def check(self) -> None:
        if self.widths < 1 or self.candidates < 1:
            raise ValueError(f"vitl widths and candidates must be at least 1, got {self.widths} and {self.candidates}")
        if self.min_separation_px < 0:
            raise ValueError(f"vitl min_separation_px must not be negative, got {self.min_separation_px}")
        if not 0 < self.success_threshold < 1:
            raise ValueError(f"vitl success_threshold must be between 0 and 1, got {self.success_threshold}")


@dataclass
class Candidate:
    """A grasp ViTL may try."""

    width_index: int
    """index into the policy's widths_m"""
    u: float
    """image column"""
    v: float
    """image row"""
    log_prob: float
    """log pi(w) + log pi(u, v | w): the policy's preference, the order of trying"""


@dataclass
class VitlPick:
    """What happened to one target."""

    outcome: str
    """the extraction's true outcome (success, fail_multipick, fail_not_picked), or ``rejected`` /
    ``lost`` when nothing was extracted"""
    attempts: list[dict] = field(default_factory=list)
    """per executed candidate: width_m, u, v, log_prob, p_success (None after a collision),
    verdict, outcome (of the step: released, collision or the extraction's), sim_time_s"""
    skipped: int = 0
    """candidates not tried because they were no longer on the target"""
    sim_time_s: float = 0.0
    """simulated seconds of every motion of every attempt"""
    planning_s: float = 0.0
    """wall-clock seconds of choosing the candidates"""
    verify_s: float = 0.0
    """wall-clock seconds of the classifier"""
    observation: dict | None = None
    """the observation after the last attempt"""
    info: dict | None = None
    """the info of the last attempt"""


def vitl_candidates(
    policy: GraspPolicy,
    observation: dict,
    settings: VitlSettings = VitlSettings(),
    rng: np.random.Generator | None = None,
    info: dict | None = None,
) -> list[Candidate]:
    """The candidates for the current target, most likely first (``info``: the step's, for a
    policy acting on free space)."""
    settings.check()
    if settings.sample and rng is None:
        raise ValueError("vitl sample=True needs rng, a numpy Generator")
    mask = observation["target_mask"]
    with torch.no_grad():
        fused, width_log_probs, cells = policy.encode_one(policy.prepare(observation, info))
        allowed = int(np.isfinite(width_log_probs).sum())  # acting on free space can rule widths out
        widths = _top(width_log_probs, min(settings.widths, allowed), rng if settings.sample else None)
        pixel_log_probs = policy.cell_log_probs(fused, cells, widths)
    joint = width_log_probs[widths][:, None] + pixel_log_probs  # (widths, cells)
    keys = joint + (rng.gumbel(size=joint.shape) if settings.sample else 0.0)  # Gumbel top-k: drawn without replacement
    chosen: list[Candidate] = []
    cells = joint.shape[1]
    for flat in np.argsort(-keys, axis=None, kind="stable"):
        if not np.isfinite(keys.flat[flat]) or len(chosen) == settings.candidates:
            break
        row, cell = divmod(int(flat), cells)
        u, v = cell_to_pixel(cell, mask, policy.downsample)
        width = int(widths[row])
        if any(c.width_index == width and np.hypot(c.u - u, c.v - v) < settings.min_separation_px for c in chosen):
            continue
        chosen.append(Candidate(width, u, v, float(joint[row, cell])))
    return sorted(chosen, key=lambda c: -c.log_prob)


def _top(log_probs: np.ndarray, k: int, rng: np.random.Generator | None) -> np.ndarray:
    """Indices of the k most likely entries, or of k drawn without replacement (Gumbel top-k)."""
    keys = log_probs + (rng.gumbel(size=log_probs.shape) if rng is not None else 0.0)
    return np.argsort(-keys, kind="stable")[:k]


def vitl_pick(
    env,
    policy: GraspPolicy,
    classifier,
    observation: dict,
    settings: VitlSettings = VitlSettings(),
    rng: np.random.Generator | None = None,
    info: dict | None = None,
) -> VitlPick:
    """Pick the current target of ``env`` with verification in the loop (see the module's docstring)."""
    started = time.perf_counter()
    candidates = vitl_candidates(policy, observation, settings, rng, info)
    pick = VitlPick(outcome=REJECTED, planning_s=time.perf_counter() - started, observation=observation)
    widths_m = policy.widths_m
    judged: list[float] = []

    def verify(probe_rgb: np.ndarray) -> bool:
        verify_started = time.perf_counter()
        p_success = float(classifier.predict_proba(probe_rgb)[0, 0])
        pick.verify_s += time.perf_counter() - verify_started
        judged.append(p_success)
        return p_success >= settings.success_threshold

    for candidate in candidates:
        mask = observation["target_mask"]
        row, col = int(round(candidate.v)), int(round(candidate.u))
        if not mask[row, col]:  # the target moved since the candidates were chosen
            pick.skipped += 1
            continue
        width_m = widths_m[candidate.width_index]
        grasp = Grasp(candidate.u, candidate.v, 0.0, env.width_to_opening_px(width_m, candidate.u, candidate.v))
        judged.clear()
        observation, _, terminated, _, info = env.step_grasp(grasp, verify=verify)
        pick.sim_time_s += float(info["sim_time_s"])
        pick.attempts.append(
            {
                "width_m": width_m,
                "u": candidate.u,
                "v": candidate.v,
                "log_prob": candidate.log_prob,
                "p_success": judged[0] if judged else None,
                "verdict": info.get("verdict"),
                "outcome": info["outcome"],
                "sim_time_s": float(info["sim_time_s"]),
            }
        )
        pick.observation, pick.info = observation, info
        if info.get("verdict"):
            pick.outcome = info["outcome"]
            break
        if terminated:  # the target is out of view: nothing left to grasp
            pick.outcome = LOST
            break
    return pick
