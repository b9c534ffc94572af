"""Gymnasium environments, registered from the YAML specs in ``envs/`` under ``GraspBench/``.

One base environment (:class:`GraspEnv`, :mod:`.base`) with task hooks; each task a subclass:
clutter removal (:class:`ClutterRemovalEnv`) and target picking from a bin (:class:`BinPickEnv`).
A spec names its task by its sections (:attr:`EnvSpec.task`).
"""

from __future__ import annotations

import gymnasium as gym
import yaml

from ..io import reading
from .base import GraspEnv
from .binpick import BinPickEnv
from .clutter import ClutterRemovalEnv
from .spec import EnvSpec, SpecError, load_spec, resolve_spec, spec_file, spec_paths

TASK_ENVS = {"clutter_removal": ClutterRemovalEnv, "target_picking": BinPickEnv}
"""the environment class of each task"""
ENTRY_POINTS = {task: f"{cls.__module__}:{cls.__name__}" for task, cls in TASK_ENVS.items()}


def register_all() -> list[str]:
    """Register every spec in ``envs/`` (idempotent); returns the ids."""
    ids = []
    for path in spec_paths():
        with reading(path, "an environment spec", "fix its YAML: every field is documented in graspbench/envs/spec.py"):
            data = yaml.safe_load(path.read_text()) or {}
        env_id = data.get("id")
        if not env_id:
            raise SpecError(f"{path}: field 'id' is missing")
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=ENTRY_POINTS["target_picking" if data.get("pick") else "clutter_removal"],
                kwargs={"spec": str(path)},
            )
        ids.append(env_id)
    return ids


def make_env(spec_or_id: str, **kwargs) -> GraspEnv:
    """An environment from a registered id or a spec file, with overrides (``scene={...}``)."""
    if spec_or_id in gym.registry:
        return gym.make(spec_or_id, **kwargs).unwrapped
    return TASK_ENVS[load_spec(spec_or_id).task](spec_or_id, **kwargs)


__all__ = [
    "BinPickEnv",
    "ClutterRemovalEnv",
    "EnvSpec",
    "GraspEnv",
    "SpecError",
    "TASK_ENVS",
    "load_spec",
    "make_env",
    "register_all",
    "resolve_spec",
    "spec_file",
]
