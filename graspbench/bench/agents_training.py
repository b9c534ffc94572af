"""``graspbench train-agents``: (re)make the weights of every shipped network agent.

An agent YAML with a ``train:`` mapping (TrainArgs fields) is trained with ``graspbench train``
into ``runs/agents/NAME`` (resumable); its best checkpoint is copied to the agent's
``checkpoint`` path and ``agents/README.md`` records the command, the data and the score.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
import yaml

from ..agents import AGENTS_DIR
from ..io import reading, write_atomic
from ..train import TrainArgs, train


def trainable_agents() -> dict[str, dict]:
    specs = {}
    for path in sorted(AGENTS_DIR.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text()) or {}
        if "train" in spec:
            specs[path.stem] = spec
    return specs


def train_agents(names: list[str] | None = None, epochs: int | None = None, threads: int = 0, progress: bool = True) -> None:
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
        target = AGENTS_DIR / spec["checkpoint"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(fields["out"]) / "best.pt", target)
    write_agents_readme()


def write_agents_readme() -> None:
    """agents/README.md: every agent, how its weights were made, and their validation score."""
    lines = ["# Agents", "", "Made by `graspbench train-agents` (this file too).", "",
             "One YAML per agent; `graspbench run --agent NAME` or `graspbench benchmark` use them. Network agents'",
             "weights are made by `graspbench train-agents` (all of them, resumable; `--agents a,b` for some), which",
             "trains each with the `train:` section of its YAML on datasets made by `make datasets` (docs/datasets.md).",
             "On the project's 2-core CPU machine the nine networks took 2.3 hours of one-thread training (GR-ConvNet",
             "40 minutes), about 70 minutes of wall time as two `train-agents --agents ... --threads 1` side by side.",
             "", "| agent | class | trained with | dataset fingerprint | validation top-1 / top-5 | best epoch |",
             "| --- | --- | --- | --- | --- | --- |"]
    for path in sorted(AGENTS_DIR.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text()) or {}
        weights = AGENTS_DIR / spec.get("checkpoint", "-")
        if "train" not in spec:
            lines.append(f"| {path.stem} | {spec.get('class')} | no training | - | - | - |")
            continue
        t = dict(spec["train"])
        if weights.is_file():
            fix = f"make it again: `graspbench train-agents --agents {path.stem}`"
            with reading(weights, "a graspbench checkpoint", fix):
                checkpoint = torch.load(weights, map_location="cpu", weights_only=False)
                t["epochs"] = checkpoint["args"]["epochs"]  # as trained (train-agents --epochs overrides)
                trained = (f"{checkpoint['dataset_fingerprint']} | {100 * checkpoint['val']['val_top1']:.1f}% / "
                           f"{100 * checkpoint['val']['val_top5']:.1f}% | {checkpoint['epoch']} of {t['epochs']}")
        command = f"`graspbench train --model {t['model']} --loss {t['loss']} --input {t.get('input', 'depth')} " \
            f"--data {t['data']} --epochs {t['epochs']}" + \
            (f" --labels-per-image {t['labels_per_image']}" if t.get("labels_per_image") else "") + \
            "".join(f" --option {k}={v}" for k, v in (t.get("model_options") or {}).items()) + "`"
        if weights.is_file():
            lines.append(f"| {path.stem} | network | {command} | {trained} |")
        else:
            lines.append(f"| {path.stem} | network | {command} | not trained yet | - | - |")
    write_atomic(AGENTS_DIR / "README.md", "\n".join(lines) + "\n")
