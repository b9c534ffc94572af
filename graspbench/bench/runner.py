"""Runs episodes and records every attempt: clutter removal, and target picking (BinPick).

:func:`run_episodes` runs one agent in one environment. :func:`run_sweep` runs environments x
agents x episodes in parallel (local processes or Ray), one work item per (environment, agent,
block of episodes), each written to its own CSV as it finishes: an interrupted sweep resumes
where it stopped when asked to (``resume=True``); otherwise a sweep starts afresh. Episode ``i``
is always reset with seed ``seed + i``, so every agent meets exactly the same scenes and
comparisons are paired.

In a target-picking environment (task ``pick``: a spec with a ``pick:`` section, BinPick-v1) an
episode is a trial as the IVFP paper's: a new bin, then ``picks_per_trial`` picks of the targets
the environment names, the bin carried on between them. Each pick is one record
(:class:`~graspbench.outcomes.PickRecord`); each clutter-removal attempt one
:class:`~graspbench.outcomes.AttemptRecord`.
An agent with a ``pick(env, observation, info)`` method (verification in the loop) is handed the
environment and may probe, release and retry; every other agent acts once. Only the first pick of
a trial meets the same bin for every agent: later ones meet what earlier picks left.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from ..envs import make_env
from ..envs.spec import resolve_spec, spec_file
from ..io import (
    FileFormatError,
    checksum_path,
    damage,
    owns_out_folder,
    read_csv,
    reading,
    remove_damaged,
    write_checked,
)
from ..outcomes import MOTIONS, AttemptRecord, Outcome, PickRecord, flags
from ..parallel import run_tasks
from .catalogue import agent_code_version, agent_files, agent_spec_path, make_agent

COLUMNS = AttemptRecord.columns()
EPISODES_PER_TASK = 5
BLOCK_PATTERN = "*__seed*__?????-?????.csv"  # the name of a block's records, see run_sweep
BLOCK_NAME = re.compile(r"^(?P<who>.+)-[0-9a-f]{8}__seed(?P<seed>\d+)__\d{5}-\d{5}\.csv$")
"""a block's name: environment and agent (``who``), the fingerprint of their inputs, the seed, the episodes"""
# What the summary is computed from: a file of records without them cannot be summarised.
REQUIRED_COLUMNS = [
    "env",
    "agent",
    "seed",
    "episode",
    "outcome",
    "success",
    "collision",
    "removed",
    "objects_at_start",
    "planning_ms",
]
NUMERIC_COLUMNS = ["seed", "episode", "removed", "objects_at_start", "planning_ms"]
# A target-picking record is one pick: every grasp tried on the target (probes, releases, retries)
# and the motions they took, so that units per hour pay for all of them.
PICK_COLUMNS = PickRecord.columns()
PICKS_PER_TRIAL = 12
"""picks per episode of a target-picking environment: the IVFP paper's trials of 12 picks"""


def run_episodes(
    env_id: str,
    agent,
    episodes,
    seed: int = 0,
    progress: bool = True,
    picks_per_trial: int = PICKS_PER_TRIAL,
    **env_overrides,
) -> pd.DataFrame:
    """One row per grasp attempt (per pick in a target-picking environment, see the module's
    docstring). ``episodes``: a count, or the episode indices to run."""
    env = make_env(env_id, **env_overrides)
    indices = range(episodes) if isinstance(episodes, int) else episodes
    if env.task == "target_picking":
        try:
            return run_trials(env, env_id, agent, indices, seed, picks_per_trial, progress)
        finally:
            env.close()
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
                env.check_grasp(grasp, agent.name)  # an invalid grasp is the agent's error, never an attempt
                observation, reward, terminated, truncated, info = env.step_grasp(grasp)
                done = terminated or truncated
                rows.append(AttemptRecord.from_step(env_id, agent.name, seed, episode, grasp, planning_ms, info))
    finally:
        env.close()
    return records_frame(rows, AttemptRecord)


def records_frame(records: list, kind: type) -> pd.DataFrame:
    """A table of records (AttemptRecord or PickRecord), its columns the record's fields in order."""
    return pd.DataFrame([dataclasses.asdict(r) for r in records], columns=kind.columns())


