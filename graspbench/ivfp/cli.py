"""``graspbench ivfp ...``: collecting probed picks, the probe classifier and its Table III, the
grasp policy (imitation, REINFORCE)."""

from __future__ import annotations

import json


def cmd_collect(args) -> int:
    from .demonstrator import DemonstratorSettings, collect

    summary = collect(args.env, args.bins, args.out, picks_per_bin=args.picks_per_bin, seed=args.seed, split=args.split,
                      after_probe=args.after_probe, workers=args.workers, executor=args.executor, address=args.address,
                      settings=DemonstratorSettings(careless_rate=args.careless_rate, aim=args.aim),
                      progress=not args.quiet)
    print(json.dumps(summary, indent=1))
    return 0


def cmd_summary(args) -> int:
    import pandas as pd

    from ..io import write_atomic
    from .picks import summarize

    table = pd.DataFrame([summarize(root) for root in args.collections])
    print(table.to_string(index=False))
    if args.out:
        write_atomic(args.out, table.to_csv(index=False))
        print(f"wrote {args.out}")
    return 0


def add_parser(sub, positive_int, env_id) -> None:
    from .calibrate import add_commands as add_calibrate_commands
    from .classifier import add_commands
    from .policy import add_commands as add_policy_commands
    from .reinforce import add_commands as add_reinforce_commands
    from .table1 import add_commands as add_table1_commands
    from .table2 import add_commands as add_table2_commands

    p = sub.add_parser("ivfp", help="target picking with interactive visual failure prediction (IVFP)")
    group = p.add_subparsers(dest="ivfp_command", required=True)
    q = group.add_parser("collect", help="demonstrations in dense bins: pick, probe film, extraction outcome")
    q.add_argument("--env", type=env_id, default="GraspBench/BinPick-v0", help="a target-picking environment id or spec file")
    q.add_argument("--bins", type=positive_int, required=True, help="bins to fill; each gives up to --picks-per-bin picks")
    q.add_argument("--picks-per-bin", type=positive_int, default=12, help="the paper: 12 picks per trial")
    q.add_argument("--out", required=True, help="collection folder; an existing one is resumed")
    q.add_argument("--split", choices=["train", "test", "all"], default="train",
                   help="train objects (the paper's seen) or test objects (unseen)")
    q.add_argument("--seed", type=int, default=0, help="bin i is filled with seed + i")
    q.add_argument("--after-probe", choices=["extract", "release"], default="extract",
                   help="extract (the outcome) or release where the probe ended (how reversible it is)")
    q.add_argument("--careless-rate", type=float, default=0.3, help="share of the demonstrator's picks made carelessly")
    q.add_argument("--aim", choices=("sampled", "clear"), default="sampled",
                   help="the demonstrator's careful aim: among sampled points (the shipped collections) or the clear "
                        "grasp deepest in the target (every pixel checked against the depth image)")
    q.add_argument("--workers", type=positive_int, help="worker processes (default: one per core)")
    q.add_argument("--executor", choices=["local", "ray", "serial"], default="local")
    q.add_argument("--address", help="Ray cluster address (default: start a local one)")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_collect)
    q = group.add_parser("summary", help="collections in figures: outcomes, seconds per pick, how reversible the probe is")
    q.add_argument("collections", nargs="+", help="collection folders")
    q.add_argument("--out", help="CSV file, e.g. results/ivfp_collections.csv")
    q.set_defaults(func=cmd_summary)
    add_commands(group)
    add_policy_commands(group)
    add_reinforce_commands(group)
    add_table1_commands(group)
    add_table2_commands(group)
    add_calibrate_commands(group, positive_int, env_id)
