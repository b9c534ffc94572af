"""``graspbench ivfp ...``: every IVFP command's arguments (collecting probed picks, the probe
classifier and Table III, the grasp policy by imitation and REINFORCE, Tables I and II), each
turned into a call of the module that does the work."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..envs.spec import add_split_flag
from ..io import write_atomic
from ..options import add_options, options_from
from ..parallel import add_executor_flags, executor_options
from . import COMMAND_HELP
from .calibrate import PICKS_PER_TRIAL, calibrate, ordering_checks, scripted_agents
from .classifier import (
    ClassifierArgs,
    balance_picks,
    format_metrics,
    load_classifier,
    load_films,
    train_classifier,
)
from .demonstrator import DemonstratorSettings, collect
from .imitation import PolicyArgs, train_policy
from .picks import summarize
from .reinforce_run import ReinforceArgs, reinforce
from .table1 import table1
from .table2 import table2
from .table3 import table3


def cmd_collect(args) -> int:
    summary = collect(
        args.env,
        args.bins,
        args.out,
        picks_per_bin=args.picks_per_bin,
        seed=args.seed,
        split=args.split,
        after_probe=args.after_probe,
        **executor_options(args),
        settings=DemonstratorSettings(careless_rate=args.careless_rate, aim=args.aim),
        progress=not args.quiet,
    )
    print(json.dumps(summary, indent=1))
    return 0


def cmd_summary(args) -> int:
    table = pd.DataFrame([summarize(root) for root in args.collections])
    print(table.to_string(index=False))
    if args.out:
        write_atomic(args.out, table.to_csv(index=False))
        print(f"wrote {args.out}")
    return 0


def add_parser(sub, positive_int, env_id) -> None:
    p = sub.add_parser("ivfp", help=COMMAND_HELP["ivfp"])
    group = p.add_subparsers(dest="ivfp_command", required=True)
    q = group.add_parser("collect", help="demonstrations in dense bins: pick, probe film, extraction outcome")
    q.add_argument(
        "--env", type=env_id, default="GraspBench/BinPick-v1", help="a target-picking environment id or spec file"
    )
    q.add_argument(
        "--bins", type=positive_int, required=True, help="bins to fill; each gives up to --picks-per-bin picks"
    )
    q.add_argument("--picks-per-bin", type=positive_int, default=12, help="the paper: 12 picks per trial")
    q.add_argument("--out", required=True, help="collection folder; an existing one is resumed")
    add_split_flag(q, "train objects (the paper's seen) or test objects (unseen)")
    q.add_argument("--seed", type=int, default=0, help="bin i is filled with seed + i")
    q.add_argument(
        "--after-probe",
        choices=["extract", "release"],
        default="extract",
        help="extract (the outcome) or release where the probe ended (how reversible it is)",
    )
    q.add_argument("--careless-rate", type=float, default=0.3, help="share of the demonstrator's picks made carelessly")
    q.add_argument(
        "--aim",
        choices=("sampled", "clear"),
        default="sampled",
        help="the demonstrator's careful aim: among sampled points (the shipped collections) or the clear "
        "grasp deepest in the target (every pixel checked against the depth image)",
    )
    add_executor_flags(q)
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_collect)
    q = group.add_parser(
        "summary", help="collections in figures: outcomes, seconds per pick, how reversible the probe is"
    )
    q.add_argument("collections", nargs="+", help="collection folders")
    q.add_argument("--out", help="CSV file, e.g. results/ivfp_collections.csv")
    q.set_defaults(func=cmd_summary)
    add_classifier_commands(group)
    add_policy_commands(group)
    add_reinforce_commands(group)
    add_table1_commands(group)
    add_table2_commands(group)
    add_calibrate_commands(group, positive_int, env_id)


TABLE3_SKIP = ("data", "unseen", "out", "probe_s", "progress")
"""ClassifierArgs fields that Table III sets itself (one classifier per probe duration)."""


def add_classifier_commands(subparsers) -> None:
    """Register ``train-classifier`` (one flag per ClassifierArgs field), ``evaluate-classifier`` and
    ``table3`` (the training fields, the same for every row)."""
    p = subparsers.add_parser("train-classifier", help="train the probe-video classifier C_phi on probed picks")
    add_trainer_flags(p, ClassifierArgs, ("data", "out"), cmd_train_classifier)
    p.add_argument(
        "--passive", action="store_true", help="the passive baseline: frame 0 only (the same as --probe-s 0)"
    )

    p = subparsers.add_parser("evaluate-classifier", help="metrics of a trained classifier on a collection")
    p.add_argument("checkpoint")
    p.add_argument("--data", required=True, help="collection of probed picks")
    p.add_argument("--balance", action="store_true", help="undersample successes to as many as failures first")
    p.add_argument("--seed", type=int, default=0, help="seeds the undersampling")
    p.add_argument("--json", help="also write the metrics to this file")
    p.set_defaults(func=cmd_evaluate_classifier)

    p = subparsers.add_parser(
        "table3", help="Table III: passive against 0.5-2.0 s of probe, on seen and unseen objects"
    )
    p.add_argument("--seen", required=True, help="collection with the train objects")
    p.add_argument("--unseen", required=True, help="collection with the test objects")
    p.add_argument("--out", default="results", help="folder of ivfp_classifier.csv, .png and .md")
    p.add_argument("--runs", default="runs/ivfp_classifier", help="folder of the checkpoints; trained ones are reused")
    add_options(p, ClassifierArgs, skip=TABLE3_SKIP)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_table3)


def cmd_train_classifier(args) -> int:
    classifier_args = options_from(args, ClassifierArgs, progress=not args.quiet)
    if args.passive:
        classifier_args.probe_s = 0.0
    train_classifier(classifier_args)
    return 0


def cmd_evaluate_classifier(args) -> int:
    classifier = load_classifier(args.checkpoint)
    films = load_films(args.data, classifier.frame_px, progress=True)
    picks = np.arange(len(films.labels))
    if args.balance:
        picks = balance_picks(films.labels, picks, np.random.default_rng(args.seed))
    metrics = classifier.evaluate(films, picks)
    print(f"{args.checkpoint} on {args.data}: {format_metrics(metrics)}")
    if args.json:
        write_atomic(Path(args.json), json.dumps(metrics, indent=1))
        print(f"wrote {args.json}")
    return 0


def cmd_table3(args) -> int:
    options = {f.name: getattr(args, f.name) for f in dataclasses.fields(ClassifierArgs) if f.name not in TABLE3_SKIP}
    table3(args.seen, args.unseen, out_dir=args.out, runs_dir=args.runs, progress=not args.quiet, **options)
    return 0


def add_policy_commands(group) -> None:
    """Register ``train-policy``: one flag per PolicyArgs field."""
    p = group.add_parser(
        "train-policy", help="imitate the demonstrator's successful picks: the IVFP policy (Q_width, Q_grasp)"
    )
    add_trainer_flags(p, PolicyArgs, ("data", "out"), cmd_train_policy)


def cmd_train_policy(args) -> int:
    train_policy(options_from(args, PolicyArgs, progress=not args.quiet))
    return 0


def add_trainer_flags(parser, cls, required, command, quiet_help: str = "no progress bars") -> None:
    """A trainer's command: one flag per field of its options dataclass ``cls`` (``required``
    must be given) and --quiet for its ``progress``; ``command`` runs it."""
    add_options(parser, cls, skip=("progress",), required=required)
    parser.add_argument("--quiet", action="store_true", help=quiet_help)
    parser.set_defaults(func=command)


def add_reinforce_commands(group) -> None:
    """Register ``reinforce``: one flag per ReinforceArgs field (the update's options included)."""
    p = group.add_parser("reinforce", help="improve a policy from its own probed grasps (REINFORCE, contextual bandit)")
    add_trainer_flags(p, ReinforceArgs, ("init", "out"), cmd_reinforce, "no progress bars, no line per iteration")


def cmd_reinforce(args) -> int:
    reinforce(options_from(args, ReinforceArgs, progress=not args.quiet))
    return 0


def add_table1_commands(group) -> None:
    p = group.add_parser(
        "table1", help="Table I: SR and UPH of Centroid, Random, IL, IL+ViTL, RL@20, RL@50, beside the paper's"
    )
    p.add_argument(
        "--bench", default="runs/ivfp_bench", help="the ivfp suite's records; blocks already there are reused"
    )
    p.add_argument("--out", default="results", help="folder of ivfp.csv, .png and .md")
    p.add_argument("--agents", help="comma-separated agents instead of the ivfp suite's (default: all of them)")
    p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_table1)


