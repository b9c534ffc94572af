"""``graspbench active-learn``: the pool-based loop from the command line."""

from __future__ import annotations

import dataclasses

from .loop import PRESETS, ActiveArgs
from .strategies import STRATEGIES


def cmd_active_learn(args) -> int:
    from .loop import run

    if args.reevaluate:
        from .loop import reevaluate

        summary = reevaluate(args.out, args.data_dir, args.threads or 1, progress=not args.quiet, workers=args.workers)
        print(
            f"re-evaluated {summary['reevaluated']} rounds in {args.out} with graspbench "
            f"{summary['evaluated_with']}; every round there is now measured by it"
        )
        return 0
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(ActiveArgs)
        if f.name not in ("preset", "progress", "crop_px") and hasattr(args, f.name)
    }
    if args.crop_px is not None:
        overrides["crop_px"] = args.crop_px or None  # 0: whole images
    active = ActiveArgs.from_preset(args.preset, **overrides, progress=not args.quiet)
    if args.same_data_round is not None:
        from .loop import same_data

        table = same_data(active, args.same_data_round)
        print(table.to_string(index=False))
        print(f"wrote {active.out}/same_data.csv")
        return 0
    summary = run(active)
    print(
        f"{summary['rounds']} rounds of {', '.join(summary.get('strategies', []))} in {active.out}: "
        f"rounds.csv, curves.csv, auc.csv, learning_curves.png; per trial "
        f"STRATEGY/trial-T/metrics.csv and round-RR.pt"
    )
    return 0


HELP = {
    "pool_scenes": "scenes rendered into the unlabelled pool (train objects)",
    "test_scenes": "labelled test scenes (test objects); Top-1 rectangle accuracy on all of them",
    "sim_test_scenes": "test scenes whose top-1 grasp is executed in the simulator each round (0: none)",
    "initial": "scenes in the random initial labelled pool",
    "per_round": "k: scenes selected and labelled per round",
    "rounds": "selection rounds after the initial pool",
    "epochs": "passes over the labelled scenes per round (retrained from scratch)",
    "batch_size": "labelled windows per step",
    "min_steps": "at least this many optimiser steps per round (epochs raised for small pools); 0: epochs decide",
    "crop_px": "train GG-CNN on windows of this size around labels; 0: whole images",
    "candidates_per_object": "the labeller's grasp candidates executed per object",
    "workers": "processes: strategies and trials side by side",
    "threads": "torch threads per process",
    "lr": "Adam learning rate of GG-CNN",
    "alpha": "DAL: L = L_grasp + alpha * L_BCE (the paper: 0.1)",
    "discriminator_lr": "DAL: SGD learning rate of the discriminator",
    "label_noise_deg": "noisy annotator: training labels' angles moved by uniform +-this (the paper: 45)",
    "seed": "seeds initial pools, initialisations and selections",
    "pool_seed": "pool scene i is the scene of seed POOL_SEED + i",
    "test_seed": "test scene i is the scene of seed TEST_SEED + i",
}


def add_parser(sub, positive_int, env_id) -> None:
    import argparse

    def count(text: str) -> int:
        value = int(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"expected 0 or more, got {text}")
        return value

    p = sub.add_parser(
        "active-learn",
        help="pool-based active learning with the simulator as the annotator (DAL)",
        description="Label pool scenes round by round, chosen by a strategy, and retrain GG-CNN "
        "(docs/active_learning.md). Flags left out take the preset's values.",
    )
    p.add_argument(
        "--strategy", default="dal", help=f"comma-separated strategies or all; choose from {', '.join(STRATEGIES)}"
    )
    p.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="quick",
        help="cornell (60 + 60 x 10), jacquard (300 + 100 x 8), quick (< 20 min on 2 cores), tiny (tests)",
    )
    p.add_argument("--trials", type=positive_int, default=1, help="trials per strategy (the same initial pools)")
    p.add_argument("--out", default="runs/active", help="results folder; an existing one is resumed")
    p.add_argument("--data-dir", help="pool, annotations and test set (default ~/.cache/graspbench/active/PRESET)")
    p.add_argument("--env", type=env_id, help="environment id or spec file (default: the preset's, Single-v0)")
    for name in (
        "pool_scenes",
        "test_scenes",
        "initial",
        "per_round",
        "epochs",
        "batch_size",
        "candidates_per_object",
        "workers",
        "threads",
    ):
        p.add_argument(f"--{name.replace('_', '-')}", type=positive_int, help=HELP[name])
    for name in ("rounds", "sim_test_scenes", "crop_px", "min_steps"):
        p.add_argument(f"--{name.replace('_', '-')}", type=count, help=HELP[name])
    p.add_argument("--model", choices=["ggcnn", "ggcnn2"], help="the backbone (the paper: ggcnn)")
    p.add_argument("--input", choices=["depth", "rgb", "rgbd"], help="network input (default depth)")
    for name in ("lr", "alpha", "discriminator_lr", "label_noise_deg"):
        p.add_argument(f"--{name.replace('_', '-')}", type=float, help=HELP[name])
    for name in ("seed", "pool_seed", "test_seed"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, help=HELP[name])
    p.add_argument(
        "--same-data-round",
        type=count,
        help="instead of running: train a plain GG-CNN on the scenes DAL had labelled at this round of "
        "each trial in --out, beside DAL's model (the paper's 'same data' finding: round 6)",
    )
    p.add_argument(
        "--reevaluate",
        action="store_true",
        help="instead of running: evaluate every finished round in --out again (its own settings) with the "
        "code installed now, where other code evaluated it (after a fix to the simulator)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-round lines")
    p.set_defaults(func=cmd_active_learn)

    from .report import add_parser as add_report_parser

    add_report_parser(sub)
