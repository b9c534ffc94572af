"""Generalisation: results by object family (the novel suite), and novel environments beside the
default ones they copy.

An attempt's family is the family of its ``object_name`` (the object aimed at; in a scene of one
object, that object: see GraspEnv's info), read from the novel set's names (``novel/mug_02`` ->
``mug``). Attempts of other object sets, and attempts aimed at the background in scenes of several
objects, have no family and are left out of the family table.
"""

from __future__ import annotations

import pandas as pd

from ..sim.novel import family
from .catalogue import planner_protocol
from .metrics import Rate

# Each novel environment and the default environment whose protocol it copies.
NOVEL_ENVS = {"GraspBench/NovelSingle-v0": "GraspBench/Single-v0", "GraspBench/NovelPile-v0": "GraspBench/Pile-v0"}


def family_table(attempts: pd.DataFrame) -> pd.DataFrame:
    """One row per environment, agent and object family: attempts, grasp success with its 95%
    interval, and the slipped and collision shares of the attempts. Empty without novel objects."""
    columns = ["env", "agent", "family", "attempts", "gsr", "gsr_ci_low", "gsr_ci_high", "slip_rate", "collision_rate"]
    if "object_name" not in attempts:
        return pd.DataFrame(columns=columns)
    valid = attempts[attempts["outcome"] != "sim_error"]
    families = valid["object_name"].map(lambda name: family(name) if isinstance(name, str) else None)
    valid = valid.assign(family=families)[families.notna()]
    rows = []
    for (env, agent, fam), group in valid.groupby(["env", "agent", "family"], sort=True):
        n = len(group)
        gsr = Rate(int(group["success"].astype(bool).sum()), n)
        low, high = gsr.interval
        rows.append(
            {
                "env": env,
                "agent": agent,
                "family": fam,
                "attempts": n,
                "gsr": gsr.value,
                "gsr_ci_low": low,
                "gsr_ci_high": high,
                "slip_rate": float((group["outcome"] == "slipped").mean()),
                "collision_rate": float(group["collision"].astype(bool).mean()),
            }
        )
    table = pd.DataFrame(rows, columns=columns).round(4)
    order = {env: k for k, env in enumerate(dict.fromkeys(valid["env"]))}  # environments as the run had them
    return table.sort_values("env", key=lambda envs: envs.map(order), kind="stable", ignore_index=True)


def family_markdown(table: pd.DataFrame) -> list[str]:
    """Report lines: per environment, grasp success of each agent (rows) on each family (columns),
    with the attempts counted; then slips."""
    if table.empty:
        return []
    parts = [
        "## By object family",
        "",
        "Grasp success in percent (attempts) of the attempts on each family: the object aimed at, or the",
        "episode's one object in single-object scenes. Families and shapes: graspbench/sim/novel.py.",
        "",
    ]
    for env, group in table.groupby("env", sort=False):
        families = sorted(group["family"].unique())
        parts += [
            f"### {env}",
            "",
            "| agent | " + " | ".join(families) + " | slipped |",
            "| --- | " + " | ".join("---" for _ in families) + " | --- |",
        ]
        for agent, rows in group.groupby("agent", sort=True):
            by_family = rows.set_index("family")
            cells = [
                f"{100 * by_family.loc[f, 'gsr']:.0f} ({by_family.loc[f, 'attempts']})" if f in by_family.index else "-"
                for f in families
            ]
            slips = (rows["slip_rate"] * rows["attempts"]).sum() / rows["attempts"].sum()
            parts.append(f"| {agent} | " + " | ".join(cells) + f" | {100 * slips:.1f}% |")
        parts.append("")
    return parts