def run_trials(env, env_id: str, agent, indices, seed: int, picks_per_trial: int, progress: bool) -> pd.DataFrame:
    """Target-picking episodes: a new bin (reset with seed + episode), then ``picks_per_trial``
    picks, each of the target a seedless reset names. One row per pick."""
    if picks_per_trial < 1:
        raise ValueError(f"picks_per_trial must be at least 1, got {picks_per_trial}")
    picks_with_env = callable(getattr(agent, "pick", None))
    rows = []
    for episode in tqdm(indices, desc=f"{agent.name} on {env_id}", disable=not progress, unit="trial"):
        observation, info = env.reset(seed=seed + episode)
        agent.reset(seed + episode)
        for pick in range(1, picks_per_trial + 1):
            if pick > 1:
                observation, info = env.reset()  # the same bin, a new target
            recorder = PickRecorder(env, agent.name)
            steps = env.world.steps
            start = time.perf_counter()
            if picks_with_env:
                agent.pick(recorder, observation, info)
                planning_s = time.perf_counter() - start - recorder.step_s  # all of pick() but the environment's share
            else:
                grasp = agent.act(observation, info)
                planning_s = time.perf_counter() - start
                recorder.step_grasp(grasp)
            recorder.check((env.world.steps - steps) * env.world.time_step_s, agent.name)
            rows.append(
                PickRecord(
                    env=env_id,
                    split=env.bench_spec.scene.split,
                    agent=agent.name,
                    seed=seed,
                    episode=episode,
                    pick=pick,
                    target_name=info["target_name"],
                    planning_ms=round(1000 * planning_s, 3),
                    **recorder.record(),
                )
            )
    return records_frame(rows, PickRecord)


class PickRecorder:
    """The environment as an agent's ``pick`` sees it: the target-picking environment's
    ``step_grasp`` and ``width_to_opening_px``, with every attempt kept. The runner counts the
    motions itself, whatever the agent reports, and the classifier's time (``verify``, which the
    environment calls inside ``step_grasp``) as the agent's, not the environment's.

    Args:
        env: a BinPickEnv, just reset to a target (readable as ``.env``; stepping it directly fails
            the pick, see :meth:`check`).
    """

    def __init__(self, env, agent: str | None = None):
        self.env, self.agent = env, agent
        self.infos: list[dict] = []
        self.grasps: list = []
        self.step_s = 0.0
        """wall-clock seconds inside the environment's step_grasp, less verify's"""

    def step_grasp(self, grasp, verify=None):
        verify_s = 0.0

        def timed_verify(probe_rgb):
            nonlocal verify_s
            started = time.perf_counter()
            verdict = verify(probe_rgb)
            verify_s += time.perf_counter() - started
            return verdict

        self.env.check_grasp(grasp, self.agent)
        started = time.perf_counter()
        result = self.env.step_grasp(grasp, verify=None if verify is None else timed_verify)
        self.step_s += time.perf_counter() - started - verify_s
        self.grasps.append(grasp)
        self.infos.append(result[-1])
        return result

    def width_to_opening_px(self, width_m: float, u: float, v: float) -> float:
        return self.env.width_to_opening_px(width_m, u, v)

    def check(self, simulated_s: float, agent: str) -> None:
        """Units per hour must pay for every simulated second: fail if the agent moved the
        simulation other than through this recorder's ``step_grasp``."""
        counted = sum(info["sim_time_s"] for info in self.infos)
        if abs(simulated_s - counted) > 1e-6:
            raise RuntimeError(
                f"agent {agent}: the simulation ran {simulated_s:.3f} s during its pick, its grasps "
                f"account for {counted:.3f} s; pick() must step the environment only through the "
                f"env it is given (env.step_grasp)"
            )

    def record(self) -> dict:
        """The pick's columns: the outcome of its last attempt, the motions of all of them."""
        env = self.env
        motions = {f"{m}_s": round(sum(info["motion_s"][m] for info in self.infos), 4) for m in MOTIONS}
        if not self.infos:  # the agent gave up before grasping (no candidate on the target)
            return {
                "outcome": Outcome.NO_ATTEMPT.value,
                **flags(Outcome.NO_ATTEMPT),
                "removed": 0,
                "objects_left": len(env.scene.objects),
                "objects_at_start": env.objects_at_start,
                "sim_time_s": 0.0,
                **motions,
                "probes": 0,
                "retries": 0,
            }
        last, grasp = self.infos[-1], self.grasps[-1]
        return {
            "outcome": last["outcome"],
            **flags(last["outcome"]),
            "removed": sum(len(info["removed_ids"]) for info in self.infos),
            "objects_left": last["objects_left"],
            "objects_at_start": last["objects_at_start"],
            "sim_time_s": round(sum(info["sim_time_s"] for info in self.infos), 4),
            **motions,
            "probes": sum(bool(info["probed"]) for info in self.infos),
            "retries": len(self.infos) - 1,
            "u": grasp.u,
            "v": grasp.v,
            "opening_px": grasp.opening_px,
            "width_m": env.bench_spec.pick.widths_m[last["width_index"]],
        }


def load_agent(name_or_spec: str):
    """``make_agent``, with a spec that cannot be read failing as one line that names its file."""
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
    overrides = {"scene": {"split": task["split"]}} if task["split"] else {}
    attempts = run_episodes(
        task["env"],
        _agent(task["agent"]),
        task["episodes"],
        task["seed"],
        progress=False,
        picks_per_trial=task["picks_per_trial"],
        **overrides,
    )
    write_checked(Path(task["path"]), attempts.to_csv(index=False))
    return task["path"]


