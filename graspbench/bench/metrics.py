"""The metrics, one definition each, with counts and 95% intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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
    valid = attempts[attempts["outcome"] != "sim_error"]
    n = len(valid)
    episodes = attempts.groupby(["seed", "episode"])
    objects_at_start = int(episodes["objects_at_start"].first().sum())
    summary = {
        "attempts": n,
        "episodes": len(episodes),
        "gsr": Rate(int(valid["success"].sum()), n),
        "removal_rate": Rate(int(attempts["removed"].sum()), objects_at_start),
        "collision_rate": Rate(int(valid["collision"].sum()), n),
        "multi_pick_rate": Rate(int((valid["outcome"] == "multi_pick").sum()), n),
        "planning_ms": float(valid["planning_ms"].mean()) if n else float("nan"),
        "sim_errors": int((attempts["outcome"] == "sim_error").sum()),
    }
    # Of the attempts aimed at an object (stacked scenes), how many aimed at one with nothing on it.
    aimed = valid[valid["top_level"].notna()] if "top_level" in valid else valid.iloc[:0]
    if len(aimed):
        summary["top_level_rate"] = Rate(int(aimed["top_level"].astype(bool).sum()), len(aimed))
    return summary
