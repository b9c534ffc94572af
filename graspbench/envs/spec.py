"""Environment specs: the YAML files in ``envs/`` and their validation.

A spec is a tree of dataclasses. Every field has a docstring; every bad value fails with a message
that names the field (``scene.object_count``) and says what would be accepted.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import yaml

from ..io import reading
from ..sim.camera import DepthNoise
from ..sim.gripper import FINGER_LENGTH_M, GripperSpec
from ..sim.objects import SPLITS
from ..sim.probe import ProbeSpec, WristCameraSpec
from ..sim.scenes import SCENE_KINDS

ENVS_DIR = Path(__file__).resolve().parents[2] / "envs"
TASKS = ("clutter_removal", "target_picking")
"""what an environment (and an agent) is for: clutter removal (Single, Pile, Packed, Stacked: every
spec without a ``pick:`` section) or target picking (BinPick, whose observation names a target)"""


class SpecError(ValueError):
    """A spec file or override has a bad field."""


@dataclass(frozen=True)
class RandomizeSpec:
    """Per-object randomisation of a scene's objects, for training data as varied as a lab's."""

    more_objects: tuple[str, ...] = ()
    """object sets mixed in with ``scene.objects`` (same split); every object of the union is drawn alike"""
    scale: tuple[float, float] | None = None
    """each object's scale drawn uniformly in [min, max] instead of ``scene.object_scale``, clipped
    per object to what the hand can hold (its smallest side at most the opening less 5 mm); an object
    is in the set when it fits the hand and is at least 2 cm at the smallest scale"""
    friction: tuple[float, float] | None = None
    """each object's lateral friction drawn uniformly in [min, max] (the fingers' is 1.0 and PyBullet
    multiplies the two); null: the object's own"""
    mass_factor: tuple[float, float] | None = None
    """each object's mass multiplied by a factor drawn log-uniformly in [min, max]; null: its own"""

    def check(self):
        for name in ("scale", "friction", "mass_factor"):
            bounds = getattr(self, name)
            if bounds is not None and not 0 < bounds[0] <= bounds[1]:
                raise SpecError(f"scene.randomize.{name}: expected [min, max] with 0 < min <= max, got {list(bounds)}")
        if self.friction is not None and self.friction[1] > 2.0:
            raise SpecError(f"scene.randomize.friction: {self.friction[1]} is beyond any physical pair (at most 2.0)")


@dataclass(frozen=True)
class SceneSpec:
    kind: str = "single"
    """single, pile, packed, stacked, plates or bin"""
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
    randomize: RandomizeSpec | None = None
    """per-object scale, friction and mass, and more object sets; null: every object as its set has it"""

    def check(self):
        _one_of("scene.kind", self.kind, SCENE_KINDS)
        _one_of("scene.split", self.split, SPLITS)
        _positive("scene.object_scale", self.object_scale)
        _positive("scene.workspace_m", self.workspace_m)
        if self.randomize is not None:
            self.randomize.check()
        low, high = self.object_count
        if not 1 <= low <= high:
            raise SpecError(
                f"scene.object_count: expected [min, max] with 1 <= min <= max, got {list(self.object_count)}"
            )


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


AFTER_PROBE = ("extract", "release")
TARGET_RULES = ("visible", "top_level")


@dataclass(frozen=True)
class PickSpec:
    """Target picking (BinPick): one pick of a given object per episode, probed before extraction."""

    widths_m: tuple[float, ...] = (0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08)
    """the pre-grasp widths a pick chooses from; an action's opening snaps to the nearest"""
    free_yaw: bool = False
    """let the action turn the closing axis; else it stays along image u (the Stretch's gripper does not turn)"""
    brush_force_n: float = 30.0
    """on the way down the hand may push past objects with at most this force, as a compliant
    gripper does in a packed bin (only 14 of 41 visible targets of 3 bins had a contact-free grasp
    at fixed yaw); it is a collision when they stop it, or when it touches the bin. 0: any touch is a collision"""
    fabric_walls: bool = False
    """the bin's walls give like the paper's fabric bins: the fingers may brush them on the way down as
    they brush objects (a finger that lands on a wall's top is still stopped); False: rigid walls,
    any touch is a collision"""
    min_target_pixels: int = 300
    """a target must show at least this many pixels to the overhead camera"""
    target_rule: str = "visible"
    """which objects a target is drawn among: ``visible`` (any showing ``min_target_pixels``, half-buried
    ones included) or ``top_level`` (those that also carry no other object, as a person asked to
    pick an item from a bin names one they can reach)"""
    min_objects: int = 8
    """a new bin is filled when fewer objects than this are left, or no target is visible enough"""
    extract_height_m: float = 0.2
    """extraction lifts the hand to this height; an object counts as extracted when it is wholly above the walls"""
    after_probe: str = "extract"
    """extract (the ground truth) or release (open the fingers where the probe ended: measures how
    reversible the probe is)"""
    probe: ProbeSpec = field(default_factory=ProbeSpec)
    """the lift-and-pull probe after closing"""
    wrist_camera: WristCameraSpec = field(default_factory=WristCameraSpec)
    """the camera on the hand that films the probe"""

    def check(self):
        if (
            not self.widths_m
            or any(not 0 < w for w in self.widths_m)
            or list(self.widths_m) != sorted(set(self.widths_m))
        ):
            raise SpecError(f"pick.widths_m: expected increasing positive widths, got {list(self.widths_m)}")
        _positive("pick.min_target_pixels", self.min_target_pixels)
        if self.brush_force_n < 0:
            raise SpecError(
                f"pick.brush_force_n: expected 0 (no brushing) or a positive force, got {self.brush_force_n}"
            )
        _positive("pick.min_objects", self.min_objects)
        _positive("pick.extract_height_m", self.extract_height_m)
        _one_of("pick.after_probe", self.after_probe, AFTER_PROBE)
        _one_of("pick.target_rule", self.target_rule, TARGET_RULES)
        try:
            self.probe.check()
            self.wrist_camera.check()
        except ValueError as error:
            raise SpecError(str(error)) from None


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
    pick: PickSpec | None = None
    """target picking from a bin (BinPick) instead of clutter removal; null for clutter removal"""

    @property
    def task(self) -> str:
        """Which task the spec sets (one of :data:`TASKS`): target picking with a ``pick:`` section."""
        return "target_picking" if self.pick is not None else "clutter_removal"

    def check(self):
        if not self.id.startswith("GraspBench/") or not self.id.endswith(tuple(f"-v{i}" for i in range(10))):
            raise SpecError(f"id: expected 'GraspBench/Name-vN', got {self.id!r}")
        _positive("solver_iterations", self.solver_iterations)
        _all_finite(self, "")
        self.scene.check()
        self.camera.check()
        self.protocol.check()
        check_gripper(self.gripper)
        if self.noise is not None:
            check_noise(self.noise)
        if self.pick is not None:
            if self.pick.widths_m[-1] > self.gripper.max_opening_m + 1e-9:
                raise SpecError(
                    f"pick.widths_m: {self.pick.widths_m[-1]} m is wider than gripper.max_opening_m {self.gripper.max_opening_m}"
                )
            self.pick.check()


