"""The papers' training findings, reproduced on graspbench data: ``graspbench reproduce NAME``.

Each experiment is a list of training runs (the same trainer, data and seed; one thing varies),
trained in ``runs/NAME/...`` (resumable) and summarised as ``results/NAME.csv`` and
``results/NAME.png``: best validation Top-1 and Top-5 per run, and the validation curves.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..io import read_csv, reading, save_figure, write_atomic
from ..planners.dataset import GraspDataset, split_scenes
from ..planners.models import build_model
from ..planners.offline import simulated_top1
from ..planners.postprocess import PostProcess
from ..planners.train import TrainArgs, load_state, train
from .metrics import Rate

SINGLE, STACKED = "data/single-train", "data/stacked-train"
# Validation on the held-out scenes of test objects: what the papers' claims are about, and a
# fixed 100 scenes however large the training set grows.
VALIDATION = {SINGLE: "data/single-val", STACKED: "data/stacked-val"}


def _run(label: str, **fields) -> tuple[str, dict]:
    return label, fields


EXPERIMENTS = {
    # MLGSL paper, Fig. 4 / Table I: the loss, at 16 labels per image, single objects.
    "mlgsl_losses": [
        _run("MLGSL", model="mlgsl_fcn", loss="mlgsl", labels_per_image=16),
        _run("ImgMSE", model="mlgsl_fcn", loss="imgmse", labels_per_image=16),
        _run("PixMSE", model="mlgsl_fcn", loss="pixmse", labels_per_image=16),
        _run("MLGSL+Log", model="mlgsl_fcn", loss="mlgsl_log", labels_per_image=16),
    ],
    # MLGSL paper, Fig. 6 / Table I: fewer labels per image.
    "mlgsl_labels": [
        _run(f"{name} {k} labels", model="mlgsl_fcn", loss=loss, labels_per_image=k)
        for k in (16, 4, 2)
        for name, loss in (("MLGSL", "mlgsl"), ("ImgMSE", "imgmse"))
    ],
    # MLGSL paper, IV-C-4: spatial attention on the down, up, all or no layers.
    "mlgsl_sam": [
        _run(f"SAM {where}", model="mlgsl_fcn", loss="mlgsl", labels_per_image=16, model_options={"sam": where})
        for where in ("none", "down", "up", "all")
    ],
    # MTG-CNN paper, Table I: RGB input, auxiliary task and positional loss.
    "mtgcnn": [
        _run(
            f"{title}{' + positional' if loss == 'positional' else ''}",
            model="mtgcnn",
            loss=loss,
            input="rgb",
            model_options=options,
        )
        for title, options in (
            ("GG-CNN (RGB)", {"auxiliary": False}),
            ("MTG-CNN depth", {"aux": "depth"}),
            ("MTG-CNN saliency", {"aux": "saliency"}),
        )
        for loss in ("imgmse", "positional")
    ],
    # GP-Net paper, Table I: stacked scenes, against GG-CNN and GR-ConvNet, and its ablations.
    "gpnet": [
        _run("GG-CNN", model="ggcnn", loss="imgmse", data=STACKED, input="rgbd"),
        _run("GR-ConvNet", model="grconvnet", loss="smooth_l1", data=STACKED, input="rgbd"),
        _run("GP-Net", model="gpnet", loss="priority", data=STACKED, input="rgbd"),
        _run(
            "GP-Net without CGC",
            model="gpnet",
            loss="priority",
            data=STACKED,
            input="rgbd",
            model_options={"cgc": False},
        ),
        _run(
            "GP-Net without GPP", model="gpnet", loss="imgmse", data=STACKED, input="rgbd", model_options={"gpp": False}
        ),
    ],
}


def reproduce(
    name: str,
    epochs: int = 3,
    seed: int = 0,
    runs_dir: str = "runs",
    results_dir: str = "results",
    threads: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Train every run of experiment ``name`` (resuming finished or interrupted ones) and write its
    table and plot."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment {name!r} is not one of {sorted(EXPERIMENTS)}")
    rows, curves = [], {}
    for label, fields in EXPERIMENTS[name]:
        slug = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")
        data = fields.get("data", SINGLE)
        args = TrainArgs(
            **{"data": data, "val_data": VALIDATION[data], **fields},
            epochs=epochs,
            seed=seed,
            out=f"{runs_dir}/{name}/{slug}",
            threads=threads,
            progress=progress,
        )
        if progress:
            print(f"== {name}: {label} -> {args.out}")
        best = train(args)
        history = read_csv(
            Path(args.out) / "metrics.csv",
            "a training history",
            f"delete the run folder {args.out} and run the same command again",
            ["val_top1", "seconds"],
            ["val_top1", "seconds"],
        )
        sim = simulated_final(args)
        curves[label] = history
        rows.append(
            {
                "run": label,
                "model": args.model,
                "loss": args.loss,
                "input": args.input,
                "labels_per_image": args.labels_per_image or "all",
                "data": args.data,
                "options": ", ".join(f"{k}={v}" for k, v in args.model_options.items()),
                "best_epoch": best["epoch"],
                "val_top1": round(best["val_top1"], 4),
                "val_top5": round(best["val_top5"], 4),
                # The best of many noisy epochs flatters; the mean of the last ones does not.
                "val_top1_last5": round(history["val_top1"].tail(5).mean(), 4),
                "val_net_success_final": round(sim["net_top1_success"], 4),
                "val_sim_success_final": round(sim["sim_top1_success"], 4),
                "val_sim_trials": sim["sim_trials"],
                "minutes_to_best": round(history["seconds"][: best["epoch"]].sum() / 60, 1),
                "train_minutes": round(history["seconds"].sum() / 60, 1),
            }
        )
    table = pd.DataFrame(rows)
    out = Path(results_dir)
    write_atomic(out / f"{name}.csv", table.to_csv(index=False))
    _plot(name, curves, table, out / f"{name}.png")
    return table


def simulated_final(args: TrainArgs) -> dict:
    """The final model's top-1 grasp executed in simulation on every validation scene (cached in
    the run folder): the network's own best peak (``net_top1_success``) and the planner's choice,
    the best peak whose fingers land on free space (``sim_top1_success``), which hides much of a
    weaker network's error. The rectangle metric is lenient when an object has labels at many
    angles; the simulator is not."""
    cache = Path(args.out) / "sim_final.json"
    if cache.exists() and "net_top1_success" in (cached := json.loads(cache.read_text())):
        return cached
    last = Path(args.out) / "last.pt"
    with reading(
        last, "a graspbench training state", f"delete the run folder {args.out} and run the same command again"
    ):
        state = torch.load(last, weights_only=False)
        model = build_model(**state["meta"]["model_config"])
        load_state(model, state["state_dict"], args.out)
    if args.val_data:
        dataset = GraspDataset(args.val_data, input=args.input, positives=args.positives)
    else:
        root = args.data_roots[0]
        dataset = GraspDataset(
            root, scenes=split_scenes(root, seed=args.seed)[1], input=args.input, positives=args.positives
        )
    settings = PostProcess(**state["meta"]["postprocess"])
    result = simulated_top1(model, dataset, settings, progress=False)
    result["net_top1_success"] = simulated_top1(model, dataset, settings, progress=False, check_clearance=False)[
        "sim_top1_success"
    ]
    write_atomic(cache, json.dumps(result))
    return result


def _plot(name: str, curves: dict, table: pd.DataFrame, path: Path) -> None:
    """The validation Top-1 per epoch beside the final models' simulated success, with intervals."""
    # matplotlib here, not at the head: the Agg backend must be chosen before pyplot is imported,
    # and importing this module must not switch the caller's.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curve, bars) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [1, 1.3]})
    for label, history in curves.items():
        curve.plot(history["epoch"], 100 * history["val_top1"], "o-", label=label)
    curve.set_xlabel("epoch")
    curve.xaxis.get_major_locator().set_params(integer=True)
    curve.set_ylabel("validation top-1 rectangle success (%)")
    curve.legend(fontsize=8)
    x, width = np.arange(len(table)), 0.38
    for offset, column, label in (
        (-width / 2, "val_net_success_final", "the network's top-1"),
        (width / 2, "val_sim_success_final", "the planner's (free-space check)"),
    ):
        rates = [Rate(round(p * n), n) for p, n in zip(table[column], table["val_sim_trials"])]
        values = np.array([100 * r.value for r in rates])
        errors = np.array([[100 * (r.value - r.interval[0]), 100 * (r.interval[1] - r.value)] for r in rates]).T
        bars.bar(x + offset, values, width, yerr=errors, capsize=3, label=label)
    bars.set_xticks(x, table["run"], rotation=20, ha="right", fontsize=8)
    bars.set_ylabel("final model, simulated top-1 success (%)")
    bars.set_ylim(0, 100)
    bars.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{name}: validation on held-out scenes of test objects (95% Wilson intervals)")
    fig.tight_layout()
    save_figure(fig, path)
