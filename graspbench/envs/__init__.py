"""Gymnasium environments, registered from the YAML specs in ``envs/`` under ``GraspBench/``."""

from __future__ import annotations

import gymnasium as gym
import yaml

from ..io import reading
from .binpick_env import BinPickEnv
from .grasp_env import GraspEnv
from .spec import EnvSpec, SpecError, load_spec, spec_paths

ENTRY_POINTS = {"clutter": "graspbench.envs.grasp_env:GraspEnv", "pick": "graspbench.envs.binpick_env:BinPickEnv"}


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
            gym.register(id=env_id, entry_point=ENTRY_POINTS["pick" if data.get("pick") else "clutter"], kwargs={"spec": str(path)})
        ids.append(env_id)
    return ids


def make_env(spec_or_id: str, **kwargs) -> GraspEnv:
    """An environment from a registered id or a spec file, with overrides (``scene={...}``)."""
    if spec_or_id in gym.registry:
        return gym.make(spec_or_id, **kwargs).unwrapped
    from .binpick_env import BinPickEnv

    return (BinPickEnv if load_spec(spec_or_id).pick is not None else GraspEnv)(spec_or_id, **kwargs)


__all__ = ["BinPickEnv", "GraspEnv", "EnvSpec", "SpecError", "load_spec", "make_env", "register_all"]
