"""``graspbench train-agents``: (re)make the weights of every shipped network agent.

An agent YAML with a ``train:`` mapping (TrainArgs fields) is trained with ``graspbench train``
into ``runs/agents/NAME`` (resumable); its best checkpoint is copied to the agent's
``checkpoint`` path and ``agents/README.md`` records the command, the data and the score.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
import yaml

from ..io import reading, save_checkpoint, write_atomic
from ..planners.train import TrainArgs, train
from .catalogue import AGENTS_DIR


def trainable_agents() -> dict[str, dict]:
    specs = {}
    for path in sorted(AGENTS_DIR.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text()) or {}
        if "train" in spec:
            specs[path.stem] = spec
    return specs


def train_agents(
    names: list[str] | None = None, epochs: int | None = None, threads: int = 0, progress: bool = True
) -> None:
    specs = trainable_agents()
    unknown = sorted(set(names or []) - set(specs))
    if unknown:
        raise ValueError(f"agents {unknown} have no train: section; trainable: {sorted(specs)}")
    for name in names or list(specs):
        spec = specs[name]
        fields = {**spec["train"], "out": f"runs/agents/{name}", "threads": threads, "progress": progress}
        if epochs:
            fields["epochs"] = epochs
        if progress:
            print(f"== {name}")
        train(TrainArgs(**fields))
        run = Path(fields["out"])
        checkpoint = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
        checkpoint["train_seconds"] = json.loads((run / "run.json").read_text())["train_seconds"]
        save_checkpoint(AGENTS_DIR / spec["checkpoint"], checkpoint)
    write_agents_readme()


def _as_trained(yaml_fields: dict, trained: dict) -> dict:
    """The command's fields as the weights were trained (the YAML may have changed since): the
    YAML's fields, then every other setting that was not the default, in the YAML's order."""
    defaults = dataclasses.asdict(TrainArgs())
    chosen = [k for k in yaml_fields] + [k for k in trained if k not in yaml_fields]
    return {
        k: trained[k]
        for k in chosen
        if k in trained
        and trained[k] is not None
        and k not in ("out", "threads", "progress", "auxiliary")
        and (k in yaml_fields or trained[k] != defaults.get(k))
    }


def write_agents_readme() -> None:
    """agents/README.md: every agent, how its weights were made, their validation scores and training time."""
    rows, picking_rows, total_s = [], [], 0.0
    for path in sorted(AGENTS_DIR.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text()) or {}
        if spec.get("task") == "target_picking":
            picking_rows.append(_target_picking_row(path.stem, spec))
            continue
        if "train" not in spec:
            rows.append(
                _active_row(path.stem, spec)
                if spec.get("checkpoint")
                else f"| {path.stem} | {spec.get('class')} | no training | - | - | - | - |"
            )
            continue
        t = dict(spec["train"])
        weights = AGENTS_DIR / spec["checkpoint"]
        trained = "not trained yet | - | - | - | -"
        if weights.is_file():
            with reading(
                weights, "a graspbench checkpoint", f"make it again: `graspbench train-agents --agents {path.stem}`"
            ):
                checkpoint = torch.load(weights, map_location="cpu", weights_only=False)
            t = _as_trained(t, checkpoint["args"])
            val, seconds = checkpoint["val"], checkpoint.get("train_seconds")
            total_s += seconds or 0.0
            simulated = f"{100 * val['val_sim_success']:.1f}%" if "val_sim_success" in val else "-"
            if "val_sim_success_papers" in val:
                simulated += f" ({100 * val['val_sim_success_papers']:.1f}%)"
            trained = (
                f"{checkpoint['dataset_fingerprint']} | {simulated} / {100 * val['val_top1']:.1f}% / "
                f"{100 * val['val_top5']:.1f}% | {checkpoint['epoch']} of {t['epochs']} | "
                + (f"{seconds / 60:.0f} min" if seconds else "-")
            )
        options = t.pop("model_options", None) or {}
        command = (
            "graspbench train"
            + "".join(f" --{k.replace('_', '-')} {v}" for k, v in t.items())
            + "".join(f" --option {k}={v}" for k, v in options.items())
        )
        rows.append(f"| {path.stem} | network | `{command}` | {trained} |")
    lines = [
        "# Agents",
        "",
        "Made by `graspbench train-agents` (this file too).",
        "",
        "One YAML per agent; `graspbench run --agent NAME` or `graspbench benchmark` use them. Network agents'",
        "weights are made by `graspbench train-agents` (all of them, resumable; `--agents a,b` for some), which",
        "trains each with the `train:` section of its YAML on datasets made by `make datasets` (docs/datasets.md)",
        "and keeps the epoch whose top-1 grasps succeed most often when executed on the validation scenes",
        "(simulated success, then rectangle top-1 to break ties). Simulated success is the lower of the",
        "planner's (free-space check) and the papers' protocol's (the network's best peak alone, in brackets).",
        f"The training time of the weights below, one torch thread each: {total_s / 3600:.1f} hours in all, on",
        "the datasets each row's fingerprint names. `make agents` from nothing is `make datasets` (about 4",
        "hours on the project's 2-core machine with issue 26's labeller, docs/datasets.md) and then",
        "`graspbench train-agents`: the hours above one after another, about half of them as wall time with",
        "two `train-agents --threads 1 --agents ...` processes splitting the list on 2 cores.",
        "",
        "| agent | class | trained with | dataset fingerprint | validation simulated success / top-1 / top-5 "
        "| best epoch | training time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "## Target picking (BinPick-v1)",
        "",
        "The IVFP agents (docs/ivfp.md): their weights are made by `graspbench ivfp` commands, not by",
        "train-agents, and copied here as docs/ivfp.md says; an agent whose weights are missing is left out of",
        "the `ivfp` suite.",
        "",
        "| agent | class | weights | made from |",
        "| --- | --- | --- | --- |",
        *picking_rows,
    ]
    write_atomic(AGENTS_DIR / "README.md", "\n".join(lines) + "\n")


def _active_row(name: str, spec: dict) -> str:
    """A network agent trained by `graspbench active-learn` (a round's checkpoint): how many labels
    it cost, and its test scores at that round."""
    weights = AGENTS_DIR / spec["checkpoint"]
    if not weights.is_file():
        return f"| {name} | network | {spec['checkpoint']} (missing) | - | - | - | - |"
    with reading(
        weights, "an active-learning round's checkpoint", "copy a round-RR.pt of `graspbench active-learn` there"
    ):
        meta = torch.load(weights, map_location="cpu", weights_only=False)["active"]
    rounds = (
        json.loads(weights.with_suffix(".json").read_text())["row"] if weights.with_suffix(".json").is_file() else {}
    )
    made = (
        f"`graspbench active-learn --strategy {meta['strategy']}`, trial {meta['trial']}, round {meta['round']}: "
        f"{meta['labels']} labelled scenes ({100 * meta['labels_fraction']:.0f}% of the pool), "
        f"{meta['trials_total']} grasp trials, {meta['label_core_s_total']:.0f} core-s of labelling"
    )
    scores = (
        f"{100 * rounds['sim_top1_success']:.1f}% / {100 * rounds['test_top1']:.1f}% / {100 * rounds['test_top5']:.1f}%"
        if rounds
        else "-"
    )
    return f"| {name} | network | {made} | - | {scores} (its test set) | - | {rounds.get('train_s', 0) / 60:.0f} min |"


def _target_picking_row(name: str, spec: dict) -> str:
    """One IVFP agent: its weight files (or 'missing') and, for a policy, the data and run it was trained from."""
    files = [spec[field] for field in ("checkpoint", "classifier") if spec.get(field)]
    present = [(AGENTS_DIR / f).is_file() for f in files]
    weights = ", ".join(f"{f}{'' if ok else ' (missing)'}" for f, ok in zip(files, present)) or "none"
    origin = "-"
    if files and present[0]:
        with reading(AGENTS_DIR / files[0], "an IVFP policy checkpoint", "make it again as docs/ivfp.md says"):
            checkpoint = torch.load(AGENTS_DIR / files[0], map_location="cpu", weights_only=False)
        if "iteration" in checkpoint:  # reinforce's: its arguments are in its meta
            args = checkpoint["meta"]["args"]
            origin = (
                f"`graspbench ivfp reinforce{' --free-space' if args.get('free_space') else ''}` from {args['init']} "
                f"on {args.get('env', 'GraspBench/BinPick-v0')}, reward {args['reward']}, iteration {checkpoint['iteration']}"
            )
        else:
            args = checkpoint.get("args", {})
            origin = f"`graspbench ivfp train-policy --data {args.get('data')}`, epoch {checkpoint.get('epoch')}"
        if spec.get("free_space"):
            origin += "; acting on free space"
    return f"| {name} | {spec.get('class')} | {weights} | {origin} |"
