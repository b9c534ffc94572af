"""Table III of Murray et al.: the passive and the interactive probe classifiers, trained on the
seen collection (one split for all), tested on its test part and on the unseen collection, beside
the paper's figures (``graspbench ivfp table3``; results/ivfp_classifier.*).

Each row is a :class:`.classifier.ClassifierArgs` that differs only in ``probe_s``: the passive
baseline sees frame 0 (0 s), the interactive rows the first 0.5-2.0 s of the probe film.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ..io import save_figure, write_atomic
from .classifier import ClassifierArgs, _fingerprint, _reusable, frame_indices, load_films, train_classifier

TABLE3_PROBES_S = (0.0, 0.5, 1.0, 1.5, 2.0)
"""The rows of Table III: 0 is the passive baseline, the others the interactive probe durations."""
PAPER_TABLE3 = {  # probe_s -> objects -> (precision, recall, accuracy), Murray et al. Table III
    0.0: {"seen": (0.50, 0.56, 0.46), "unseen": (0.43, 0.41, 0.41)},
    0.5: {"seen": (0.69, 0.72, 0.72), "unseen": (0.61, 0.62, 0.64)},
    1.0: {"seen": (0.79, 0.81, 0.81), "unseen": (0.72, 0.76, 0.75)},
    1.5: {"seen": (0.84, 0.86, 0.87), "unseen": (0.81, 0.83, 0.83)},
    2.0: {"seen": (0.94, 0.93, 0.94), "unseen": (0.92, 0.90, 0.90)},
}


def _name(probe_s: float) -> str:
    return "passive" if probe_s == 0 else f"interactive-{probe_s:.1f}s"


def table3(
    seen,
    unseen,
    out_dir="results",
    epochs: int | None = None,
    runs_dir="runs/ivfp_classifier",
    probes_s=TABLE3_PROBES_S,
    **options,
) -> pd.DataFrame:
    """Table III: the passive and the interactive classifiers, trained on the seen collection
    (one split for all), tested on its test part and on the unseen collection. Writes
    ``ivfp_classifier.csv``, ``.png`` and ``.md`` into ``out_dir``; checkpoints go to
    ``runs_dir``, and one already trained with the same arguments is reused, so an interrupted
    table continues where it stopped. ``options`` are further ClassifierArgs fields."""
    base = ClassifierArgs(data=str(seen), unseen=str(unseen), **({"epochs": epochs} if epochs else {}), **options)
    base.check()
    seen_films = unseen_films = None
    rows, runs = [], {}
    for probe_s in probes_s:
        args = dataclasses.replace(base, probe_s=float(probe_s), out=str(Path(runs_dir) / f"{_name(probe_s)}.pt"))
        # Films are loaded once for all classifiers, and only when one of them has to be trained.
        trained = _reusable(Path(args.out), args, {"data": _fingerprint(seen), "unseen": _fingerprint(unseen)})
        if trained is None and seen_films is None:
            seen_films = load_films(seen, base.frame_px, base.progress)
            unseen_films = load_films(unseen, base.frame_px, base.progress)
            frame_indices(seen_films.times_s, max(probes_s), base.frame_step_s)  # fail before any training
        metrics = train_classifier(args, seen_films, unseen_films)
        runs[_name(probe_s)] = metrics
        for objects, part in (("seen", "test_seen"), ("unseen", "unseen")):
            rows.append(_table_row(probe_s, objects, metrics[part]))
    table = pd.DataFrame(rows)
    out_dir = Path(out_dir)
    write_atomic(out_dir / "ivfp_classifier.csv", table.to_csv(index=False, float_format="%.4f"))
    _plot_table3(table, out_dir / "ivfp_classifier.png")
    write_atomic(out_dir / "ivfp_classifier.md", _markdown(table, base, runs))
    if base.progress:
        minutes = sum(m["train_seconds"] for m in runs.values()) / 60
        print(f"wrote {out_dir / 'ivfp_classifier.csv'}, .png and .md ({minutes:.1f} min of training)")
    return table


def _table_row(probe_s: float, objects: str, metrics: dict) -> dict:
    binary = metrics["binary"]
    paper_precision, paper_recall, paper_accuracy = PAPER_TABLE3.get(round(probe_s, 2), {}).get(
        objects, (math.nan,) * 3
    )
    return {
        "perception": "passive" if probe_s == 0 else "interactive",
        "probe_s": probe_s,
        "objects": objects,
        "picks": binary["picks"],
        "accuracy": binary["accuracy"],
        "accuracy_low": binary["accuracy_low"],
        "accuracy_high": binary["accuracy_high"],
        "precision": binary["macro_precision"],
        "recall": binary["macro_recall"],
        "accuracy_3class": metrics["accuracy"],
        "precision_3class": metrics["macro_precision"],
        "recall_3class": metrics["macro_recall"],
        "fail_precision": binary["precision"]["fail"],
        "fail_recall": binary["recall"]["fail"],
        "paper_accuracy": paper_accuracy,
        "paper_precision": paper_precision,
        "paper_recall": paper_recall,
    }


def _plot_table3(table: pd.DataFrame, path: Path) -> None:
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for objects, colour, nudge_s in (("seen", "tab:blue", -0.015), ("unseen", "tab:orange", 0.015)):
        rows = table[table["objects"] == objects]
        for perception, marker in (("interactive", "o"), ("passive", "s")):
            ours = rows[rows["perception"] == perception]
            if ours.empty:
                continue
            style = "-" if perception == "interactive" else "none"
            errors = [100 * (ours["accuracy"] - ours["accuracy_low"]), 100 * (ours["accuracy_high"] - ours["accuracy"])]
            # Seen and unseen nudged apart so that their intervals do not hide each other.
            ax.errorbar(
                ours["probe_s"] + nudge_s,
                100 * ours["accuracy"],
                yerr=errors,
                color=colour,
                marker=marker,
                linestyle=style,
                capsize=3,
                label=f"graspbench, {objects}, {perception}",
            )
            ax.plot(
                ours["probe_s"],
                100 * ours["paper_accuracy"],
                color=colour,
                marker=marker,
                alpha=0.45,
                linestyle="--" if style == "-" else "none",
                markerfacecolor="none",
                label=f"paper, {objects}, {perception}",
            )
    ax.axhline(50, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("probe seen by the classifier (s); 0 = passive, frame 0 only")
    ax.set_ylabel("success vs fail accuracy (%)")
    ax.set_ylim(0, 104)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    ax.set_title("IVFP classifier: accuracy against probe duration (Table III)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def _markdown(table: pd.DataFrame, args: ClassifierArgs, runs: dict) -> str:
    lines = [
        "# IVFP classifier: passive against interactive perception (Murray et al., Table III)",
        "",
        f"Seen: test bins of `{args.data}` (80/10/10 split by bin, seed {args.seed}); unseen: all of `{args.unseen}`. "
        f"Successes undersampled to as many as failures ({args.balance}). graspbench / paper.",
        "",
        "| perception | objects | picks | accuracy [95% interval] | paper | precision | paper | recall | paper "
        "| 3-class accuracy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in table.itertuples():
        label = "passive" if row.perception == "passive" else f"interactive ({row.probe_s:.1f} s)"
        lines.append(
            f"| {label} | {row.objects} | {row.picks} | {100 * row.accuracy:.1f}% [{100 * row.accuracy_low:.1f}, "
            f"{100 * row.accuracy_high:.1f}] | {100 * row.paper_accuracy:.0f}% | {row.precision:.2f} | "
            f"{row.paper_precision:.2f} | {row.recall:.2f} | {row.paper_recall:.2f} | "
            f"{100 * row.accuracy_3class:.1f}% |"
        )
    lines += [
        "",
        "Accuracy, precision and recall are of the binary view, success against either failure (the paper's "
        "SUCCESS / FAIL, and the reward the policy learns from): precision and recall are macro means over the two "
        "classes. The 3-class accuracy (success, multi-pick, not picked) is beside them. The paper does not define its "
        "precision and recall; its passive row (recall 0.56 at 46% accuracy on nearly balanced data) is hard to "
        "reconcile with a binary macro mean, so its numbers may be 3-class ones: compare trends, not decimals.",
        "",
        f"Network: a (2+1)D CNN of width {args.width} trained from scratch ({args.epochs} epochs, {args.frame_px} px, "
        f"one frame every {args.frame_step_s:g} s), not the paper's pretrained VideoMAE ViT-B; the passive row is the "
        f"same network on frame 0. Every row was trained on the same "
        f"{next(iter(runs.values()))['train_picks'] if runs else 0} picks. Training time (best epoch of "
        f"{args.epochs}): "
        + ", ".join(f"{name} {m['train_seconds'] / 60:.1f} min ({m['best_epoch']})" for name, m in runs.items())
        + ".",
        "",
    ]
    return "\n".join(lines)
