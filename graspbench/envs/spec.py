"""Environment specs: the YAML files in ``envs/`` and their validation.

A spec is a tree of dataclasses. Every field has a docstring; every bad value fails with a message
that names the field (``scene.object_count``) and says what would be accepted.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..io import reading
from ..sim.camera import DepthNoise
from ..sim.gripper import GripperSpec
from ..sim.objects import SPLITS
from ..sim.scenes import SCENE_KINDS

ENVS_DIR = Path(__file__).resolve().parents[2] / "envs"


class SpecError(ValueError):
    """A spec file or override has a bad field."""


@dataclass(frozen=True)
class SceneSpec:
    kind: str = "single"
    """single, pile, packed, stacked or bin"""
    objects: str = "random_urdfs"
    """object set: random_urdfs, procedural, blocks, or a folder of URDFs / meshes"""
    split: str = "test"
    """train, test or all objects of the set"""
    object_scale: float = 1.0
    """uniform scale applied to every object of the set"""
    object_count: tuple[int, int] = (1, 1)
    """objects per scene, drawn uniformly from [min, max]"""
    workspace_m: float = 0.3
    """side of the square workspace centred on the origin; objects leaving it are removed"""

    def check(self):
        _one_of("scene.kind", self.kind, SCENE_KINDS)
        _one_of("scene.split", self.split, SPLITS)
        _positive("scene.object_scale", self.object_scale)
        _positive("scene.workspace_m", self.workspace_m)
        low, high = self.object_count
        if not 1 <= low <= high:
            raise SpecError(f"scene.object_count: expected [min, max] with 1 <= min <= max, got {list(self.object_count)}")


@dataclass(frozen=True)
class CameraSpec:
    width_px: int = 224
    """image width"""
    height_px: int = 224
    """image height"""
    height_m: float = 0.5
    """height of the top-down camera above the table"""
    field_m: float = 0.3
    """width of table shown across the shorter image side"""

    def check(self):
        for name in ("width_px", "height_px"):
            if not 16 <= getattr(self, name) <= 2048:
                raise SpecError(f"camera.{name}: expected 16 to 2048 pixels, got {getattr(self, name)}")
        _positive("camera.height_m", self.height_m)
        _positive("camera.field_m", self.field_m)


@dataclass(frozen=True)
class ProtocolSpec:
    max_consecutive_failures: int = 5
    """an episode is truncated after this many failed attempts in a row (MLGSL: 5, VGN: 2)"""
    max_attempts: int = 30
    """an episode is truncated after this many attempts in all"""

    def check(self):
        _positive("protocol.max_consecutive_failures", self.max_consecutive_failures)
        _positive("protocol.max_attempts", self.max_attempts)


@dataclass(frozen=True)
class EnvSpec:
    id: str = "GraspBench/Custom-v0"
    """the Gymnasium id it is registered under"""
    description: str = ""
    """one paragraph for people: what the environment tests"""
    scene: SceneSpec = field(default_factory=SceneSpec)
    """what is on the table"""
    camera: CameraSpec = field(default_factory=CameraSpec)
    """the top-down RGB-D camera"""
    noise: DepthNoise | None = None
    """the depth noise model, or null for clean depth"""
    gripper: GripperSpec = field(default_factory=GripperSpec)
    """the parallel-jaw gripper and its motions"""
    protocol: ProtocolSpec = field(default_factory=ProtocolSpec)
    """when an episode ends"""
    solver_iterations: int = 150
    """physics solver iterations per step (VGN: 150)"""
    observe_segmentation: bool = False
    """add the segmentation image (object id per pixel, -1 background) to observations"""

    def check(self):
        if not self.id.startswith("GraspBench/") or not self.id.endswith(tuple(f"-v{i}" for i in range(10))):
            raise SpecError(f"id: expected 'GraspBench/Name-vN', got {self.id!r}")
        _positive("solver_iterations", self.solver_iterations)
        self.scene.check()
        self.camera.check()
        self.protocol.check()


def _one_of(name, value, allowed):
    if value not in allowed:
        raise SpecError(f"{name}: {value!r} is not one of {list(allowed)}")


def _positive(name, value):
    if not value > 0:
        raise SpecError(f"{name}: expected a positive number, got {value!r}")


def load_spec(source: str | Path | dict | EnvSpec, **overrides) -> EnvSpec:
    """A checked spec from a YAML path, a dict or a spec, with ``overrides`` merged section by
    section, e.g. ``load_spec("envs/pile.yaml", scene={"split": "train"})``."""
    where = "spec"
    if isinstance(source, EnvSpec):
        data = dataclasses.asdict(source)
    elif isinstance(source, dict):
        data = dict(source)
    else:
        where = str(source)
        path = Path(source)
        if not path.is_file():
            raise SpecError(f"{where}: no such spec file")
        with reading(path, "an environment spec", "fix its YAML: every field is documented in graspbench/envs/spec.py"):
            data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise SpecError(f"{where}: expected a mapping of fields at the top level")
    data = _merge(data, overrides)
    try:
        spec = _build(EnvSpec, data, "")
        spec.check()
    except SpecError as error:
        raise SpecError(f"{where}: {error}") from None
    return spec


def _merge(base: dict, overrides: dict) -> dict:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(cls, data, prefix: str):
    if not isinstance(data, dict):
        raise SpecError(f"{prefix.rstrip('.') or 'spec'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise SpecError(f"unknown field {prefix}{unknown[0]}; fields here are: {', '.join(names)}")
    values = {name: _convert(hints[name], data[name], prefix + name) for name in names if name in data}
    return cls(**values)


def _convert(hint, value, name: str):
    args = typing.get_args(hint)
    if type(None) in args:  # Optional[X]
        if value is None or value is False:
            return None
        hint = next(a for a in args if a is not type(None))
        if value is True:
            return hint()
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, name + ".")
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(typing.get_args(hint)):
            raise SpecError(f"{name}: expected a list of {len(typing.get_args(hint))} values, got {value!r}")
        return tuple(_convert(t, v, name) for t, v in zip(typing.get_args(hint), value))
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    if hint is float or hint in (int, str, bool):
        raise SpecError(f"{name}: expected {hint.__name__}, got {value!r}")
    return value


def spec_paths() -> list[Path]:
    return sorted(ENVS_DIR.glob("*.yaml"))
