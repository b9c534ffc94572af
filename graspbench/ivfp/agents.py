"""The IVFP policy as an agent for target picking (BinPick), following the protocol of
:mod:`graspbench.agents.protocol`: ``reset(seed)``, ``act(observation, info) -> Grasp``.

- :class:`PolicyAgent`: the IVFP policy from a checkpoint (imitation or REINFORCE), greedy or
  sampled; with ``vitl=True`` and a probe classifier it also picks with verification in the loop
  (:meth:`PolicyAgent.pick`), which needs the environment itself, not one grasp.

The paper's scripted baselines are in :mod:`graspbench.agents.picking`. The shipped agents are
``agents/{centroid,random-mask,clear-grasp,il,il-vitl,rl20,rl50}.yaml``;
``graspbench benchmark --suite ivfp`` evaluates them on BinPick-v1 (docs/ivfp.md).
"""

from __future__ import annotations

import time

import numpy as np

from ..agents.picking import opening_px
from ..grasp import Grasp


class PolicyAgent:
    """The IVFP policy.

    Args:
        checkpoint: a policy checkpoint (``train-policy``'s best.pt, ``reinforce``'s last.pt or
            policy_iter_NNN.pt).
        vitl: verification in the loop: :meth:`act` gives ViTL's first candidate, and
            :meth:`pick` tries the candidates on the environment until one is verified.
        sample: draw actions from the policy instead of taking its most likely (the paper
            evaluates greedily).
        classifier: the probe classifier checkpoint ViTL verifies with (needed with ``vitl``).
        vitl_widths: widths ViTL takes from Q_width.
        vitl_candidates: grasps ViTL tries at most per target.
        success_threshold: P(success) from which ViTL extracts.
        name: the agent's name in records.
        threads: torch threads for planning and verifying (1: the per-core time units per hour count).
        free_space: act only on free space (:func:`graspbench.ivfp.policy.action_masks`); None:
            as the checkpoint says (a REINFORCE run trained with ``--free-space`` keeps it).
    """

    def __init__(
        self,
        checkpoint: str,
        vitl: bool = False,
        sample: bool = False,
        classifier: str | None = None,
        vitl_widths: int = 3,
        vitl_candidates: int = 5,
        success_threshold: float = 0.5,
        name: str = "ivfp-policy",
        threads: int = 1,
        free_space: bool | None = None,
    ):
        # The policy's modules import torch: loaded here, by the one agent that needs them, so that
        # benchmark workers running only the scripted agents do not pay torch's import (~2 s each).
        import torch

        from .policy import load_policy
        from .vitl import VitlSettings

        torch.set_num_threads(threads)
        self.policy = load_policy(checkpoint)
        if free_space is not None:
            self.policy.free_space = free_space
        self.vitl, self.sample, self.name = vitl, sample, name
        self.settings = VitlSettings(
            widths=vitl_widths, candidates=vitl_candidates, success_threshold=success_threshold, sample=sample
        )
        self.settings.check()
        self.classifier = None
        if vitl:
            if classifier is None:
                raise ValueError(
                    "PolicyAgent: vitl=True needs classifier, the path of a probe classifier checkpoint "
                    "(`graspbench ivfp train-classifier`)"
                )
            from .classifier import load_classifier  # torch: see __init__

            self.classifier = load_classifier(classifier)
        self.rng = np.random.default_rng()

    def reset(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, observation: dict, info: dict) -> Grasp:
        width_m, u, v = self._choose(observation, info)
        return Grasp(u, v, 0.0, opening_px(observation, info, width_m, u, v))

    def _choose(self, observation: dict, info: dict | None) -> tuple[float, float, float]:
        """The grasp the policy prefers (with ``vitl``, ViTL's first candidate): width (m), u, v."""
        if self.vitl:
            from .vitl import vitl_candidates  # torch: see __init__

            best = vitl_candidates(self.policy, observation, self.settings, self.rng, info)[0]
            return self.policy.widths_m[best.width_index], best.u, best.v
        action = self.policy.act(observation, sample=self.sample, rng=self.rng, info=info)
        return self.policy.widths_m[action.width_index], action.u, action.v

    def pick(self, env, observation: dict, info: dict | None = None):
        """Pick the environment's current target: with ``vitl``, verification in the loop; without,
        the policy's one grasp, extracted unverified (what a runner does with :meth:`act`). Returns
        a :class:`~graspbench.ivfp.vitl.VitlPick` (outcome, attempts, simulated and planning time)."""
        from .vitl import VitlPick, vitl_pick  # torch: see __init__

        if self.vitl:
            return vitl_pick(env, self.policy, self.classifier, observation, self.settings, self.rng, info)
        started = time.perf_counter()
        width_m, u, v = self._choose(observation, info)
        grasp = Grasp(u, v, 0.0, env.width_to_opening_px(width_m, u, v))
        planning_s = time.perf_counter() - started
        observation, _, _, _, info = env.step_grasp(grasp)
        attempt = {
            "width_m": width_m,
            "u": u,
            "v": v,
            "log_prob": None,
            "p_success": None,
            "verdict": None,
            "outcome": info["outcome"],
            "sim_time_s": float(info["sim_time_s"]),
        }
        return VitlPick(
            outcome=info["outcome"],
            attempts=[attempt],
            sim_time_s=attempt["sim_time_s"],
            planning_s=planning_s,
            observation=observation,
            info=info,
        )