def cmd_table1(args) -> int:
    agents = [name.strip() for name in args.agents.split(",")] if args.agents else None
    table1(args.bench, args.out, args.workers, not args.quiet, agents)
    return 0


def add_table2_commands(group) -> None:
    p = group.add_parser(
        "table2", help="Table II: picks and interventions per hour collecting with full picks or the probe"
    )
    p.add_argument(
        "--classifier",
        default="agents/weights/ivfp-classifier.pt",
        help="the probe classifier that labels IVFP's picks",
    )
    p.add_argument("--bins", type=int, default=10, help="bins per pipeline")
    p.add_argument("--picks-per-bin", type=int, default=12)
    p.add_argument(
        "--seed", type=int, default=300000, help="bin i is filled with seed + i (away from other collections)"
    )
    p.add_argument("--split", choices=["train", "test"], default="train", help="seen (train) or unseen (test) objects")
    p.add_argument("--env", default="GraspBench/BinPick-v1")
    p.add_argument("--out", default="results", help="folder of ivfp_table2.csv and .md")
    p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_table2)


def cmd_table2(args) -> int:
    table2(
        args.classifier,
        args.bins,
        args.picks_per_bin,
        args.seed,
        args.split,
        args.env,
        args.out,
        args.workers,
        not args.quiet,
    )
    return 0


