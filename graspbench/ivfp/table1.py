"""The IVFP paper's Table I in simulation: ``graspbench ivfp table1``.

Runs the ``ivfp`` benchmark suite (resumable: blocks already in ``--bench`` are reused), then puts
graspbench's success rate (SR) and units per hour (UPH) of every method beside the paper's, with
95% intervals, in ``results/ivfp.csv``, ``ivfp.png`` and ``ivfp.md``, and checks issue 11's bars
on seen objects.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ..bench.report import benchmark
from ..io import save_figure, write_atomic

# Murray et al., Table I: method -> objects -> (SR %, UPH); the paper ran no baseline on unseen objects.
PAPER_TABLE1 = {
    "centroid": {"seen": (44.83, 36.08)},
    "random-mask": {"seen": (29.61, 25.2)},
    "il": {"seen": (56.76, 45.92), "unseen": (49.16, 40.18)},
    "il-vitl": {"seen": (67.33, 43.76), "unseen": (57.51, 37.05)},
    "rl20": {"seen": (69.16, 56.58), "unseen": (61.66, 48.8)},
    "rl50": {"seen": (73.33, 58.4), "unseen": (62.51, 49.6)},
}
METHODS = {
    "centroid": "Centroid",
    "random-mask": "Random",
    "clear-grasp": "Clear grasp",
    "il": "IL",
    "il-free": "IL, free space",
    "il-vitl": "IL+ViTL",
    "rl20": "RL@20",
    "rl50": "RL@50",
    "rl-free20": "RL@20, free space",
}
OBJECTS = {"train": "seen", "test": "unseen"}


def table1(
    bench: str = "runs/ivfp_bench",
    out: str = "results",
    workers: int | None = None,
    progress: bool = True,
    agents: list[str] | None = None,
) -> pd.DataFrame:
    """Run (or resume) the ivfp suite (or only ``agents`` of it) into ``bench`` and write Table I into ``out``."""
    summary, _, _ = benchmark(
        "ivfp", out=bench, workers=workers, agents=agents, progress=progress, resume=True, reference=None
    )
    table = table_rows(summary)
    out = Path(out)
    write_atomic(out / "ivfp.csv", table.to_csv(index=False, float_format="%.4f"))
    _plot(table, out / "ivfp.png")
    write_atomic(out / "ivfp.md", markdown(table, bench))
    if progress:
        print(markdown(table, bench))
        print(f"wrote {out / 'ivfp.csv'}, .png and .md")
    return table


def table_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per method and object set of a benchmark summary of target picking, the paper's beside."""
    rows = []
    for r in summary[summary["split"].isin(list(OBJECTS))].itertuples():
        objects = OBJECTS[r.split]
        paper_sr, paper_uph = PAPER_TABLE1.get(r.agent, {}).get(objects, (math.nan, math.nan))
        rows.append(
            {
                "method": METHODS.get(r.agent, r.agent),
                "agent": r.agent,
                "objects": objects,
                "picks": r.attempts,
                "sr": 100 * r.sr,
                "sr_low": 100 * r.sr_ci_low,
                "sr_high": 100 * r.sr_ci_high,
                "uph": r.uph,
                "uph_low": r.uph_ci_low,
                "uph_high": r.uph_ci_high,
                "collision_rate": 100 * r.collision_rate,
                "probes_per_pick": r.probes_per_pick,
                "planning_ms": r.ctpg_ms,
                "paper_sr": paper_sr,
                "paper_uph": paper_uph,
            }
        )
    order = {agent: k for k, agent in enumerate(METHODS)}
    table = pd.DataFrame(rows)
    return table.sort_values(
        ["objects", "agent"], key=lambda c: c.map(order) if c.name == "agent" else c, ignore_index=True
    )