def inputs_fingerprint(env_id: str, agent: str) -> str:
    """A short hash of what an agent's records in an environment depend on besides the seeds: the
    environment's spec, the agent's YAML and its weights, and the code of the agent and of the
    simulator (``agent_code_version``). A block recorded with other inputs (an agent retrained or
    edited, a spec or the simulator changed) is not reused."""
    digest = hashlib.sha256(agent_code_version(agent).encode())
    for path in [spec_file(env_id), *agent_files(agent)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


@functools.lru_cache(maxsize=64)
def task_of(env_id: str) -> str:
    """The task of an environment (id or spec file), one of ``envs.spec.TASKS``."""
    return resolve_spec(env_id).task


def picks_targets(env_id: str) -> bool:
    """Whether an environment (id or spec file) is target picking."""
    return task_of(env_id) == "target_picking"


def env_entry(entry: str | tuple[str, str]) -> tuple[str, str | None]:
    """A sweep's environment: an id or spec file, or (id or spec file, object split), e.g.
    ("GraspBench/BinPick-v1", "train") for the IVFP paper's seen objects; the split None: the spec's."""
    if isinstance(entry, str):
        return entry, None
    env_id, split = entry
    return env_id, split


@owns_out_folder("benchmark")  # before anything is deleted: another run's blocks are its own
def run_sweep(
    envs: list[str | tuple[str, str]],
    agents: list[str],
    episodes: int,
    out,
    seed: int = 0,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    resume: bool = False,
    picks_per_trial: int = PICKS_PER_TRIAL,
) -> pd.DataFrame:
    """Every agent in every environment for ``episodes`` episodes; all attempt records, in order.
    ``envs``: see :func:`env_entry`; ``picks_per_trial``: picks per episode of target-picking ones.

    Finished blocks of episodes are kept in ``out/attempts/``. With ``resume``, the blocks found
    there are reused when the environment specs and agents are the same (see ``inputs_fingerprint``);
    without it, the blocks of an earlier sweep are deleted first, so every record is made now. The
    records carry ``attrs``: ``resumed_blocks`` (reused) and ``discarded_blocks`` (deleted). Once
    a resumed sweep is complete, the blocks of its environments and agents recorded with other
    inputs (an edited planner, new weights) are deleted too: no sweep can reuse them.
    """
    folder = Path(out) / "attempts"
    folder.mkdir(parents=True, exist_ok=True)
    discarded = [] if resume else _deleted(sorted(folder.glob(BLOCK_PATTERN)))
    tasks = []
    for entry in envs:
        env_id, split = env_entry(entry)
        # What a block's records depend on besides the files: the object split and the picks per trial.
        variant = (f"-{split}" if split else "") + (f"-{picks_per_trial}picks" if picks_targets(env_id) else "")
        for agent in agents:
            prefix = (
                f"{env_id.replace('/', '_')}{variant}__{Path(agent).stem}-{inputs_fingerprint(env_id, agent)}"
                f"__seed{seed}"
            )
            for first in range(0, episodes, EPISODES_PER_TASK):
                block = list(range(first, min(first + EPISODES_PER_TASK, episodes)))
                name = f"{prefix}__{first:05d}-{block[-1]:05d}.csv"
                tasks.append(
                    {
                        "env": env_id,
                        "split": split,
                        "agent": agent,
                        "episodes": block,
                        "seed": seed,
                        "picks_per_trial": picks_per_trial,
                        "path": str(folder / name),
                    }
                )
    todo = [t for t in tasks if not remove_damaged(t["path"], damage(t["path"]), "block")]  # verified, else redone
    with tqdm(
        total=len(tasks), initial=len(tasks) - len(todo), desc="benchmark", unit="block", disable=not progress
    ) as bar:
        for _ in run_tasks(_run_task, todo, executor=executor, workers=workers, address=address):
            bar.update()
    attempts = pd.concat([read_records(t["path"]) for t in tasks], ignore_index=True)
    if resume:
        discarded = _deleted(_superseded(folder, [Path(t["path"]).name for t in tasks]))
    attempts.attrs["resumed_blocks"] = len(tasks) - len(todo)  # a timing of this sweep covers only the rest
    attempts.attrs["discarded_blocks"] = len(discarded)
    return attempts


def _deleted(blocks: list[Path]) -> list[Path]:
    for path in blocks:
        path.unlink()
        checksum_path(path).unlink(missing_ok=True)
    return blocks


def _superseded(folder: Path, names: list[str]) -> list[Path]:
    """The blocks in ``folder`` of the same environments, agents and seed as ``names`` but another
    fingerprint of their inputs."""
    ours = {(m["who"], m["seed"]) for m in map(BLOCK_NAME.match, names) if m}
    return [
        path
        for path in sorted(folder.glob(BLOCK_PATTERN))
        if path.name not in names and (m := BLOCK_NAME.match(path.name)) and (m["who"], m["seed"]) in ours
    ]
