"""``graspbench generate`` and ``graspbench dataset info|show``: a dataset of scenes with grasps labelled
by executing them, and a look at one.

Each command imports what it runs inside its function (why: :mod:`graspbench.cli`).
"""

from __future__ import annotations

import json

from ..envs.spec import add_split_flag
from ..options import positive_int
from ..parallel import add_executor_flags, executor_options
from .common import env_argument


def cmd_generate(args) -> int:
    from ..data.candidates import LabelSettings
    from ..data.generate import generate_dataset

    settings = LabelSettings(candidates_per_object=args.candidates_per_object)
    summary = generate_dataset(
        args.env,
        args.scenes,
        args.out,
        seed=args.seed,
        split=args.split,
        **executor_options(args),
        settings=settings,
        progress=not args.quiet,
        vary=args.vary,
    )
    print(
        f"{args.out}: {summary['scenes']} scenes ({summary['made_now']} made now in {summary['wall_s']:.0f} s), "
        f"{summary['candidates']} candidates, {summary['successes']} verified successes "
        f"({summary['collision_free_successes']} collision-free)"
    )
    if summary["made_now"]:
        print(f"  {summary['trials']} grasp trials, {summary['trials_per_core_hour']:.0f} per core-hour")
    return 0


def cmd_dataset_info(args) -> int:
    from ..data.inspect import dataset_info, print_info

    info = dataset_info(args.dir)
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        print_info(info)
    return 0


def cmd_dataset_show(args) -> int:
    from ..data.inspect import show_labels

    show_labels(args.dir, args.scene, args.out)
    print(f"wrote {args.out}")
    return 0


def add_parsers(sub) -> None:
    """The subcommands generate and dataset."""
    p = sub.add_parser("generate", help="make a dataset of scenes with grasps labelled by executing them")
    p.add_argument("--env", type=env_argument, required=True, help="environment id or spec file: the kind of scene")
    p.add_argument("--scenes", type=positive_int, required=True)
    p.add_argument("--out", required=True, help="dataset folder; an existing one is resumed")
    add_split_flag(p, "which objects of the set (train for training data, test for held-out validation)")
    p.add_argument("--seed", type=int, default=0, help="scene i is built with seed + i")
    add_executor_flags(p)
    p.add_argument(
        "--candidates-per-object",
        type=positive_int,
        default=8,
        help="antipodal candidates executed per object (single objects need ~24 for 16 labels per image)",
    )
    p.add_argument(
        "--vary",
        action="store_true",
        help="objects as varied as a lab's: procedural shapes mixed in, each object's scale, friction and "
        "mass drawn (graspbench.data.generate.LAB_VARIETY)",
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("dataset", help="look at a dataset")
    data = p.add_subparsers(dest="what", required=True)
    q = data.add_parser("info", help="counts and rates")
    q.add_argument("dir")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=cmd_dataset_info)
    q = data.add_parser("show", help="one scene with its labels drawn, coloured by outcome")
    q.add_argument("dir")
    q.add_argument("--scene", type=int, default=0)
    q.add_argument("--out", default="labels.png")
    q.set_defaults(func=cmd_dataset_show)
