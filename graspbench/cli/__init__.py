"""The ``graspbench`` command: subcommands assembled from each room's functions.

Each command imports what it runs inside its function: ``graspbench --help`` and the light
commands must not pay for torch (seconds, 20 s on a loaded machine) or Ray.
"""

from __future__ import annotations

import argparse
import sys

from .. import active, ivfp
from ..options import positive_int
from . import bench, data, perf, train
from .common import env_argument


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; the IVFP and active-learning commands, whose options are their trainers'
    dataclasses (torch, two seconds), are built in full only when ``command`` is one of them and
    are otherwise listed by name and help alone."""
    parser = argparse.ArgumentParser(prog="graspbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    bench.add_parsers(sub)
    data.add_parsers(sub)
    train.add_parsers(sub)
    perf.add_parsers(sub)
    if command in ivfp.COMMAND_HELP:
        from ..ivfp.cli import add_parser as add_ivfp_parser

        add_ivfp_parser(sub, positive_int, env_argument)
    if command in active.COMMAND_HELP:
        from ..active.cli import add_parser as add_active_parser

        add_active_parser(sub, env_argument)
    for name, help_text in {**ivfp.COMMAND_HELP, **active.COMMAND_HELP}.items():
        if name not in sub.choices:
            sub.add_parser(name, help=help_text)
    return parser


def main(argv=None) -> int:
    import graspbench  # noqa: F401  (registers the environments)

    from ..preflight import check_args, interrupted_line, owning_output

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(next((word for word in argv if not word.startswith("-")), None)).parse_args(argv)
    try:
        check_args(args)  # ordinary mistakes cost one line, before any work starts
        with owning_output(args):
            return args.func(args)
    except KeyboardInterrupt:
        print(f"\n{interrupted_line(args)}", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as error:
        print(f"graspbench: error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        # A work item of a sweep failed in a worker process: say what went wrong there, in one line.
        if isinstance(error.__cause__, (ValueError, FileNotFoundError)):
            print(f"graspbench: error: {error.__cause__}", file=sys.stderr)
            return 2
        raise
