"""The pool-based loop: one trial of one strategy round by round, resumable, and the summary of
every trial in an output folder (its settings: :class:`.args.ActiveArgs`).

A trial of a strategy::

    round 0: label the initial pool (drawn from the trial seed: the same for every strategy),
             train, evaluate on the test set, select k scenes
    round r: label the k scenes picked at round r - 1, train afresh on everything labelled,
             evaluate, select the next k (not after the last round)

Files (each written to a temporary name, then renamed)::

    OUT/run.json                         the settings every trial in OUT shares
    OUT/STRATEGY/trial-T/round-RR.json   a finished round: its metrics row, the labelled scenes, the next picks
    OUT/STRATEGY/trial-T/round-RR.pt     the round's GG-CNN (a checkpoint evaluate-offline and agents read)
    OUT/STRATEGY/trial-T/metrics.csv     the trial's rows
    OUT/rounds.csv, curves.csv, auc.csv, learning_curves.png   every trial, summarised

A round's JSON file is written last, so a run stopped anywhere resumes at the first round that has
none; the choice of the next scenes is stored in it, so nothing needs retraining to resume.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .. import __version__
from ..data.candidates import LabelSettings
from ..io import reading, write_atomic
from ..options import flag_name
from ..parallel import run_tasks
from ..planners.dataset import GraspDataset
from ..planners.train import load_checkpoint
from ..versions import experiment_version, is_current
from .args import ACTIVE_FREE, ActiveArgs
from .curves import METRICS, interval, plot_curves, trial_aucs
from .pool import PoolData, prepare
from .strategies import select
from .training import evaluate, labelled_dataset, round_epochs, save_model, train_round


def initial_pool(pool_scenes: int, initial: int, seed: int, trial: int) -> list[int]:
    """The trial's initial labelled scenes: from (seed, trial) only, so every strategy gets the same."""
    return sorted(int(i) for i in np.random.default_rng([seed, trial]).choice(pool_scenes, initial, replace=False))


def round_seed(seed: int, trial: int, round_index: int) -> int:
    """Initialisation, batch order and selection randomness of a round: the same for every strategy."""
    return int(np.random.SeedSequence([seed, trial, round_index]).generate_state(1)[0]) % 2**31


def trial_folder(out, strategy: str, trial: int) -> Path:
    return Path(out) / strategy / f"trial-{trial}"


def _round_path(folder: Path, round_index: int) -> Path:
    return folder / f"round-{round_index:02d}.json"


def read_round(folder: Path, round_index: int) -> dict:
    path = _round_path(folder, round_index)
    with reading(path, "a finished round (JSON)", "delete it; the round is run again"):
        state = json.loads(path.read_text())
        if not {"row", "labelled", "next"} <= set(state):
            raise ValueError("fields missing")
    return state


def finished_rounds(folder: Path, rounds: int) -> int:
    """How many rounds, from round 0 on, have their file."""
    done = 0
    while done <= rounds and _round_path(folder, done).exists():
        done += 1
    return done


_POOL_INPUTS: dict = {}


def _pool_inputs(data: PoolData, kind: str):
    key = (str(data.root), data.scenes, kind)
    if key not in _POOL_INPUTS:
        _POOL_INPUTS.clear()
        _POOL_INPUTS[key] = torch.from_numpy(data.inputs(kind))
    return _POOL_INPUTS[key]


