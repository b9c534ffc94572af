"""The metrics, one definition each, with counts and 95% intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..outcomes import COLLISIONS, MULTI_PICKS, Outcome

Z_95 = 1.959964


@dataclass(frozen=True)
class Rate:
    """A proportion with its count and Wilson 95% interval."""

    hits: int
    total: int

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson score interval: well behaved near 0 and 1 and for small counts."""
        n = self.total
        if n == 0:
            return float("nan"), float("nan")
        p = self.hits / n
        centre = (p + Z_95**2 / (2 * n)) / (1 + Z_95**2 / n)
        half = Z_95 * np.sqrt(p * (1 - p) / n + Z_95**2 / (4 * n**2)) / (1 + Z_95**2 / n)
        return max(0.0, centre - half), min(1.0, centre + half)

    def __str__(self) -> str:
        low, high = self.interval
        return f"{100 * self.value:5.1f}% [{100 * low:5.1f}, {100 * high:5.1f}] ({self.hits}/{self.total})"


def summarize(attempts: pd.DataFrame) -> dict:
    """Grasp success, object removal, collision and multi-pick rates of a set of attempt records
    (the rows written by ``graspbench run --out``). Simulation errors are not attempts."""
    errors = attempts["outcome"] == Outcome.SIM_ERROR.value
    valid = attempts[~errors]
    n = len(valid)
    episodes = attempts.groupby(["seed", "episode"])
    objects_at_start = int(episodes["objects_at_start"].first().sum())
    summary = {
        "attempts": n,
        "episodes": len(episodes),
        "gsr": Rate(int(valid["success"].sum()), n),
        "removal_rate": Rate(int(attempts["removed"].sum()), objects_at_start),
        "collision_rate": Rate(int(valid["collision"].sum()), n),
        "multi_pick_rate": Rate(int(valid["outcome"].isin(MULTI_PICKS).sum()), n),
        "planning_ms": float(valid["planning_ms"].mean()) if n else float("nan"),
        "sim_errors": int(errors.sum()),
    }
    if {"u", "v"} <= set(valid.columns):
        new = valid["collision"].astype(bool) & ~repeats_failure(valid)
        summary["new_collision_rate"] = Rate(int(new.sum()), n)
    # Of the attempts aimed at an object (stacked scenes), how many aimed at one with nothing on it;
    # and of each episode's first attempts, when every support still carries its load.
    aimed = valid[valid["top_level"].notna()] if "top_level" in valid else valid.iloc[:0]
    if len(aimed):
        summary["top_level_rate"] = Rate(int(aimed["top_level"].astype(bool).sum()), len(aimed))
        first = aimed[aimed["attempt"] == 1]
        summary["first_top_level_rate"] = Rate(int(first["top_level"].astype(bool).sum()), len(first))
    return summary


REPEAT_RADIUS_PX = 4.0
"""a grasp centred this close to an earlier failed one of its episode tries the same grasp again"""


def repeats_failure(attempts: pd.DataFrame, radius_px: float = REPEAT_RADIUS_PX) -> pd.Series:
    """Which attempts aim within ``radius_px`` of an earlier failed attempt of the same episode.

    A failed grasp that disturbs nothing leaves the simulated scene as it was, and a planner that
    remembers nothing sees the same image and tries the same grasp until the episode ends; a real
    robot's failure usually moves the pile. Counting collisions without these repeats separates
    how often a planner chooses a colliding grasp from how long the protocol lets it insist."""
    repeat = pd.Series(False, index=attempts.index)
    keys = [k for k in ("agent", "env", "seed", "episode") if k in attempts]
    for _, episode in attempts.sort_values("attempt").groupby(keys, sort=False):
        uv, failed = episode[["u", "v"]].to_numpy(float), ~episode["success"].to_numpy(bool)
        # Attempt j repeats i < j when i failed within the radius: the strict lower triangle.
        near = np.hypot(*(uv[:, None, :] - uv[None, :, :]).transpose(2, 0, 1)) < radius_px
        repeat[episode.index] = (np.tril(near, k=-1) & failed[None, :]).any(axis=1)
    return repeat


UPH_RESAMPLES = 2000
"""bootstrap resamples of the units-per-hour interval"""
UPH_BOOTSTRAP_SEED = 0
"""fixed, so that the same records always give the same interval"""


def units_per_hour(successes: float, seconds: float) -> float:
    """Targets picked per hour: 3600 x successes / the seconds they took (motions plus planning)."""
    return 3600.0 * successes / seconds if seconds > 0 else float("nan")


@dataclass(frozen=True)
class UnitsPerHour:
    """Units per hour (UPH, bin picking) of a set of episodes, with a 95% interval.

    The interval is a percentile bootstrap over episodes (resampled with replacement, UPH_RESAMPLES
    times, seeded with UPH_BOOTSTRAP_SEED): episodes, not picks, are the independent units, since
    the picks of one episode share a bin. Fewer than two episodes have no interval (NaN).
    """

    successes: tuple[int, ...]
    """successful picks of each episode"""
    seconds: tuple[float, ...]
    """seconds of each episode: the simulated seconds of every motion plus the planning time"""

    @property
    def value(self) -> float:
        return units_per_hour(sum(self.successes), sum(self.seconds))

    @property
    def interval(self) -> tuple[float, float]:
        n = len(self.successes)
        if n < 2:
            return float("nan"), float("nan")
        rng = np.random.default_rng(UPH_BOOTSTRAP_SEED)
        draws = rng.integers(n, size=(UPH_RESAMPLES, n))
        successes, seconds = np.asarray(self.successes, float), np.asarray(self.seconds, float)
        uph = 3600.0 * successes[draws].sum(axis=1) / seconds[draws].sum(axis=1)
        low, high = np.percentile(uph, [2.5, 97.5])
        return float(low), float(high)

    def __str__(self) -> str:
        low, high = self.interval
        return f"{self.value:5.1f} [{low:5.1f}, {high:5.1f}] ({sum(self.successes)} picks in {sum(self.seconds):.0f} s)"


def summarize_picks(picks: pd.DataFrame) -> dict:
    """Success rate (SR) and units per hour (UPH) of a set of pick records (BinPick rows of
    ``run_episodes``: one row per target, its probes and retries included).

    SR = successes / picks. UPH = 3600 x successes / (simulated seconds of every motion of every
    attempt + planning seconds); see :class:`UnitsPerHour` for its interval.
    """
    n = len(picks)
    seconds = picks["sim_time_s"] + picks["planning_ms"] / 1000.0
    episodes = picks.assign(seconds=seconds).groupby(["seed", "episode"], sort=False)
    return {
        "picks": n,
        "episodes": len(episodes),
        "sr": Rate(int(picks["success"].sum()), n),
        "uph": UnitsPerHour(
            tuple(int(s) for s in episodes["success"].sum()), tuple(float(s) for s in episodes["seconds"].sum())
        ),
        "collision_rate": Rate(int(picks["outcome"].isin(COLLISIONS).sum()), n),
        "multi_pick_rate": Rate(int(picks["outcome"].isin(MULTI_PICKS).sum()), n),
        "seconds_per_pick": float(seconds.mean()) if n else float("nan"),
        "probes_per_pick": float(picks["probes"].mean()) if n else float("nan"),
        "retries_per_pick": float(picks["retries"].mean()) if n else float("nan"),
        "planning_ms": float(picks["planning_ms"].mean()) if n else float("nan"),
    }
