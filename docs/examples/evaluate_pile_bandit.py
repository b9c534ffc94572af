"""The Pile bandit's policies on piles REINFORCE never saw (docs/ivfp.md, "A second bandit").

    python docs/examples/evaluate_pile_bandit.py untrained runs/ivfp_rl_pile/policy_iter_010.pt \
        runs/ivfp_rl_pile/policy_iter_030.pt

Each policy acts greedily (its most likely width, then cell) on the same piles, 8 grasps each,
from seed 100000 (REINFORCE collects from seeds drawn by (seed, iteration, task)); ``untrained`` is
the network ``reinforce --init untrained --seed 0`` starts from. Prints success and collisions with
their 95% Wilson intervals.
"""

import argparse

import numpy as np
import torch

from graspbench.bench.metrics import Rate
from graspbench.grasp import Grasp
from graspbench.ivfp.clutter_bandit import pile
from graspbench.ivfp.policy import GraspPolicy, load_policy

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("policies", nargs="+", help="policy checkpoints, or untrained")
parser.add_argument("--piles", type=int, default=25, help="piles, 8 grasps each")
parser.add_argument("--seed", type=int, default=100_000, help="the first pile's seed")
args = parser.parse_args()

torch.set_num_threads(1)
bandit = pile()
for name in args.policies:
    if name == "untrained":
        torch.manual_seed(0)
        policy = GraspPolicy(bandit.bench_spec.pick.widths_m).eval()
    else:
        policy = load_policy(name)
    outcomes = []
    for p in range(args.piles):
        observation, info = bandit.reset(seed=args.seed + p)
        for k in range(8):
            if k:
                observation, info = bandit.reset()
            action = policy.act(observation)
            width_m = policy.widths_m[action.width_index]
            grasp = Grasp(action.u, action.v, 0.0, bandit.width_to_opening_px(width_m, action.u, action.v))
            outcomes.append(bandit.step_grasp(grasp)[-1]["outcome"])
    outcomes = np.array(outcomes)
    success, collision = Rate(int((outcomes == "success").sum()), len(outcomes)), Rate(
        int((outcomes == "collision").sum()), len(outcomes)
    )
    print(f"{name}: success {success}, collisions {collision} ({len(outcomes)} grasps)")
