"""Scenes: a table, objects on it, and which object rests on which.

Building a scene (random, seeded) is separate from rebuilding one from recorded poses (exact): to
try many grasps on one scene, record it once with :meth:`Scene.record` and call
:func:`rebuild_scene` before every try. PyBullet's ``restoreState`` is not bit-exact in
contact-rich piles; a rebuild from poses is.

Kinds:
    single: one object dropped near the centre.
    pile: objects dropped one by one with random orientations into a temporary box, which is then
        removed (VGN's "pile").
    packed: objects placed upright with random yaw, none touching another (VGN's "packed").
    stacked: a packed base layer, the other objects placed on top of base objects.
    bin: a pile inside a tray whose walls stay (dense bin picking).
    plates: large flat plates on the table, the objects placed on them (REGRAD-like stacks where
        the supporting objects stay largely visible: grasp priority matters); see :func:`_build_plates`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .objects import ObjectModel
from .plates import plate_models

SCENE_KINDS = ("single", "pile", "packed", "stacked", "bin", "plates")
SUPPORT_KINDS = ("stacked", "bin", "plates")  # scenes where objects rest on others: the support graph is reported
TABLE_HALF_SIZE_M = 0.5
TRAY_WALL_HEIGHT_M = (
    0.05  # low enough that the 20 cm palm of a hand at its lowest (fingertips 3 mm up) clears the walls
)
WALL_THICKNESS_M = 0.01
SUPPORT_NORMAL_MIN_Z = 0.5  # a contact normal within 60 degrees of vertical carries weight
PLACEMENT_TRIES = 50
STACKING_TRIES = 6  # settle attempts of an object placed on another


@dataclass(frozen=True)
class SceneRecord:
    """Everything needed to rebuild a settled scene exactly.

    Attributes:
        kind: the scene kind.
        models: the objects, in spawn order.
        positions: (N, 3) world positions of the objects' base frames.
        orientations: (N, 4) quaternions (x, y, z, w).
    """

    kind: str
    models: tuple[ObjectModel, ...]
    positions: np.ndarray
    orientations: np.ndarray


@dataclass
class SupportGraph:
    """Which object rests on which, from contacts after settling.

    Attributes:
        rests_on: body -> bodies it rests on directly (empty: on the table or tray floor).
        level: body -> 0 on the table, 1 + the highest level it rests on otherwise.
        top_level: body -> nothing rests on it.
    """

    rests_on: dict[int, list[int]]
    level: dict[int, int] = field(default_factory=dict)
    top_level: dict[int, bool] = field(default_factory=dict)

    @classmethod
    def from_edges(cls, bodies: list[int], rests_on: dict[int, list[int]]) -> "SupportGraph":
        level: dict[int, int] = {}

        def level_of(body, seen=()):
            if body not in level:
                below = [b for b in rests_on.get(body, []) if b not in seen]
                level[body] = 1 + max((level_of(b, seen + (body,)) for b in below), default=-1)
            return level[body]

        for b in bodies:
            level_of(b)
        supporting = {b for below in rests_on.values() for b in below}
        return cls({b: sorted(rests_on.get(b, [])) for b in bodies}, level, {b: b not in supporting for b in bodies})


class Scene:
    """The table, the objects on it, and static obstacles (the tray's walls)."""

    def __init__(self, world, kind: str, workspace_m: float):
        self.world, self.kind, self.workspace_m = world, kind, workspace_m
        c = world.client
        shape = c.createCollisionShape(c.GEOM_BOX, halfExtents=[TABLE_HALF_SIZE_M, TABLE_HALF_SIZE_M, 0.01])
        visual = c.createVisualShape(
            c.GEOM_BOX, halfExtents=[TABLE_HALF_SIZE_M, TABLE_HALF_SIZE_M, 0.01], rgbaColor=[0.55, 0.5, 0.45, 1.0]
        )
        self.table = c.createMultiBody(0, shape, visual, [0, 0, -0.01])
        self.obstacles: list[int] = [self.table]
        self.objects: dict[int, ObjectModel] = {}

    @property
    def bodies(self) -> list[int]:
        return sorted(self.objects)

    def add(self, model: ObjectModel, position, orientation) -> int:
        body = model.spawn(self.world.client, list(position), list(orientation))
        self.objects[body] = model
        return body

    def remove(self, body: int) -> None:
        self.world.client.removeBody(body)
        del self.objects[body]

    def add_walls(self, inner_m: float, height_m: float, visible: bool) -> list[int]:
        """Four static walls around a square of side ``inner_m`` centred on the origin."""
        c, walls = self.world.client, []
        half, t = inner_m / 2, WALL_THICKNESS_M
        for sx, sy, hx, hy in (
            (1, 0, t / 2, half + t),
            (-1, 0, t / 2, half + t),
            (0, 1, half + t, t / 2),
            (0, -1, half + t, t / 2),
        ):
            extents = [hx, hy, height_m / 2]
            visual = (
                c.createVisualShape(c.GEOM_BOX, halfExtents=extents, rgbaColor=[0.3, 0.35, 0.45, 1]) if visible else -1
            )
            position = [sx * (half + t / 2), sy * (half + t / 2), height_m / 2]
            walls.append(
                c.createMultiBody(0, c.createCollisionShape(c.GEOM_BOX, halfExtents=extents), visual, position)
            )
        return walls

    def settle(self, max_time_s: float = 2.0) -> bool:
        return self.world.settle(self.bodies, max_time_s=max_time_s) if self.objects else True

    def remove_lost(self) -> list[int]:
        """Remove objects that left the workspace or whose pose is not finite; return them.

        The workspace is what the camera sees (``camera.field_m`` = ``scene.workspace_m`` in every
        shipped environment): an object whose centre is outside it can be neither aimed at nor
        avoided by a planner that looks, so it is lost (and never counted as removed)."""
        lost = []
        limit = self.workspace_m / 2
        for body in self.bodies:
            position, orientation = self.world.pose(body)
            if (
                not (np.isfinite(position).all() and np.isfinite(orientation).all())
                or abs(position[0]) > limit
                or abs(position[1]) > limit
                or position[2] < -0.05
            ):
                self.remove(body)
                lost.append(body)
        return lost

    def record(self) -> SceneRecord:
        poses = [self.world.pose(b) for b in self.bodies]
        return SceneRecord(
            self.kind,
            tuple(self.objects[b] for b in self.bodies),
            np.array([p for p, _ in poses]),
            np.array([q for _, q in poses]),
        )

    def support_graph(self) -> SupportGraph:
        c = self.world.client
        c.performCollisionDetection()
        rests_on: dict[int, list[int]] = {}
        for upper in self.bodies:
            for lower in self.bodies:
                if upper == lower:
                    continue
                # contactNormalOnB points from B (lower) towards A (upper).
                normals = [p[7] for p in c.getContactPoints(bodyA=upper, bodyB=lower)]
                if normals and np.mean(normals, axis=0)[2] > SUPPORT_NORMAL_MIN_Z:
                    rests_on.setdefault(upper, []).append(lower)
        return SupportGraph.from_edges(self.bodies, rests_on)


def rebuild_scene(world, record: SceneRecord, workspace_m: float) -> Scene:
    """The scene of ``record`` in a freshly reset world, bit for bit."""
    scene = Scene(world, record.kind, workspace_m)
    if record.kind == "bin":
        scene.obstacles += scene.add_walls(workspace_m - 0.04, TRAY_WALL_HEIGHT_M, visible=True)
    for model, position, orientation in zip(record.models, record.positions, record.orientations):
        scene.add(model, position, orientation)
    return scene


def build_scene(world, kind: str, models: list[ObjectModel], rng: np.random.Generator, workspace_m: float) -> Scene:
    """A new settled scene of ``kind`` with ``models`` in a freshly reset world.

    Objects that cannot be placed (no room) or that leave the workspace while settling are left out.
    """
    if kind not in SCENE_KINDS:
        raise ValueError(f"scene kind {kind!r} is not one of {SCENE_KINDS}")
    scene = Scene(world, kind, workspace_m)
    if kind == "single":
        _drop(scene, models[0], rng, spread_m=workspace_m / 6, height_m=0.05)
    elif kind in ("pile", "bin"):
        inner = workspace_m * 0.6 if kind == "pile" else workspace_m - 0.04
        walls = scene.add_walls(inner, TRAY_WALL_HEIGHT_M if kind == "bin" else 0.2, visible=kind == "bin")
        for model in models:
            _drop(scene, model, rng, spread_m=inner / 2 - 0.03, height_m=0.15)
        if kind == "pile":
            for wall in walls:
                world.client.removeBody(wall)
        else:
            scene.obstacles += walls
    elif kind == "packed":
        for model in models:
            _place_upright(scene, model, rng, spread_m=workspace_m / 2 - 0.05)
    elif kind == "plates":
        _build_plates(scene, models, rng)
    else:  # stacked
        n_base = (len(models) + 1) // 2
        for model in models[:n_base]:
            _place_upright(scene, model, rng, spread_m=workspace_m / 2 - 0.07)
        for model in models[n_base:]:
            _place_on_top(scene, model, rng)
    scene.settle()
    scene.remove_lost()
    return scene


def _random_quaternion(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    return q / np.linalg.norm(q)


def _yaw_quaternion(yaw: float) -> np.ndarray:
    return np.array([0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)])


def _drop(scene: Scene, model: ObjectModel, rng, spread_m: float, height_m: float) -> None:
    xy = rng.uniform(-spread_m, spread_m, size=2)
    scene.add(model, [xy[0], xy[1], height_m + max(model.extents_m) / 2], _random_quaternion(rng))
    scene.settle(max_time_s=1.0)


def _free(scene: Scene, body: int, margin_m: float) -> bool:
    c = scene.world.client
    return not any(c.getClosestPoints(body, other, margin_m) for other in scene.bodies if other != body)


def _put(scene: Scene, body: int, x: float, y: float, bottom_z: float, yaw: float) -> None:
    """Move ``body`` upright with its lowest point at ``bottom_z``."""
    c = scene.world.client
    c.resetBasePositionAndOrientation(body, [x, y, 0.0], _yaw_quaternion(yaw))
    lowest = c.getAABB(body)[0][2]
    c.resetBasePositionAndOrientation(body, [x, y, bottom_z - lowest], _yaw_quaternion(yaw))


def _place_upright(scene: Scene, model: ObjectModel, rng, spread_m: float) -> None:
    """Upright (the model's own z up), random yaw and position, rejected while touching another."""
    body = scene.add(model, [0, 0, 0], [0, 0, 0, 1])
    for _ in range(PLACEMENT_TRIES):
        x, y = rng.uniform(-spread_m, spread_m, size=2)
        _put(scene, body, x, y, 0.002, rng.uniform(-np.pi, np.pi))
        if _free(scene, body, margin_m=0.004):
            return
    scene.remove(body)


def _place_on_top(scene: Scene, model: ObjectModel, rng) -> None:
    """Onto an object already in the scene (wide ones more often), then let it settle there;
    placed again, up to STACKING_TRIES times, while it slides or rolls off."""
    c = scene.world.client
    others = scene.bodies
    if not others:
        return _place_upright(scene, model, rng, spread_m=scene.workspace_m / 2 - 0.07)
    top_areas = np.array([np.prod(np.subtract(*c.getAABB(b))[:2]) for b in others])

    def aim(_attempt):
        below = others[int(rng.choice(len(others), p=top_areas / top_areas.sum()))]
        (x, y, _), _ = scene.world.pose(below)
        dx, dy = rng.uniform(-0.01, 0.01, size=2)
        return below, x + dx, y + dy, rng.uniform(-np.pi, np.pi)

    _settle_on(scene, model, aim)


def _settle_on(scene: Scene, model: ObjectModel, aim) -> None:
    """Place ``model`` on a support and let it settle there; placed again, up to STACKING_TRIES
    times, while it slides or rolls off, and left out when no try finds room. ``aim(attempt)``
    draws each try's support body, the object's (x, y) and its yaw. Objects on objects and objects
    on plates are stacked alike."""
    c = scene.world.client
    body = scene.add(model, [0, 0, 0], [0, 0, 0, 1])
    settled = 0
    for attempt in range(PLACEMENT_TRIES):
        support, x, y, yaw = aim(attempt)
        _put(scene, body, x, y, c.getAABB(support)[1][2] + 0.003, yaw)
        if _free(scene, body, margin_m=0.0):
            scene.settle(max_time_s=1.0)
            settled += 1
            if c.getContactPoints(body, support) or settled == STACKING_TRIES:
                return
    scene.remove(body)


# --- plates: stacks where grasp priority matters ---------------------------------------------------


def _build_plates(scene: Scene, models: list[ObjectModel], rng) -> None:
    """Flat plates on the table, every object of ``models`` placed on one of them.

    **Task description.** REGRAD-like stacks in which the supporting objects stay largely visible,
    so that a planner which does not prefer top-level objects often aims at a supporting one (GP-Net's
    grasp-priority claim). ``(len(models) + 1) // 2`` plates are drawn from the plate set
    (:func:`graspbench.sim.plates.plate_models`: boxes 12-16 cm long, 5-6.5 cm wide, 2-4 cm high,
    too long to grasp across their long side, a good grasp across their short side) and lie flat with random yaw,
    wholly inside the workspace, none touching another. The objects are then placed upright with
    random yaw on the plates in turn (every plate carries one before any carries two), their
    centres within the middle 70% of the plate's length and 60% of its width, on another plate when
    theirs has no room, and placed again (up to STACKING_TRIES times) while they slide off. An
    object that finds no room is left out, as in the other kinds.

    **Randomizations.** Which plates, their poses, each object's plate, offset on it and yaw: all
    from ``rng``. The objects are the environment's (its object set and split); the plates are
    added to them and are objects of the scene like any other (removed when lifted).

    **Support.** Objects on a plate rest on it: the plate is not top-level until they are gone
    (``info["top_level"]``); an object that slid off onto the table is top-level.
    """
    plates = plate_models()
    n_plates = (len(models) + 1) // 2
    bases = [
        b
        for i in rng.choice(len(plates), size=n_plates, replace=n_plates > len(plates))
        if (b := _place_plate(scene, plates[int(i)], rng)) is not None
    ]
    if not bases:
        return
    for k, model in enumerate(models):
        _place_on_plate(scene, model, bases, k % len(bases), rng)


def _place_plate(scene: Scene, model: ObjectModel, rng) -> int | None:
    """Flat, random yaw, wholly inside the workspace, touching nothing; its body, or None (no room)."""
    body = scene.add(model, [0, 0, 0], [0, 0, 0, 1])
    length, width, _ = model.extents_m
    for _ in range(4 * PLACEMENT_TRIES):  # cheap tries (no settling); two long plates seldom fit at random
        yaw = rng.uniform(-np.pi, np.pi)
        half_x = abs(length / 2 * np.cos(yaw)) + abs(width / 2 * np.sin(yaw))
        half_y = abs(length / 2 * np.sin(yaw)) + abs(width / 2 * np.cos(yaw))
        room = scene.workspace_m / 2 - 0.005
        x, y = rng.uniform(-1, 1, size=2) * np.maximum([room - half_x, room - half_y], 0.0)
        _put(scene, body, x, y, 0.002, yaw)
        if _free(scene, body, margin_m=0.004):
            return body
    scene.remove(body)
    return None


def _place_on_plate(scene: Scene, model: ObjectModel, bases: list[int], first: int, rng) -> None:
    """Upright on plate ``bases[first]`` (on any of ``bases`` after half the tries), its centre
    within the middle 70% of the plate's length and 60% of its width."""

    def aim(attempt):
        plate = bases[first] if attempt < PLACEMENT_TRIES // 2 else bases[int(rng.integers(len(bases)))]
        length, width, _ = scene.objects[plate].extents_m
        (x, y, _), q = scene.world.pose(plate)
        yaw = 2 * np.arctan2(q[2], q[3])  # the plate lies flat: its orientation is a yaw
        along, across = rng.uniform(-0.35, 0.35) * length, rng.uniform(-0.3, 0.3) * width
        px, py = x + along * np.cos(yaw) - across * np.sin(yaw), y + along * np.sin(yaw) + across * np.cos(yaw)
        return plate, px, py, rng.uniform(-np.pi, np.pi)

    _settle_on(scene, model, aim)
