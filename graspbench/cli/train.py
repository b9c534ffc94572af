"""``graspbench train``, ``evaluate-offline``, ``reproduce`` and ``train-agents``: the grasp networks
trained on a dataset, scored offline, the papers' training findings and the shipped agents' weights.

Each command imports what it runs inside its function (why: :mod:`graspbench.cli`).
"""

from __future__ import annotations

import yaml

from ..options import add_options, options_from, positive_int
from ..planners.train_args import TrainArgs
from .common import write_json


def cmd_train(args) -> int:
    from ..planners.train import train

    options = {}
    for item in args.option or []:
        key, _, value = item.partition("=")
        if not key or not value:
            raise ValueError(f"--option {item!r}: expected key=value, e.g. sam=all")
        options[key] = yaml.safe_load(value)
    best = train(options_from(args, TrainArgs, model_options=options, progress=not args.quiet))
    simulated = f", simulated {100 * best['val_sim_success']:.1f}%" if "val_sim_success" in best else ""
    print(
        f"best: epoch {best['epoch']}, validation top-1 {100 * best['val_top1']:.1f}%, "
        f"top-5 {100 * best['val_top5']:.1f}%{simulated} -> {args.out}/best.pt"
    )
    return 0


def cmd_evaluate_offline(args) -> int:
    from torch.utils.data import DataLoader

    from ..planners.dataset import GraspDataset, collate
    from ..planners.offline import rectangle_scores, simulated_top1
    from ..planners.postprocess import PostProcess
    from ..planners.train import load_checkpoint

    model, checkpoint = load_checkpoint(
        args.checkpoint, fix="give --checkpoint a best.pt written by `graspbench train`"
    )
    settings = PostProcess(**checkpoint["postprocess"])
    positives = checkpoint.get("args", {}).get("positives", "collision_free")
    scenes = list(range(args.scenes)) if args.scenes else None
    dataset = GraspDataset(args.data, input=checkpoint["input"], positives=positives, scenes=scenes)
    result = {
        "checkpoint": args.checkpoint,
        "data": args.data,
        **rectangle_scores(model, DataLoader(dataset, batch_size=8, collate_fn=collate), settings),
    }
    if not args.no_sim:
        result.update(simulated_top1(model, dataset, settings, progress=not args.quiet))
    print(
        f"{args.checkpoint} on {args.data} ({result['images']} images): top-1 {100 * result['top1']:.1f}%, "
        f"top-5 {100 * result['top5']:.1f}%"
        + (
            f", top-1 executed in simulation {100 * result['sim_top1_success']:.1f}% {result['sim_outcomes']}"
            if not args.no_sim
            else ""
        )
    )
    if args.json:
        write_json(args.json, result)
    return 0


def cmd_reproduce(args) -> int:
    from ..bench.experiments import reproduce

    if args.experiment == "friction_cone":  # a physics check, no training
        from ..bench.friction_cone import friction_cone_table
        from ..io import write_atomic

        table = friction_cone_table()
        print(table.to_string(index=False))
        write_atomic("results/friction_cone.csv", table.to_csv(index=False))
        print("wrote results/friction_cone.csv")
        return 0
    table = reproduce(
        args.experiment, epochs=args.epochs, seed=args.seed, threads=args.threads, progress=not args.quiet
    )
    print(
        table[
            [
                "run",
                "val_top1",
                "val_top5",
                "val_top1_last5",
                "val_net_success_final",
                "val_sim_success_final",
                "best_epoch",
                "minutes_to_best",
                "train_minutes",
            ]
        ].to_string(index=False)
    )
    print(f"wrote results/{args.experiment}.csv and results/{args.experiment}.png")
    return 0


def cmd_train_agents(args) -> int:
    from ..bench.agents_training import train_agents

    train_agents(
        args.agents.split(",") if args.agents else None,
        epochs=args.epochs,
        threads=args.threads,
        progress=not args.quiet,
    )
    print("wrote agents/weights/ and agents/README.md")
    return 0


def add_parsers(sub) -> None:
    """The subcommands train, evaluate-offline, reproduce and train-agents."""
    p = sub.add_parser("train", help="train a grasp network on a dataset")
    add_options(p, TrainArgs, skip=("model_options", "progress"), required=("model", "loss", "data", "out"))
    p.add_argument("--option", action="append", help="model option key=value (repeatable), e.g. sam=all, aux=saliency")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate-offline", help="rectangle metric and simulated top-1 of a checkpoint on a dataset")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--scenes", type=positive_int, help="only the first N scenes")
    p.add_argument("--no-sim", action="store_true", help="skip executing the top-1 grasps in simulation")
    p.add_argument("--json", help="write the scores to this file")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate_offline)

    p = sub.add_parser("reproduce", help="a training finding of the papers, on graspbench data, into results/")
    p.add_argument(
        "experiment",
        help="mlgsl_losses, mlgsl_labels, mlgsl_sam, mtgcnn, gpnet, or friction_cone "
        "(where the simulated hand slips, against Coulomb's friction cone)",
    )
    p.add_argument("--epochs", type=positive_int, default=3, help="passes over the training scenes")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("train-agents", help="(re)train the weights of the shipped network agents")
    p.add_argument("--agents", help="comma-separated agents (default: every agent with a train: section)")
    p.add_argument("--epochs", type=positive_int, help="override the agents' epochs")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train_agents)