def bars(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Issue 11's bars on seen objects: (bar, measured, verdict). A method not in the table: 'not measured'."""
    seen = table[table["objects"] == "seen"].set_index("agent")

    def sr(agent):
        return seen.loc[agent, "sr"] if agent in seen.index else math.nan

    def uph(agent):
        return seen.loc[agent, "uph"] if agent in seen.index else math.nan

    def verdict(measured: list[float], ok: bool) -> str:
        return "not measured" if any(math.isnan(x) for x in measured) else ("met" if ok else "MISSED")

    il, rl20, rl50 = sr("il"), sr("rl20"), sr("rl50")
    rows = [
        ("RL@50 SR >= IL SR + 10 points", f"{rl50:.1f}% vs {il:.1f}%", verdict([il, rl50], rl50 >= il + 10)),
        (
            "RL@20 SR between IL and RL@50",
            f"{il:.1f}% <= {rl20:.1f}% <= {rl50:.1f}%",
            verdict([il, rl20, rl50], il <= rl20 <= rl50),
        ),
        (
            "IL+ViTL: higher SR than IL, lower UPH",
            f"SR {sr('il-vitl'):.1f}% vs {il:.1f}%, UPH {uph('il-vitl'):.1f} vs {uph('il'):.1f}",
            verdict([sr("il-vitl"), il], sr("il-vitl") > il and uph("il-vitl") < uph("il")),
        ),
    ]
    for agent in ("centroid", "random-mask"):
        rows.append(
            (
                f"{METHODS[agent]} SR below IL",
                f"{sr(agent):.1f}% vs {il:.1f}%",
                verdict([sr(agent), il], sr(agent) < il),
            )
        )
    return rows


def markdown(table: pd.DataFrame, bench) -> str:
    lines = [
        "# IVFP: the paper's Table I in simulation (Murray et al.)",
        "",
        f"`graspbench ivfp table1` (the `ivfp` benchmark suite, records in `{bench}`): 20 trials of 12 picks per "
        "method and object set on BinPick-v1, every method on the same bins. SR with its 95% Wilson interval, UPH "
        "with a 95% bootstrap interval over trials; graspbench / paper.",
        "",
        "| method | objects | picks | SR [95%] | paper SR | UPH [95%] | paper UPH | collisions | probes / pick "
        "| planning ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table.itertuples():
        paper_sr = "-" if math.isnan(r.paper_sr) else f"{r.paper_sr:.1f}%"
        paper_uph = "-" if math.isnan(r.paper_uph) else f"{r.paper_uph:.1f}"
        lines.append(
            f"| {r.method} | {r.objects} | {r.picks} | {r.sr:.1f}% [{r.sr_low:.1f}, {r.sr_high:.1f}] | {paper_sr} "
            f"| {r.uph:.1f} [{r.uph_low:.1f}, {r.uph_high:.1f}] | {paper_uph} | {r.collision_rate:.0f}% "
            f"| {r.probes_per_pick:.2f} | {r.planning_ms:.0f} |"
        )
    lines += [
        "",
        "| bar (seen objects) | measured | verdict |",
        "| --- | --- | --- |",
        *(f"| {bar} | {measured} | {verdict} |" for bar, measured, verdict in bars(table)),
        "",
    ]
    return "\n".join(lines)


def _plot(table: pd.DataFrame, path: Path) -> None:
    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    methods = list(dict.fromkeys(table["method"]))
    for ax, (key, title) in zip(axes, (("sr", "success rate (%)"), ("uph", "units per hour"))):
        for k, (objects, colour) in enumerate((("seen", "tab:blue"), ("unseen", "tab:orange"))):
            rows = table[table["objects"] == objects].set_index("method").reindex(methods)
            x = [m + (k - 0.5) * 0.38 for m in range(len(methods))]
            errors = [rows[key] - rows[f"{key}_low"], rows[f"{key}_high"] - rows[key]]
            ax.bar(
                x,
                rows[key],
                width=0.36,
                color=colour,
                alpha=0.8,
                yerr=errors,
                capsize=2,
                label=f"graspbench, {objects}",
            )
            ax.scatter(
                x, rows[f"paper_{key}"], marker="_", s=250, color="black", zorder=3, label="paper" if k == 0 else None
            )
        ax.set_xticks(range(len(methods)), methods, fontsize=8)
        ax.set_ylabel(title)
        ax.legend(fontsize=7)
    fig.suptitle("IVFP Table I: graspbench (bars, 95% intervals) and the paper (black)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
