"""Runs clutter-removal episodes of an agent in an environment and records every attempt."""

from __future__ import annotations

import time

import pandas as pd
from tqdm import tqdm

from ..envs import make_env

COLUMNS = ["env", "agent", "seed", "episode", "attempt", "outcome", "success", "collision", "removed",
           "objects_left", "objects_at_start", "level", "top_level", "planning_ms", "sim_time_s"]


def run_episodes(env_id: str, agent, episodes: int, seed: int = 0, progress: bool = True, **env_overrides) -> pd.DataFrame:
    """One row per grasp attempt. Episode ``i`` is reset with seed ``seed + i``, so every agent
    sees exactly the same scenes and comparisons between agents are paired."""
    env = make_env(env_id, **env_overrides)
    rows = []
    try:
        for episode in tqdm(range(episodes), desc=f"{agent.name} on {env_id}", disable=not progress, unit="episode"):
            observation, info = env.reset(seed=seed + episode)
            agent.reset(seed + episode)
            done = False
            while not done:
                start = time.perf_counter()
                grasp = agent.act(observation, info)
                planning_ms = 1000 * (time.perf_counter() - start)
                observation, reward, terminated, truncated, info = env.step_grasp(grasp)
                done = terminated or truncated
                rows.append({
                    "env": env_id, "agent": agent.name, "seed": seed, "episode": episode,
                    "attempt": info["attempt"], "outcome": info["outcome"], "success": bool(reward),
                    "collision": info["collision"], "removed": len(info["removed_ids"]),
                    "objects_left": info["objects_left"], "objects_at_start": info["objects_at_start"],
                    "level": info["level"], "top_level": info["top_level"],
                    "planning_ms": round(planning_ms, 3), "sim_time_s": round(info["sim_time_s"], 4),
                })
    finally:
        env.close()
    return pd.DataFrame(rows, columns=COLUMNS)
