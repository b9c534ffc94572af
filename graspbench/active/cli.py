"""``graspbench active-learn``: the pool-based loop from the command line. Its flags are the fields
of :class:`.args.ActiveArgs` (:func:`graspbench.options.add_options`), and two that run something
else on a finished run: ``--same-data-round`` and ``--reevaluate``."""

from __future__ import annotations

import dataclasses

from ..options import add_options, non_negative_int
from . import COMMAND_HELP
from .args import PRESET_FIELDS, ActiveArgs
from .loop import reevaluate, run, same_data
from .report import add_parser as add_report_parser


def active_args(args) -> ActiveArgs:
    """The run's settings from the parsed flags: the preset's, and every flag given."""
    active = ActiveArgs.from_preset(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ActiveArgs)})
    # --crop-px 0 asks for whole images: None, which from_preset would read as a flag left out.
    return dataclasses.replace(active, crop_px=None) if args.crop_px == 0 else active


def cmd_active_learn(args) -> int:
    active = active_args(args)
    if args.reevaluate:
        summary = reevaluate(
            active.out, active.data_dir, active.threads, progress=active.progress, workers=active.workers
        )
        print(
            f"re-evaluated {summary['reevaluated']} rounds in {active.out} with graspbench "
            f"{summary['evaluated_with']}; every round there is now measured by it"
        )
        return 0
    if args.same_data_round is not None:
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


def add_parser(sub, env_id) -> None:
    """``active-learn``, and ``active-report`` beside it; ``env_id`` is the command line's check of
    an environment id."""
    p = sub.add_parser(
        "active-learn",
        help=COMMAND_HELP["active-learn"],
        description="Label pool scenes round by round, chosen by a strategy, and retrain GG-CNN "
        "(docs/active_learning.md). A flag left out whose default is \"the preset's\" takes --preset's value.",
    )
    add_options(p, ActiveArgs, types={"env": env_id}, preset_fields=PRESET_FIELDS)
    p.add_argument(
        "--same-data-round",
        type=non_negative_int,
        help="instead of running: train a plain GG-CNN on the scenes DAL had labelled at this round of "
        "each trial in --out, beside DAL's model (the paper's 'same data' finding: round 6)",
    )
    p.add_argument(
        "--reevaluate",
        action="store_true",
        help="instead of running: evaluate every finished round in --out again (its own settings) with the "
        "code installed now, where other code evaluated it (after a fix to the simulator)",
    )
    p.set_defaults(func=cmd_active_learn)
    add_report_parser(sub)