def beside_default_markdown(summary: pd.DataFrame, reference: pd.DataFrame | None, reference_path=None) -> list[str]:
    """Report lines: each agent's grasp success and removal on the novel environments beside the
    same agent's on the default environments they copy, from ``reference`` (the committed default
    suite's summary). Empty when the run has no novel environment or there is no reference."""
    novel = summary[summary["env"].isin(list(NOVEL_ENVS))]
    if novel.empty or reference is None:
        return []
    parts = [
        "## Beside the default suite",
        "",
        f"Grasp success (removal) in percent: the default environments from {reference_path}, the novel",
        "ones from this run. Same protocol and camera; the novel objects at real size, the default ones",
        "random_urdfs (test split) at 0.6.",
        "",
    ]
    pairs = [(NOVEL_ENVS[env], env) for env in NOVEL_ENVS if env in set(novel["env"])]
    header = [name.split("/")[-1] for pair in pairs for name in pair]
    parts += ["| agent | " + " | ".join(header) + " |", "| --- | " + " | ".join("---" for _ in header) + " |"]
    for agent in sorted(novel["agent"].unique()):
        cells = []
        for default_env, novel_env in pairs:
            for table, env in ((reference, default_env), (summary, novel_env)):
                row = table[(table["agent"] == agent) & (table["env"] == env)]
                cells.append(
                    "-" if row.empty else f"{100 * row.iloc[0]['gsr']:.1f} ({100 * row.iloc[0]['removal_rate']:.0f})"
                )
        parts.append(f"| {agent} | " + " | ".join(cells) + " |")
    return parts + [""]


SCRIPTED_AGENTS = ("random", "heuristic", "centroid", "clear-grasp", "random-mask")
"""agents that learn nothing: every other agent of a run is a learned planner"""


def novel_bars(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Issue 26's bars of the novel suite as (bar, measured, verdict) rows, from the family table
    (every environment's attempts on a family pooled)."""
    if table.empty:
        return []
    pooled = table.assign(successes=table["gsr"] * table["attempts"], slips=table["slip_rate"] * table["attempts"])
    pooled = pooled.groupby(["agent", "family"])[["attempts", "successes", "slips"]].sum()
    pooled["gsr"] = pooled["successes"] / pooled["attempts"]
    agents = set(pooled.index.get_level_values("agent"))
    # The bars judge planners as the benchmark runs them; their papers' protocol is reported beside.
    learned = sorted(a for a in agents - set(SCRIPTED_AGENTS) if a == planner_protocol(a))
    families = sorted(set(pooled.index.get_level_values("family")))
    rows = []

    def gsr(agent, fam):
        return pooled["gsr"].get((agent, fam), float("nan"))

    def counted(bar, checked, what, short, listed=None):
        """A bar every one of ``checked`` cases must meet: how many did and the first ``listed`` of
        those ``short`` of it (all of them when None)."""
        named = ", ".join(short[:listed]) + (" ..." if listed is not None and len(short) > listed else "")
        measured = f"{checked - len(short)} of {checked} {what}" + (f"; short: {named}" if short else "")
        return bar, measured, "met" if not short else "MISSED"

    bar = "every novel family: best learned planner's grasp success >= the heuristic's"
    if not learned or "heuristic" not in agents:
        rows.append((bar, "-", "not measured"))
    else:
        short = [
            f"{fam} ({100 * max(gsr(a, fam) for a in learned):.0f} vs {100 * gsr('heuristic', fam):.0f})"
            for fam in families
            if max(gsr(a, fam) for a in learned) < gsr("heuristic", fam)
        ]
        rows.append(counted(bar, len(families), "families", short))
    bar = "every novel family: every learned planner >= random + 20 points"
    if not learned or "random" not in agents:
        rows.append((bar, "-", "not measured"))
    else:
        short = [f"{a} on {fam}" for a in learned for fam in families if not gsr(a, fam) >= gsr("random", fam) + 0.20]
        rows.append(counted(bar, len(learned) * len(families), "pairs", short, listed=8))
    bar = "novel suite: slips <= 10% of each learned planner's attempts"
    if not learned:
        rows.append((bar, "-", "not measured"))
    else:
        slips = {a: pooled.loc[a, "slips"].sum() / pooled.loc[a, "attempts"].sum() for a in learned}
        worst = max(slips, key=slips.get)
        rows.append((bar, f"worst: {worst} {100 * slips[worst]:.1f}%", "met" if slips[worst] <= 0.10 else "MISSED"))
    return rows
