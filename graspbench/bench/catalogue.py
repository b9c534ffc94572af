"""The agent catalogue: the agents shipped as YAML files in ``agents/`` and how a spec becomes an
agent (``make_agent``), beside the runner that evaluates them."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from pathlib import Path

import yaml

from .. import versions
from ..agents import Agent
from ..envs.spec import TASKS  # an agent's task (a spec's ``task``, clutter_removal unless it says) is an environment's
from ..io import reading

AGENTS_DIR = Path(__file__).resolve().parents[2] / "agents"
# Imported when an agent needs them, as any module:Class: scripted agents do not pay torch's import.
BUILTIN_CLASSES = {
    "random": "graspbench.agents.scripted:RandomAgent",
    "heuristic": "graspbench.agents.scripted:HeuristicAgent",
    "network": "graspbench.planners.agent:NetworkAgent",
}
PAPERS_PROTOCOL = {"check_clearance": False, "max_grasp_depth_m": None}
"""how the papers run a network (issue 26): its own best peak, no free-space check, the fingertips
the environment's fixed depth below the surface. ``NAME@papers`` is network agent NAME so run; beside
it in a leaderboard, it shows how much of NAME's score the shared free-space check makes."""
PAPERS_SUFFIX = "@papers"
WEIGHT_FIELDS = ("checkpoint", "classifier")
"""spec fields naming files of trained weights: relative to the spec's folder, and needed for the
agent to be ready"""


def agent_names(ready_only: bool = False, task: str | None = None, papers: bool = False) -> list[str]:
    """The agents shipped in ``agents/`` (one YAML each); ``ready_only``: those whose weights,
    if they need any, exist (``graspbench train-agents`` makes them); ``task``: those for this
    task only (one of TASKS); ``papers``: each network agent followed by its ``@papers`` run."""
    names = []
    for path in sorted(AGENTS_DIR.glob("*.yaml")):
        spec = _read_spec(path)
        if task is not None and agent_task(spec, path) != task:
            continue
        if not ready_only or all(weights.is_file() for weights in _weights(spec, path)):
            names.append(path.stem)
            if papers and spec.get("class") == "network":
                names.append(path.stem + PAPERS_SUFFIX)
    return names


def planner_protocol(agent: str) -> str:
    """An agent name without its ``@papers``: the agent as the benchmark runs it by default."""
    return agent.removesuffix(PAPERS_SUFFIX)


def agent_task(spec: dict, path: Path) -> str:
    """An agent spec's ``task``; one that is not in TASKS fails naming the file and the fix."""
    task = spec.get("task", TASKS[0])
    if task not in TASKS:
        raise ValueError(f"{path}: task {task!r} is not one of {', '.join(TASKS)}; fix the spec's 'task' field")
    return task


def _weights(spec: dict, path: Path) -> list[Path]:
    """The files of trained weights a spec names (WEIGHT_FIELDS), resolved from its folder."""
    return [path.parent / spec[field] for field in WEIGHT_FIELDS if spec.get(field)]


def _read_spec(path: Path) -> dict:
    """An agent YAML's fields; a file that is not a YAML mapping fails naming it."""
    with reading(path, "an agent spec", "fix its YAML: a mapping with a 'class' field (docs/own_planner.md)"):
        spec = yaml.safe_load(path.read_text()) or {}
        if not isinstance(spec, dict):
            raise ValueError("not a mapping of fields")
    return spec


def agent_spec_path(name_or_spec: str) -> Path:
    """The YAML of a shipped agent's name (``@papers`` aside), or the path given."""
    path = Path(planner_protocol(name_or_spec))
    if not path.suffix:
        path = AGENTS_DIR / f"{path}.yaml"
    if not path.is_file():
        raise ValueError(
            f"agent {name_or_spec!r}: neither a shipped agent ({', '.join(agent_names())}) nor a YAML file"
        )
    return path


def agent_files(name_or_spec: str) -> list[Path]:
    """The files an agent is made from: its YAML and, for trained ones, its weights."""
    path = agent_spec_path(name_or_spec)
    return [path] + [weights for weights in _weights(_read_spec(path), path) if weights.is_file()]


def agent_code_version(name_or_spec: str) -> str:
    """A short hash of the code an agent acts with and the simulator that measures it: the module of
    its ``class`` and what it imports from graspbench, with the environments and the runner
    (``versions.code_hash``: definitions, not files); a class outside graspbench adds its module's
    source. An edited planner, hand or scene changes it, so the benchmark's stored blocks of
    episodes are not reused for it."""
    class_name = str(_read_spec(agent_spec_path(name_or_spec)).get("class", ""))
    module = BUILTIN_CLASSES.get(class_name, class_name).partition(":")[0]
    entries, outside = ["envs", "bench.runner"], b""
    if module == "graspbench" or module.startswith("graspbench."):
        entries.append(module.removeprefix("graspbench").lstrip("."))
    elif module:
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):  # make_agent says what is wrong with the class, by name
            found = None
        if found is not None and found.origin and Path(found.origin).is_file():
            outside = Path(found.origin).read_bytes()
    version = versions.code_hash(versions.modules_imported(entries))
    return hashlib.sha256(version.encode() + outside).hexdigest()[:8] if outside else version


def make_agent(name_or_spec: str) -> Agent:
    """An agent from the name of a YAML file in ``agents/`` or the path of one.

    A spec names its ``class``: ``random``, ``heuristic``, ``network`` (with a ``checkpoint``), or
    any importable class as ``package.module:Class`` following the agent protocol. Other keys are
    passed to the class as keyword arguments, except ``description``, ``task`` (see TASKS) and
    ``train`` (how ``graspbench train-agents`` makes the checkpoint); a relative ``checkpoint`` or
    ``classifier`` is read from the spec's folder. A network agent's name followed by ``@papers`` is
    that agent run as the papers run it (PAPERS_PROTOCOL).
    """
    path = agent_spec_path(name_or_spec)
    spec = _read_spec(path)
    if "class" not in spec:
        raise ValueError(f"{path}: an agent spec needs a 'class' field (random, heuristic, network or module:Class)")
    spec = dict(spec)
    class_name = spec.pop("class")
    spec.setdefault("name", path.stem)
    if name_or_spec.endswith(PAPERS_SUFFIX):
        if class_name != "network":
            raise ValueError(f"{name_or_spec}: only network agents have a papers' protocol; drop {PAPERS_SUFFIX}")
        spec.update(PAPERS_PROTOCOL, name=spec["name"] + PAPERS_SUFFIX)
    agent_task(spec, path)
    for documentation_only in ("description", "task", "train"):
        spec.pop(documentation_only, None)
    for field in WEIGHT_FIELDS:
        if field in spec and not Path(spec[field]).is_absolute():
            spec[field] = str(path.parent / spec[field])
    if ":" in str(class_name) or class_name in BUILTIN_CLASSES:
        module, _, attribute = BUILTIN_CLASSES.get(class_name, class_name).partition(":")
        try:
            cls = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"{path}: class {class_name!r} cannot be imported ({error})") from None
    else:
        raise ValueError(f"{path}: class {class_name!r} is not one of {sorted(BUILTIN_CLASSES)} nor module:Class")
    try:
        agent = cls(**spec)
    except TypeError as error:
        raise ValueError(f"{path}: {error}; fix the spec's fields") from None
    for method in ("act", "reset"):
        if not callable(getattr(agent, method, None)):
            raise ValueError(f"{path}: {class_name} has no {method}() method; see 'Evaluate your own planner' in docs/")
    if not hasattr(agent, "name"):
        agent.name = spec["name"]
    return agent