def _one_of(name, value, allowed):
    if value not in allowed:
        raise SpecError(f"{name}: {value!r} is not one of {list(allowed)}")


def _positive(name, value):
    if not (_number(value) and value > 0 and math.isfinite(value)):
        raise SpecError(f"{name}: expected a positive number, got {value!r}")


def _all_finite(spec, prefix: str) -> None:
    """No field anywhere in the spec is NaN or infinite (a typo in YAML's .nan / .inf, or 1e999)."""
    for f in dataclasses.fields(spec):
        value, name = getattr(spec, f.name), prefix + f.name
        if dataclasses.is_dataclass(value):
            _all_finite(value, name + ".")
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, float) and not math.isfinite(item):
                raise SpecError(f"{name}: expected a finite number, got {item!r}")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _within(name, value, low, high, unit=""):
    """``low <= value <= high``, finite; the message names the field and the range."""
    if not (_number(value) and math.isfinite(value) and low <= value <= high):
        raise SpecError(f"{name}: expected a number from {low:g} to {high:g}{unit}, got {value!r}")


# Physical ranges of the gripper's fields: beyond them a value is a typo, not a different robot.
FINGER_TRAVEL_M = 0.04  # each finger's joint limit in assets/gripper/parallel_jaw.urdf


def check_gripper(gripper: GripperSpec) -> None:
    """Every field of the gripper section: positive, finite and within what the hand can do."""
    _within("gripper.max_opening_m", gripper.max_opening_m, 0.001, 2 * FINGER_TRAVEL_M, " m (the URDF's finger travel)")
    for name in (
        "finger_force_n",
        "finger_speed_m_s",
        "approach_m",
        "lift_m",
        "speed_m_s",
        "lift_speed_m_s",
        "lift_acceleration_m_s2",
    ):
        _positive(f"gripper.{name}", getattr(gripper, name))
    if not (type(gripper.check_every) is int and gripper.check_every >= 1):
        raise SpecError(
            f"gripper.check_every: expected a whole number of physics steps >= 1, got {gripper.check_every!r}"
        )
    _within("gripper.grasp_depth_m", gripper.grasp_depth_m, 0.0, FINGER_LENGTH_M, " m (the fingers' length)")
    _within("gripper.fingertip_clearance_m", gripper.fingertip_clearance_m, 0.0, FINGER_LENGTH_M, " m")


def check_noise(noise: DepthNoise) -> None:
    """Every field of the depth noise section."""
    _within("noise.std_m", noise.std_m, 0.0, 1.0, " m")
    _within("noise.edge_dropout", noise.edge_dropout, 0.0, 1.0, " (a probability)")
    _positive("noise.edge_threshold_m", noise.edge_threshold_m)
    _within("noise.hole_fraction", noise.hole_fraction, 0.0, 1.0, " (a fraction of the image)")
    if not isinstance(noise.inpaint, bool):
        raise SpecError(f"noise.inpaint: expected true or false, got {noise.inpaint!r}")


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


def spec_file(env: str | Path) -> Path:
    """The spec file of a registered environment id, or the spec file given; neither fails saying so."""
    env = str(env)
    if env in gym.registry:
        return Path(gym.registry[env].kwargs["spec"])
    if not Path(env).is_file():
        ids = sorted(i for i in gym.registry if i.startswith("GraspBench/"))
        raise SpecError(f"{env!r} is neither a registered id ({', '.join(ids)}) nor a spec file")
    return Path(env)


def resolve_spec(env: str | Path, **overrides) -> EnvSpec:
    """The spec of an environment id or a spec file (the one way from either to a spec), with
    ``overrides`` as :func:`load_spec`'s."""
    return load_spec(spec_file(env), **overrides)


def add_split_flag(parser, help: str) -> None:
    """--split: the objects (``scene.split``) a command's scenes take instead of the spec's, the
    train objects unless it says otherwise; the commands that make scenes (generate, ivfp collect,
    ivfp calibrate) share it."""
    parser.add_argument("--split", choices=SPLITS, default="train", help=help)


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
    if typing.get_origin(hint) is tuple and typing.get_args(hint)[1:] == (Ellipsis,):
        if not isinstance(value, (list, tuple)):
            raise SpecError(f"{name}: expected a list, got {value!r}")
        return tuple(_convert(typing.get_args(hint)[0], v, name) for v in value)
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
