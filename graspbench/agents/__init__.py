"""Agents: anything that turns an observation into a grasp.

- :mod:`.protocol`: the protocol every planner follows (learned ones included);
- :mod:`.scripted`: scripted agents for clutter removal (random, the depth heuristic);
- :mod:`.picking`: scripted agents for target picking (centroid, random-mask, clear-grasp).

The network agent lives with the networks (:mod:`graspbench.planners.agent`); the catalogue of
shipped agents (``agents/*.yaml``, ``make_agent``) beside the runner (:mod:`graspbench.bench.catalogue`).
"""

from .protocol import Agent, camera_from_info
from .scripted import FailedGrasps, HeuristicAgent, RandomAgent

__all__ = ["Agent", "FailedGrasps", "HeuristicAgent", "RandomAgent", "camera_from_info"]
