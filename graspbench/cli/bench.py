"""``graspbench envs``, ``run``, ``benchmark``, ``evaluate``, ``show`` and ``analyze``: agents in the
environments, the leaderboard and its comparison with the reference, a scene's picture, why grasps
failed.

Each command imports what it runs inside its function (why: :mod:`graspbench.cli`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym

from ..options import positive_int
from ..parallel import add_executor_flags, executor_options
from .common import env_argument, write_csv


def _print_summary(label: str, summary: dict) -> None:
    print(f"{label}: {summary['episodes']} episodes, {summary['attempts']} attempts")
    print(f"  grasp success rate  {summary['gsr']}")
    print(f"  object removal rate {summary['removal_rate']}")
    print(f"  collision rate      {summary['collision_rate']}")
    if "top_level_rate" in summary:
        print(f"  top-level first     {summary['top_level_rate']}")
    if summary["sim_errors"]:
        print(f"  simulation errors (scene rebuilt, not counted): {summary['sim_errors']}")


def cmd_envs(args) -> int:
    from ..envs import make_env  # noqa: F401  (registers)
    from ..envs.spec import load_spec

    ids = sorted(env_id for env_id in gym.registry if env_id.startswith("GraspBench/"))
    width = max(map(len, ids), default=0)
    for env_id in ids:
        s, path = load_spec(gym.registry[env_id].kwargs["spec"]).scene, gym.registry[env_id].kwargs["spec"]
        print(
            f"{env_id:{width}s} {s.kind:8s} {s.objects} ({s.split}, x{s.object_scale:g}), "
            f"{s.object_count[0]}-{s.object_count[1]} objects   {path}"
        )
    return 0


def cmd_run(args) -> int:
    from ..bench.metrics import summarize
    from ..bench.runner import load_agent, run_episodes

    attempts = run_episodes(args.env, load_agent(args.agent), args.episodes, args.seed, progress=not args.quiet)
    _print_summary(f"{args.agent} on {args.env}", summarize(attempts))
    if args.out:
        write_csv(attempts, args.out)
        print(f"wrote {len(attempts)} attempts to {args.out}")
    return 0


def cmd_benchmark(args) -> int:
    from ..bench.compare import REFERENCE, comparison_text, shown
    from ..bench.report import benchmark
    from ..bench.summary import leaderboard

    agents = args.agents.split(",") if args.agents else None
    reference = None if args.reference == "none" else Path(args.reference) if args.reference else REFERENCE
    try:
        summary, bar_rows, comparison = benchmark(
            args.suite,
            args.out,
            **executor_options(args),
            seed=args.seed,
            agents=agents,
            progress=not args.quiet,
            resume=args.resume,
            reference=reference,
        )
    except KeyboardInterrupt:
        # A fresh run starts from nothing, so say how to keep what this one finished.
        print(
            f"\ninterrupted: the finished blocks are kept in {args.out}/attempts; continue with "
            f"`graspbench benchmark --resume --out {args.out}` and the same other options",
            file=sys.stderr,
        )
        return 130
    print(leaderboard(summary))
    for bar, measured, verdict in bar_rows:
        print(f"{bar}: {measured} -> {verdict}")
    if comparison:
        print(comparison_text(comparison, shown(reference / "summary.csv")))
    print(f"wrote {args.out}/summary.csv, attempts.csv, rates.png, ctpg.png and report.md")
    return 0


def cmd_evaluate(args) -> int:
    from ..bench.runner import load_agent, run_episodes
    from ..bench.summary import leaderboard, summary_table

    attempts = run_episodes(args.env, load_agent(args.agent), args.episodes, args.seed, progress=not args.quiet)
    summary = summary_table(attempts)
    print(leaderboard(summary))
    if args.out:
        write_csv(attempts, Path(args.out) / "attempts.csv")
        write_csv(summary, Path(args.out) / "summary.csv")
        print(f"wrote {args.out}/attempts.csv and summary.csv")
    return 0


def cmd_show(args) -> int:
    from ..bench.show import show_scene

    show_scene(args.env, args.seed, args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_analyze(args) -> int:
    from ..bench.analyze import analyze

    analysis = analyze(args.records, args.out, label=args.label, gallery=args.gallery, progress=not args.quiet)
    print(analysis.text())
    print(f"wrote {', '.join(p.name for p in analysis.files)} to {analysis.out_dir}")
    return 0


def add_parsers(sub) -> None:
    """The subcommands envs, run, benchmark, evaluate, show and analyze."""
    p = sub.add_parser("envs", help="list the registered environments")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser("run", help="run clutter-removal episodes of an agent and print its rates")
    p.add_argument("--env", type=env_argument, required=True, help="environment id or spec file")
    p.add_argument(
        "--agent", required=True, help="a shipped agent (agents/*.yaml: random, heuristic, ...) or an agent YAML"
    )
    p.add_argument("--episodes", type=positive_int, default=10)
    p.add_argument("--seed", type=int, default=0, help="episode i is reset with seed + i")
    p.add_argument("--out", help="CSV file with one row per attempt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("benchmark", help="every shipped agent on every environment: the leaderboard")
    p.add_argument(
        "--suite",
        choices=["quick", "default", "full", "ivfp", "novel", "priority"],
        default="default",
        help="quick: 2 environments, 2 agents, 5 episodes; default: 4 x every agent x 20; full: x 100; "
        "ivfp: BinPick-v1 seen and unseen x the IVFP agents x 20 trials of 12 picks (docs/ivfp.md); "
        "novel: NovelSingle-v0 and NovelPile-v0 (object families no training set uses, at real "
        "size) x every agent x 100, with results by family; priority: PriorityStacks-v0 (supports "
        "stay visible) x random, heuristic, ggcnn, gpnet-nogpp, gpnet (the networks also as their papers run them) x 50",
    )
    p.add_argument(
        "--out",
        default="runs/benchmark",
        help="folder for the records, summary, plots and report.md (results/benchmark: remake the reference)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="reuse the blocks of episodes an earlier (interrupted) run left in --out; "
        "without it, every block is run now",
    )
    p.add_argument(
        "--reference",
        help="folder of a benchmark's summary.csv to compare with (default: the committed "
        "results/benchmark; 'none': no comparison)",
    )
    p.add_argument("--agents", help="comma-separated agents instead of the suite's")
    p.add_argument("--seed", type=int, default=0, help="episode i is reset with seed + i, for every agent alike")
    add_executor_flags(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser("evaluate", help="one agent in one environment: records and summary")
    p.add_argument("--agent", required=True, help="a shipped agent or an agent YAML")
    p.add_argument("--env", type=env_argument, required=True)
    p.add_argument("--episodes", type=positive_int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder for attempts.csv and summary.csv")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("show", help="a picture of a scene: RGB, depth, segmentation, support graph")
    p.add_argument("--env", type=env_argument, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="scene.png")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("analyze", help="why an agent's grasps failed: causes, distance to verified grasps, a gallery")
    p.add_argument("records", help="attempt records: the CSV of `run --out`, or a folder of `evaluate`/`benchmark`")
    p.add_argument(
        "--out",
        help="folder for causes.csv, failures.csv, gallery.png, report.md (default: analysis/ beside the records)",
    )
    p.add_argument(
        "--label",
        type=int,
        default=20,
        help="failures to replay and compare with the scene's verified grasps (0: none)",
    )
    p.add_argument("--gallery", type=int, default=16, help="failures to draw in gallery.png (0: none)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_analyze)
