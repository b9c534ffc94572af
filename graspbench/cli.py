"""The ``graspbench`` command: subcommands assembled from each room's functions.

Each command imports what it runs inside its function: ``graspbench --help`` and the light
commands must not pay for torch (seconds, 20 s on a loaded machine) or Ray.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import gymnasium as gym
import yaml

from .envs.spec import resolve_spec
from .io import write_atomic
from .options import add_options, options_from, positive_int
from .parallel import EXECUTORS
from .planners.train_args import TrainArgs


def _write_atomic_csv(frame, path) -> None:
    write_atomic(Path(path), frame.to_csv(index=False))


def _write_json(path, data) -> None:
    write_atomic(Path(path), json.dumps(data, indent=2))
    print(f"wrote {path}")


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
    from .envs import make_env  # noqa: F401  (registers)
    from .envs.spec import load_spec

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
    from .bench.metrics import summarize
    from .bench.runner import load_agent, run_episodes

    attempts = run_episodes(args.env, load_agent(args.agent), args.episodes, args.seed, progress=not args.quiet)
    _print_summary(f"{args.agent} on {args.env}", summarize(attempts))
    if args.out:
        _write_atomic_csv(attempts, args.out)
        print(f"wrote {len(attempts)} attempts to {args.out}")
    return 0


def cmd_benchmark(args) -> int:
    from .bench.compare import REFERENCE, comparison_text, shown
    from .bench.report import benchmark
    from .bench.summary import leaderboard

    agents = args.agents.split(",") if args.agents else None
    reference = None if args.reference == "none" else Path(args.reference) if args.reference else REFERENCE
    try:
        summary, bar_rows, comparison = benchmark(
            args.suite,
            args.out,
            executor=args.executor,
            workers=args.workers,
            address=args.address,
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
    from .bench.runner import load_agent, run_episodes
    from .bench.summary import leaderboard, summary_table

    attempts = run_episodes(args.env, load_agent(args.agent), args.episodes, args.seed, progress=not args.quiet)
    summary = summary_table(attempts)
    print(leaderboard(summary))
    if args.out:
        _write_atomic_csv(attempts, Path(args.out) / "attempts.csv")
        _write_atomic_csv(summary, Path(args.out) / "summary.csv")
        print(f"wrote {args.out}/attempts.csv and summary.csv")
    return 0


def cmd_show(args) -> int:
    from .bench.show import show_scene

    show_scene(args.env, args.seed, args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_analyze(args) -> int:
    from .bench.analyze import analyze

    analysis = analyze(args.records, args.out, label=args.label, gallery=args.gallery, progress=not args.quiet)
    print(analysis.text())
    print(f"wrote {', '.join(p.name for p in analysis.files)} to {analysis.out_dir}")
    return 0


def cmd_perf(args) -> int:
    from .bench.perf import perf_sim

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
    if args.json:
        _write_json(args.json, results)
    return 0


def cmd_generate(args) -> int:
    from .data.generate import LabelSettings, generate_dataset

    settings = LabelSettings(candidates_per_object=args.candidates_per_object)
    summary = generate_dataset(
        args.env,
        args.scenes,
        args.out,
        seed=args.seed,
        split=args.split,
        workers=args.workers,
        executor=args.executor,
        address=args.address,
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
    from .data.inspect import dataset_info, print_info

    info = dataset_info(args.dir)
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        print_info(info)
    return 0


def cmd_dataset_show(args) -> int:
    from .data.inspect import show_labels

    show_labels(args.dir, args.scene, args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_perf_datagen(args) -> int:
    from .bench.perf import perf_datagen

    r = perf_datagen(scenes=args.scenes, env_id=args.env, progress=not args.quiet)
    print(
        f"{r['env']} ({r['objects']}, {r['split']} objects), {r['scenes']} scenes on one core: "
        f"{r['s_per_scene']:.2f} s per scene ({r['scene_in_floor_steps']} bare physics steps of the floor, "
        f"{r['floor_ms_per_1000_steps']:.0f} ms per 1000), "
        f"{r['scenes_per_hour']:.0f} scenes per hour, {r['trials_per_core_hour']:.0f} grasp trials and "
        f"{r['verified_successes_per_core_hour']:.0f} verified successes per core-hour "
        f"({r['successes_per_object']:.2f} successes per object)"
    )
    if args.json:
        _write_json(args.json, r)
    return 0


def cmd_train(args) -> int:
    from .planners.train import train

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

    from .planners.dataset import GraspDataset, collate
    from .planners.offline import rectangle_scores, simulated_top1
    from .planners.postprocess import PostProcess
    from .planners.train import load_checkpoint

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
        _write_json(args.json, result)
    return 0


def cmd_perf_demonstrations(args) -> int:
    from .bench.perf import perf_demonstrations
    from .ivfp.demonstrator import demonstrate

    r = perf_demonstrations(demonstrate, bins=args.bins, progress=not args.quiet)
    print(
        f"{r['env']}: {r['picks']} demonstrations in {r['bins']} bins on one core ({r['outcomes']}): "
        f"{r['steps_per_pick']:.0f} steps per pick, pick {r['pick_s']:.3f} s vs floor {r['floor_s']:.3f} s -> overhead "
        f"x{r['overhead_ratio']:.2f} ({100 * r['physics_share']:.0f}% inside stepSimulation); filling the bin "
        f"{r['fill_s_per_pick']:.3f} s per pick; {r['core_s_per_demonstration']:.3f} core-seconds per demonstration"
    )
    if args.json:
        _write_json(args.json, r)
    return 0


def cmd_perf_planners(args) -> int:
    from .bench.perf import perf_planners

    rows = perf_planners(repeats=args.repeats)
    for r in rows:
        print(
            f"{r['name']:10s} {r['input']:5s} {r['params']:>9,d} parameters  {r['ctpg_ms']:7.2f} ms per grasp "
            f"(network {r['network_ms']:.2f} ms)"
        )
    if args.json:
        _write_json(args.json, rows)
    return 0


def cmd_perf_policies(args) -> int:
    from .bench.perf import perf_policies

    rows = perf_policies(bins=args.bins, progress=not args.quiet)
    for r in rows:
        print(
            f"{r['agent']:10s} free space {str(r['free_space']):5s}  {r['plan_ms']:7.2f} ms per grasp "
            f"({r['plan_cpu_ms']:.2f} ms of CPU), network and choice alone {r['network_ms']:.2f} ms -> "
            f"x{r['ratio_to_network']:.2f}"
        )
    if args.json:
        _write_json(args.json, rows)
    return 0


def cmd_reproduce(args) -> int:
    from .bench.experiments import reproduce

    if args.experiment == "friction_cone":  # a physics check, no training
        from .bench.friction_cone import friction_cone_table
        from .io import write_atomic

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
    from .bench.agents_training import train_agents

    train_agents(
        args.agents.split(",") if args.agents else None,
        epochs=args.epochs,
        threads=args.threads,
        progress=not args.quiet,
    )
    print("wrote agents/weights/ and agents/README.md")
    return 0


def _env_id(text: str) -> str:
    """An argparse type: a registered environment id or a spec file that reads."""
    try:
        resolve_spec(text)
    except ValueError as error:  # argparse shows only ArgumentTypeError's message
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graspbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("envs", help="list the registered environments")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser("run", help="run clutter-removal episodes of an agent and print its rates")
    p.add_argument("--env", type=_env_id, required=True, help="environment id or spec file")
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
        choices=["quick", "default", "full", "ivfp", "novel"],
        default="default",
        help="quick: 2 environments, 2 agents, 5 episodes; default: 4 x every agent x 20; full: x 100; "
        "ivfp: BinPick-v0 seen and unseen x the IVFP agents x 20 trials of 12 picks (docs/ivfp.md); "
        "novel: NovelSingle-v0 and NovelPile-v0 (object families no training set uses, at real "
        "size) x every agent x 100, with results by family",
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
    p.add_argument("--executor", choices=EXECUTORS, default="local")
    p.add_argument("--workers", type=positive_int, help="worker processes (default: one per core)")
    p.add_argument("--address", help="Ray cluster address (default: start a local one)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser("evaluate", help="one agent in one environment: records and summary")
    p.add_argument("--agent", required=True, help="a shipped agent or an agent YAML")
    p.add_argument("--env", type=_env_id, required=True)
    p.add_argument("--episodes", type=positive_int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder for attempts.csv and summary.csv")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("show", help="a picture of a scene: RGB, depth, segmentation, support graph")
    p.add_argument("--env", type=_env_id, required=True)
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

    p = sub.add_parser("generate", help="make a dataset of scenes with grasps labelled by executing them")
    p.add_argument("--env", type=_env_id, required=True, help="environment id or spec file: the kind of scene")
    p.add_argument("--scenes", type=positive_int, required=True)
    p.add_argument("--out", required=True, help="dataset folder; an existing one is resumed")
    p.add_argument(
        "--split",
        choices=["train", "test", "all"],
        default="train",
        help="which objects of the set (train for training data, test for held-out validation)",
    )
    p.add_argument("--seed", type=int, default=0, help="scene i is built with seed + i")
    p.add_argument("--workers", type=positive_int, help="worker processes (default: one per core)")
    p.add_argument("--executor", choices=EXECUTORS, default="local")
    p.add_argument("--address", help="Ray cluster address (default: start a local one)")
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

    p = sub.add_parser("perf", help="speed measurements")
    perf = p.add_subparsers(dest="what", required=True)
    q = perf.add_parser("sim", help="grasp trials against the physics floor, render time, reset memory")
    q.add_argument("--trials", type=positive_int, default=30)
    q.add_argument("--resets", type=positive_int, default=1000)
    q.add_argument("--json", help="write the figures to this file")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_perf)
    q = perf.add_parser("datagen", help="dataset generation throughput on one core")
    q.add_argument("--scenes", type=positive_int, default=8)
    q.add_argument("--env", default="GraspBench/Pile-v0", help="environment id or spec file whose scenes are labelled")
    q.add_argument("--json", help="write the figures to this file")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_perf_datagen)
    q = perf.add_parser(
        "demonstrations", help="what one IVFP demonstration (pick, probe, film, extraction) costs on one core"
    )
    q.add_argument("--bins", type=positive_int, default=3)
    q.add_argument("--json", help="write the figures to this file")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_perf_demonstrations)
    q = perf.add_parser("planners", help="parameters and computation time per grasp of every network (one core)")
    q.add_argument("--repeats", type=positive_int, default=30)
    q.add_argument("--json", help="write the figures to this file")
    q.set_defaults(func=cmd_perf_planners)
    q = perf.add_parser(
        "policies", help="planning time per grasp of the IVFP policy agents, free space or not (one core)"
    )
    q.add_argument("--bins", type=positive_int, default=3)
    q.add_argument("--json", help="write the figures to this file")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_perf_policies)

    from .ivfp.cli import add_parser as add_ivfp_parser

    add_ivfp_parser(sub, positive_int, _env_id)

    from .active.cli import add_parser as add_active_parser

    add_active_parser(sub, positive_int, _env_id)
    return parser


def main(argv=None) -> int:
    import graspbench  # noqa: F401  (registers the environments)

    from .preflight import check_args, interrupted_line, owning_output

    args = build_parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