def run_trial(args: ActiveArgs, data: PoolData, strategy: str, trial: int, bar=None) -> list[dict]:
    """Run (or finish) one trial of one strategy; returns its rows, one per round."""
    torch.set_num_threads(args.threads)
    folder = trial_folder(args.out, strategy, trial)
    folder.mkdir(parents=True, exist_ok=True)
    done = finished_rounds(folder, args.rounds)
    rows = [read_round(folder, r)["row"] for r in range(done)]
    if done > args.rounds:
        return rows
    if done == 0:
        labelled, new = initial_pool(data.scenes, args.initial, args.seed, trial), None
    else:
        last = read_round(folder, done - 1)
        labelled, new = sorted(last["labelled"] + last["next"]), last["next"]
    new = labelled if new is None else new
    pool_x = _pool_inputs(data, args.input)
    test = GraspDataset(data.test, input=args.input, scenes=range(data.test_scenes))
    for round_index in range(done, args.rounds + 1):
        costs = data.annotate(new)
        spent = {"trials": sum(costs[i]["trials"] for i in new), "core_s": sum(costs[i]["core_s"] for i in new)}
        unlabelled = sorted(set(range(data.scenes)) - set(labelled))
        seed = round_seed(args.seed, trial, round_index)
        cpu_started, started = time.process_time(), time.perf_counter()
        dataset = labelled_dataset(data.labels, labelled, args)
        trained = train_round(strategy, dataset, pool_x, labelled, unlabelled, args, seed)
        train_s = time.perf_counter() - started
        scores = evaluate(trained.model, test, args.sim_test_scenes)
        picks, selection = [], {"select_s": 0.0}
        if round_index < args.rounds:
            steps = round_epochs(len(dataset), args) * -(-len(dataset) // args.batch_size)
            picks, selection = select(
                strategy, trained, pool_x, labelled, args.per_round, seed, vaal_steps=steps, batch_size=args.batch_size
            )
        before = rows[-1] if rows else {"trials_total": 0, "label_core_s_total": 0.0}
        row = {
            "strategy": strategy,
            "trial": trial,
            "round": round_index,
            "labels": len(labelled),
            "labels_fraction": len(labelled) / data.scenes,
            "new_labels": len(new),
            "trials": spent["trials"],
            "trials_total": before["trials_total"] + spent["trials"],
            "label_core_s": spent["core_s"],
            "label_core_s_total": before["label_core_s_total"] + spent["core_s"],
            **scores,
            "train_s": train_s,
            **selection,
            "cpu_s": time.process_time() - cpu_started,
            **{f"final_{k}": v for k, v in trained.history[-1].items()},
        }
        save_model(
            folder / f"round-{round_index:02d}.pt",
            trained.model,
            args,
            {
                "active": {
                    "strategy": strategy,
                    "trial": trial,
                    "round": round_index,
                    "labels": len(labelled),
                    "labels_fraction": row["labels_fraction"],
                    "trials_total": row["trials_total"],
                    "label_core_s_total": row["label_core_s_total"],
                }
            },
        )
        write_atomic(
            _round_path(folder, round_index), json.dumps({"row": row, "labelled": labelled, "next": picks}, indent=1)
        )
        rows.append(row)
        _write_csv(folder / "metrics.csv", rows)
        if bar is not None:
            bar.update()
            if args.progress:
                simulated = (
                    f", simulated {100 * row['net_top1_success']:.1f}% (network) "
                    f"{100 * row['sim_top1_success']:.1f}% (planner)"
                    if "sim_top1_success" in row
                    else ""
                )
                bar.write(
                    f"{strategy} trial {trial} round {round_index}: {row['labels']} labels "
                    f"({100 * row['labels_fraction']:.0f}% of the pool), top-1 {100 * row['test_top1']:.1f}%"
                    f"{simulated}; {row['trials_total']} grasp trials, {row['label_core_s_total']:.0f} "
                    f"core-s of labelling so far"
                )
        labelled, new = sorted(labelled + picks), picks
    return rows


def _write_csv(path: Path, rows: list[dict]) -> None:
    write_atomic(path, pd.DataFrame(rows).to_csv(index=False))


def _trial_task(task: dict) -> list[dict]:
    """One (strategy, trial) in a worker process: plain data in, rows out."""
    args = ActiveArgs(**task["args"])
    data = PoolData(**{**task["data"], "root": Path(task["data"]["root"])})
    return run_trial(args, data, task["strategy"], task["trial"])


def _check_run(args: ActiveArgs) -> None:
    """OUT/run.json: every trial in a folder shares the settings that change results."""
    settings = {k: v for k, v in dataclasses.asdict(args).items() if k not in ACTIVE_FREE}
    path = Path(args.out) / "run.json"
    if path.exists():
        with reading(path, "an active-learning run's settings (JSON)", "delete it, or choose another --out"):
            old = json.loads(path.read_text())["settings"]
        # A setting added to graspbench after the run started reads as its default.
        old = {**{k: v for k, v in dataclasses.asdict(ActiveArgs()).items() if k in settings}, **old}
        changed = [k for k in sorted(set(old) | set(settings)) if old.get(k) != settings.get(k)]
        if changed:
            k = changed[0]
            raise ValueError(
                f"{args.out} holds a run with other settings ({flag_name(k)} was {old.get(k)!r}, now "
                f"{settings.get(k)!r}); resume it with the same settings or choose another --out"
            )

    write_atomic(path, json.dumps({"settings": settings, "graspbench_version": __version__}, indent=1))


def _prepare(args: ActiveArgs, workers: int, progress: bool) -> PoolData:
    """The pool and test scenes ``args`` name (:func:`prepare`: made if missing), the same for a
    run and for the evaluation of its rounds."""
    return prepare(
        args.data_path,
        args.env,
        args.pool_scenes,
        args.test_scenes,
        args.pool_seed,
        args.test_seed,
        LabelSettings(candidates_per_object=args.candidates_per_object),
        workers=workers,
        progress=progress,
    )


def run(args: ActiveArgs) -> dict:
    """Prepare the data, run every (strategy, trial) to its last round, summarise; returns the summary."""
    args.check()
    torch.set_num_threads(args.threads)
    _check_run(args)
    data = _prepare(args, workers=args.workers, progress=args.progress)
    jobs = [(s, t) for s in args.strategies for t in range(args.trials)]
    if args.workers == 1:
        total = len(jobs) * (args.rounds + 1)
        finished = sum(
            min(finished_rounds(trial_folder(args.out, s, t), args.rounds), args.rounds + 1) for s, t in jobs
        )
        with tqdm(total=total, initial=finished, desc="rounds", unit="round", disable=not args.progress) as bar:
            for strategy, trial in jobs:
                run_trial(args, data, strategy, trial, bar=bar)
    else:
        task_data = {**dataclasses.asdict(data), "root": str(data.root)}
        tasks = [
            {"args": {**dataclasses.asdict(args), "progress": False}, "data": task_data, "strategy": s, "trial": t}
            for s, t in jobs
        ]
        with tqdm(total=len(tasks), desc="trials", unit="trial", disable=not args.progress) as bar:
            for task, _ in run_tasks(_trial_task, tasks, executor="local", workers=args.workers):
                bar.update()
                bar.write(f"{task['strategy']} trial {task['trial']}: done")
    return summarize(args.out)


def summarize(out) -> dict:
    """rounds.csv (every row), curves.csv (mean and 95% interval over trials per strategy and
    round), auc.csv (the area under each trial's learning curve, divided by the span of labels
    it covers: the mean accuracy over the budget) and learning_curves.png."""
    out = Path(out)
    rows = [json.loads(p.read_text())["row"] for p in sorted(out.glob("*/trial-*/round-*.json"))]
    if not rows:
        return {"rounds": 0}
    frame = pd.DataFrame(rows).sort_values(["strategy", "trial", "round"])
    write_atomic(out / "rounds.csv", frame.to_csv(index=False))
    metrics = [m for m in METRICS if m in frame]
    curves = []
    for (strategy, round_index), group in frame.groupby(["strategy", "round"]):
        row = {
            "strategy": strategy,
            "round": round_index,
            "labels": int(group["labels"].iloc[0]),
            "trials_mean": float(group["trials_total"].mean()),
            "label_core_s_mean": float(group["label_core_s_total"].mean()),
        }
        for metric in metrics:
            row[f"{metric}_mean"], row[f"{metric}_ci95"], row["n_trials"] = interval(group[metric])
        curves.append(row)
    curves = pd.DataFrame(curves)
    write_atomic(out / "curves.csv", curves.to_csv(index=False))
    aucs = []
    per_metric = {metric: trial_aucs(frame, metric) for metric in metrics}
    for strategy in sorted(frame["strategy"].unique()):
        row = {"strategy": strategy}
        for metric, per_trial in per_metric.items():
            row[f"{metric}_auc"], row[f"{metric}_auc_ci95"], row["n_trials"] = interval(
                per_trial.loc[per_trial["strategy"] == strategy, "auc"]
            )
        aucs.append(row)
    write_atomic(out / "auc.csv", pd.DataFrame(aucs).to_csv(index=False))
    plot_curves(curves, metrics, out / "learning_curves.png")
    return {"rounds": len(frame), "strategies": sorted(frame["strategy"].unique()), "out": str(out)}


def same_data(args: ActiveArgs, round_index: int, strategy: str = "dal"):
    """The paper's "same data" check: a plain GG-CNN trained on exactly the scenes ``strategy``
    had labelled at ``round_index`` (same initialisation and batch order), beside the model that
    strategy trained on them; one row per trial, into OUT/same_data.csv."""
    data, test = _test_set(args)
    pool_x = _pool_inputs(data, args.input)
    rows = []
    for trial in range(args.trials):
        folder = trial_folder(args.out, strategy, trial)
        if finished_rounds(folder, args.rounds) <= round_index:
            raise ValueError(
                f"{folder} has not finished round {round_index}; run `graspbench active-learn "
                f"--strategy {strategy}` on --out {args.out} first"
            )
        labelled = read_round(folder, round_index)["labelled"]
        unlabelled = sorted(set(range(data.scenes)) - set(labelled))
        plain = train_round(
            "random",
            labelled_dataset(data.labels, labelled, args),
            pool_x,
            labelled,
            unlabelled,
            args,
            round_seed(args.seed, trial, round_index),
        )
        # Both evaluated now, by the same code, whatever code evaluated the round when it ran.
        chosen = evaluate(load_checkpoint(folder / f"round-{round_index:02d}.pt")[0], test, args.sim_test_scenes)
        scores = evaluate(plain.model, test, args.sim_test_scenes)
        row = {
            "trial": trial,
            "round": round_index,
            "labels": len(labelled),
            "evaluated_with": scores["evaluated_with"],
        }
        for metric in METRICS:
            if metric in scores:
                row[f"{strategy}_{metric}"] = chosen[metric]
                row[f"plain_{metric}"] = scores[metric]
        rows.append(row)
    frame = pd.DataFrame(rows)
    write_atomic(Path(args.out) / "same_data.csv", frame.to_csv(index=False))
    return frame


def reevaluate(out, data_dir: str | None = None, threads: int = 1, progress: bool = True, workers: int = 1) -> dict:
    """Evaluate every finished round's model in the run folder ``out`` again (with the settings in
    its run.json) where the code that evaluated it is not the code installed now, and summarise. A
    fix to the simulator or the planner's post-processing changes the simulated metric, and curves
    evaluated by different code cannot be compared. Each row keeps its labels and costs;
    resumable (a re-evaluated row says so); ``workers`` processes share the rounds."""
    args = _run_settings(out, data_dir, threads)
    version = experiment_version("active")
    stale = [
        path
        for path in sorted(Path(args.out).glob("*/trial-*/round-*.json"))
        if not is_current("active", read_round(path.parent, int(path.stem.split("-")[1]))["row"].get("evaluated_with"))
    ]
    tasks = [{"path": str(path), "out": str(out), "data_dir": data_dir, "threads": threads} for path in stale]
    executor = "serial" if workers == 1 else "local"
    with tqdm(total=len(tasks), desc=f"re-evaluating with {version}", unit="round", disable=not progress) as bar:
        for _ in run_tasks(_reevaluate_round, tasks, executor=executor, workers=workers):
            bar.update()
    for folder in sorted({path.parent for path in stale}):
        _write_csv(
            folder / "metrics.csv", [read_round(folder, r)["row"] for r in range(finished_rounds(folder, args.rounds))]
        )
    return {**summarize(args.out), "reevaluated": len(stale), "evaluated_with": version}


def _run_settings(out, data_dir: str | None, threads: int) -> ActiveArgs:
    """The settings an active-learning run folder was made with (its run.json)."""
    path = Path(out) / "run.json"
    if not path.exists():
        raise ValueError(
            f"{out} holds no active-learning run (no run.json); give the --out of `graspbench active-learn`"
        )
    with reading(path, "an active-learning run's settings (JSON)", "delete the run folder and run it again"):
        settings = json.loads(path.read_text())["settings"]
        return ActiveArgs(**settings, out=str(out), data_dir=data_dir, threads=threads, progress=False)


@functools.lru_cache(maxsize=2)
def _cached_test_set(out: str, data_dir: str | None, threads: int):
    torch.set_num_threads(threads)
    args = _run_settings(out, data_dir, threads)
    return _test_set(args)[1], args.sim_test_scenes


def _reevaluate_round(task: dict) -> None:
    """One stale round of :func:`reevaluate`, evaluated and rewritten in place (in a worker process:
    the test set is loaded once per process)."""
    test, sim_scenes = _cached_test_set(task["out"], task["data_dir"], task["threads"])
    path = Path(task["path"])
    state = read_round(path.parent, int(path.stem.split("-")[1]))
    state["row"].update(evaluate(load_checkpoint(path.with_suffix(".pt"))[0], test, sim_scenes))
    write_atomic(path, json.dumps(state, indent=1))


def _test_set(args: ActiveArgs):
    """The prepared pool and the labelled test set of ``args`` (made if missing)."""
    args.check()
    torch.set_num_threads(args.threads)
    data = _prepare(args, workers=1, progress=False)
    return data, GraspDataset(data.test, input=args.input, scenes=range(data.test_scenes))
