"""Runs clutter-removal episodes and records every attempt.

:func:`run_episodes` runs one agent in one environment. :func:`run_sweep` runs environments x
agents x episodes in parallel (local processes or Ray), one work item per (environment, agent,
block of episodes), each written to its own CSV as it finishes: an interrupted sweep resumes
where it stopped when asked to (``resume=True``); otherwise a sweep starts afresh. Episode ``i``
is always reset with seed ``seed + i``, so every agent meets exactly the same scenes and
comparisons are paired.
"""

from __future__ import annotations

import functools
import hashlib
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from ..envs import make_env
from ..io import FileFormatError, read_csv, reading

COLUMNS = ["env", "agent", "seed", "episode", "attempt", "outcome", "success", "collision", "multi_pick", "removed",
           "objects_left", "objects_at_start", "level", "top_level", "planning_ms", "sim_time_s",
           "u", "v", "angle_rad", "opening_px", "depth_m", "quality", "on_object", "first_contact"]
EPISODES_PER_TASK = 5
BLOCK_PATTERN = "*__seed*__?????-?????.csv"  # the name of a block's records, see run_sweep
# What the summary is computed from: a file of records without them cannot be summarised.
REQUIRED_COLUMNS = ["env", "agent", "seed", "episode", "outcome", "success", "collision", "removed", "objects_at_start",
                    "planning_ms"]
NUMERIC_COLUMNS = ["seed", "episode", "removed", "objects_at_start", "planning_ms"]


def run_episodes(env_id: str, agent, episodes, seed: int = 0, progress: bool = True, **env_overrides) -> pd.DataFrame:
    """One row per grasp attempt. ``episodes``: a count, or the episode indices to run."""
    env = make_env(env_id, **env_overrides)
    indices = range(episodes) if isinstance(episodes, int) else episodes
    rows = []
    try:
        for episode in tqdm(indices, desc=f"{agent.name} on {env_id}", disable=not progress, unit="episode"):
            observation, info = env.reset(seed=seed + episode)
            agent.reset(seed + episode)
            done = False
            while not done:
                start = time.perf_counter()
                grasp = agent.act(observation, info)
                planning_ms = 1000 * (time.perf_counter() - start)
                observation, reward, terminated, truncated, info = env.step_grasp(grasp)
                done = terminated or truncated
                # The last columns are what `graspbench analyze` needs: the grasp as planned, where it
                # was aimed, what the hand hit first.
                rows.append({
                    "env": env_id, "agent": agent.name, "seed": seed, "episode": episode,
                    "attempt": info["attempt"], "outcome": info["outcome"], "success": bool(reward),
                    "collision": info["collision"], "multi_pick": info["outcome"] == "multi_pick",
                    "removed": len(info["removed_ids"]), "objects_left": info["objects_left"],
                    "objects_at_start": info["objects_at_start"], "level": info["level"], "top_level": info["top_level"],
                    "planning_ms": round(planning_ms, 3), "sim_time_s": round(info["sim_time_s"], 4),
                    "u": grasp.u, "v": grasp.v, "angle_rad": grasp.angle_rad, "opening_px": grasp.opening_px,
                    "depth_m": grasp.depth_m, "quality": grasp.quality, "on_object": info["target_id"] is not None,
                    "first_contact": ";".join(f"{part}:{what}" for part, what in info["first_contacts"]),
                })
    finally:
        env.close()
    return pd.DataFrame(rows, columns=COLUMNS)


def load_agent(name_or_spec: str):
    """``make_agent``, with a spec that cannot be read failing as one line that names its file."""
    from ..agents import agent_spec_path, make_agent

    path = agent_spec_path(name_or_spec)
    with reading(path, "an agent spec", "fix its YAML: a mapping with a 'class' field (docs/own_planner.md)"):
        return make_agent(name_or_spec)


def read_records(path) -> pd.DataFrame:
    """Attempt records (a CSV of ``run_episodes`` rows); a damaged or foreign file fails naming it."""
    what = "a file of graspbench attempt records"
    fix = "delete it (a benchmark run again with --resume redoes only its block)"
    records = read_csv(path, what, fix, REQUIRED_COLUMNS, NUMERIC_COLUMNS)
    if records.empty:  # every episode makes at least one attempt
        raise FileFormatError(f"{path} is not {what} (no rows: a truncated file?); {fix}")
    return records


@functools.lru_cache(maxsize=32)
def _agent(name: str):
    return load_agent(name)


def _run_task(task: dict) -> str:
    """A worker's share of a sweep: some episodes of one agent in one environment, to a CSV."""
    from ..io import write_atomic

    attempts = run_episodes(task["env"], _agent(task["agent"]), task["episodes"], task["seed"], progress=False)
    write_atomic(Path(task["path"]), attempts.to_csv(index=False))
    return task["path"]


def inputs_fingerprint(env_id: str, agent: str) -> str:
    """A short hash of the files an agent's records in an environment depend on besides the seeds:
    the environment's spec, the agent's YAML and its weights. A block recorded with other files (an
    agent retrained, a spec edited) is not reused."""
    import gymnasium as gym

    from ..agents import agent_files

    env_spec = Path(gym.registry[env_id].kwargs["spec"]) if env_id in gym.registry else Path(env_id)
    digest = hashlib.sha256()
    for path in [env_spec, *agent_files(agent)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def run_sweep(envs: list[str], agents: list[str], episodes: int, out, seed: int = 0, executor: str = "local",
              workers: int | None = None, address: str | None = None, progress: bool = True,
              resume: bool = False) -> pd.DataFrame:
    """Every agent in every environment for ``episodes`` episodes; all attempt records, in order.

    Finished blocks of episodes are kept in ``out/attempts/``. With ``resume``, the blocks found
    there are reused when the environment specs and agents are the same (see ``inputs_fingerprint``);
    without it, the blocks of an earlier sweep are deleted first, so every record is made now. The
    records carry ``attrs``: ``resumed_blocks`` (reused) and ``discarded_blocks`` (deleted).
    """
    from ..parallel import run_tasks

    folder = Path(out) / "attempts"
    folder.mkdir(parents=True, exist_ok=True)
    discarded = [] if resume else sorted(folder.glob(BLOCK_PATTERN))
    for path in discarded:
        path.unlink()
    tasks = []
    for env_id in envs:
        for agent in agents:
            prefix = f"{env_id.replace('/', '_')}__{Path(agent).stem}-{inputs_fingerprint(env_id, agent)}__seed{seed}"
            for first in range(0, episodes, EPISODES_PER_TASK):
                block = list(range(first, min(first + EPISODES_PER_TASK, episodes)))
                name = f"{prefix}__{first:05d}-{block[-1]:05d}.csv"
                tasks.append({"env": env_id, "agent": agent, "episodes": block, "seed": seed, "path": str(folder / name)})
    todo = [t for t in tasks if not Path(t["path"]).exists()]
    with tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc="benchmark", unit="block", disable=not progress) as bar:
        for _ in run_tasks(_run_task, todo, executor=executor, workers=workers, address=address):
            bar.update()
    attempts = pd.concat([read_records(t["path"]) for t in tasks], ignore_index=True)
    attempts.attrs["resumed_blocks"] = len(tasks) - len(todo)  # a timing of this sweep covers only the rest
    attempts.attrs["discarded_blocks"] = len(discarded)
    return attempts