def add_calibrate_commands(group, positive_int, env_id) -> None:
    p = group.add_parser(
        "calibrate",
        help="the scripted agents on the same bins before any learning: is the bin calibrated to the paper's setting?",
    )
    p.add_argument(
        "--env", type=env_id, default="GraspBench/BinPick-v1", help="a target-picking environment id or spec file"
    )
    p.add_argument("--trials", type=positive_int, default=20, help="bins per agent, 12 picks each (20: 240 picks)")
    p.add_argument("--picks-per-trial", type=positive_int, default=PICKS_PER_TRIAL)
    p.add_argument("--seed", type=int, default=900000, help="bin i is filled with seed + i")
    add_split_flag(p, "train: the paper's seen objects")
    p.add_argument(
        "--agents",
        default="centroid,random,random-5cm,demonstrator,demonstrator-sampled,clear-grasp",
        help="comma-separated, of: " + ", ".join(scripted_agents(()).keys()),
    )
    p.add_argument(
        "--runs", default="runs/ivfp_calibration", help="one CSV of picks per agent; existing ones are reused"
    )
    p.add_argument("--out", help="CSV of the calibration table, e.g. results/ivfp_calibration.csv")
    p.add_argument("--workers", type=positive_int, help="worker processes (default: one per core)")
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args) -> int:
    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    unknown = sorted(set(agents) - set(scripted_agents(())))
    if unknown:
        raise SystemExit(f"--agents: {', '.join(unknown)} unknown; choose from {', '.join(scripted_agents(()))}")
    table = calibrate(
        args.env, args.runs, agents, args.trials, args.picks_per_trial, args.seed, args.split, args.workers
    )
    print(table.to_string(index=False))
    for check, ok in ordering_checks(table):
        print(f"{'met   ' if ok else 'MISSED'} {check}")
    if args.out:
        write_atomic(args.out, table.to_csv(index=False))
        print(f"wrote {args.out}")
    return 0
