"""``graspbench perf sim|datagen|demonstrations|planners|policies``: speed measurements.

Each command imports what it runs inside its function (why: :mod:`graspbench.cli`).
"""

from __future__ import annotations

from ..options import positive_int
from .common import write_json


def cmd_perf(args) -> int:
    from ..bench.perf import perf_sim

    results = perf_sim(trials=args.trials, resets=args.resets, progress=not args.quiet)
    for kind in ("boxes", "meshes"):
        r = results[kind]
        print(
            f"{kind:6s} ({r['objects']}, pile scenes): {r['steps_per_trial']:.0f} steps per trial, "
            f"trial {r['trial_ms']:.1f} ms vs floor {r['floor_ms']:.1f} ms -> overhead x{r['overhead_ratio']:.2f} "
            f"({100 * r['physics_share']:.0f}% of the trial inside stepSimulation; "
            f"{r['step_us_in_trial']:.0f} us/step in the trial, {r['step_us_floor']:.0f} us/step at rest); "
            f"{r['trials_per_core_second']:.1f} trials per core-second"
        )
    print(
        f"render {results['render']['width_px']}x{results['render']['height_px']}: {results['render']['render_ms']:.1f} ms"
    )
    m = results["reset_memory"]
    print(
        f"{m['resets']} resets of {m['env']}: resident memory {m['rss_before_mb']:.0f} -> {m['rss_after_mb']:.0f} MB "
        f"(+{m['growth_mb']:.1f} MB), {m['reset_ms']:.1f} ms per reset"
    )
    return _reported(args, results)


def cmd_perf_datagen(args) -> int:
    from ..bench.perf import perf_datagen

    r = perf_datagen(scenes=args.scenes, env_id=args.env, progress=not args.quiet)
    print(
        f"{r['env']} ({r['objects']}, {r['split']} objects), {r['scenes']} scenes on one core: "
        f"{r['s_per_scene']:.2f} s per scene ({r['scene_in_floor_steps']} bare physics steps of the floor, "
        f"{r['floor_ms_per_1000_steps']:.0f} ms per 1000), "
        f"{r['scenes_per_hour']:.0f} scenes per hour, {r['trials_per_core_hour']:.0f} grasp trials and "
        f"{r['verified_successes_per_core_hour']:.0f} verified successes per core-hour "
        f"({r['successes_per_object']:.2f} successes per object)"
    )
    return _reported(args, r)


def cmd_perf_demonstrations(args) -> int:
    from ..bench.perf import perf_demonstrations
    from ..ivfp.demonstrator import demonstrate

    r = perf_demonstrations(demonstrate, bins=args.bins, progress=not args.quiet)
    print(
        f"{r['env']}: {r['picks']} demonstrations in {r['bins']} bins on one core ({r['outcomes']}): "
        f"{r['steps_per_pick']:.0f} steps per pick, pick {r['pick_s']:.3f} s vs floor {r['floor_s']:.3f} s -> overhead "
        f"x{r['overhead_ratio']:.2f} ({100 * r['physics_share']:.0f}% inside stepSimulation); filling the bin "
        f"{r['fill_s_per_pick']:.3f} s per pick; {r['core_s_per_demonstration']:.3f} core-seconds per demonstration"
    )
    return _reported(args, r)


def cmd_perf_planners(args) -> int:
    from ..bench.perf import perf_planners

    rows = perf_planners(repeats=args.repeats)
    for r in rows:
        print(
            f"{r['name']:10s} {r['input']:5s} {r['params']:>9,d} parameters  {r['ctpg_ms']:7.2f} ms per grasp "
            f"(network {r['network_ms']:.2f} ms)"
        )
    return _reported(args, rows)


def cmd_perf_policies(args) -> int:
    from ..bench.perf import perf_policies

    rows = perf_policies(bins=args.bins, progress=not args.quiet)
    for r in rows:
        print(
            f"{r['agent']:10s} free space {str(r['free_space']):5s}  {r['plan_ms']:7.2f} ms per grasp "
            f"({r['plan_cpu_ms']:.2f} ms of CPU), network and choice alone {r['network_ms']:.2f} ms -> "
            f"x{r['ratio_to_network']:.2f}"
        )
    return _reported(args, rows)


def _reported(args, figures) -> int:
    """Write a measurement's figures where --json asks; the command's exit status."""
    if args.json:
        write_json(args.json, figures)
    return 0


def add_parsers(sub) -> None:
    """The subcommand perf and its measurements."""
    p = sub.add_parser("perf", help="speed measurements")
    perf = p.add_subparsers(dest="what", required=True)
    q = perf.add_parser("sim", help="grasp trials against the physics floor, render time, reset memory")
    q.add_argument("--trials", type=positive_int, default=30)
    q.add_argument("--resets", type=positive_int, default=1000)
    _measured_by(q, cmd_perf)
    q = perf.add_parser("datagen", help="dataset generation throughput on one core")
    q.add_argument("--scenes", type=positive_int, default=8)
    q.add_argument("--env", default="GraspBench/Pile-v0", help="environment id or spec file whose scenes are labelled")
    _measured_by(q, cmd_perf_datagen)
    q = perf.add_parser(
        "demonstrations", help="what one IVFP demonstration (pick, probe, film, extraction) costs on one core"
    )
    q.add_argument("--bins", type=positive_int, default=3)
    _measured_by(q, cmd_perf_demonstrations)
    q = perf.add_parser("planners", help="parameters and computation time per grasp of every network (one core)")
    q.add_argument("--repeats", type=positive_int, default=30)
    _measured_by(q, cmd_perf_planners, progress=False)
    q = perf.add_parser(
        "policies", help="planning time per grasp of the IVFP policy agents, free space or not (one core)"
    )
    q.add_argument("--bins", type=positive_int, default=3)
    _measured_by(q, cmd_perf_policies)


def _measured_by(parser, command, progress: bool = True) -> None:
    """The flags every measurement has after its own: --json, and --quiet where it shows progress;
    ``command`` runs it."""
    parser.add_argument("--json", help="write the figures to this file")
    if progress:
        parser.add_argument("--quiet", action="store_true")
    parser.set_defaults(func=command)
