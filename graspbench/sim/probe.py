"""The interactive probe of IVFP (Murray et al.): a short, reversible lift-and-pull of a closed
grasp, filmed by a camera fixed to the hand.

The authors' probe on the Stretch (their public code, ``execute_probe_super``): lift 4 cm, wait
0.2 s, pull back 3 cm, wait 0.5 s, push out to 1 cm past the start, lower to the start. Here the
hand is top-down over a bin: "lift" is up, "pull back" is horizontal, towards the front of the bin
(world -y, the image's bottom edge), where a robot facing the bin would stand. A held object comes
along and stays still in the wrist camera's view while the bin moves away; a slipping one lags or
drops back; a wedged neighbour comes along too. Nothing of this shows in the frame taken right
after closing, which is the passive view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .camera import Camera, Frame

AUTHORS_DURATION_S = 2.0  # the waits below are the authors' at this total duration


@dataclass(frozen=True)
class ProbeSpec:
    """The probe's motions, relative to where the fingers closed."""

    lift_m: float = 0.04
    """first, straight up"""
    first_wait_s: float = 0.2
    """hold still after the lift (at the authors' 2 s duration; waits scale with ``duration_s``)"""
    pull_m: float = 0.03
    """then along ``pull_direction``"""
    pull_direction: tuple[float, float, float] = (0.0, -1.0, 0.0)
    """world direction of the pull: towards the front of the bin (-y), where a robot facing it
    would stand; (0, 0, 1) pulls straight up, as extraction from a tote does"""
    second_wait_s: float = 0.5
    """hold still after the pull (at 2 s, scaled like the first wait)"""
    push_past_m: float = 0.01
    """then back, this far past the start, before coming down to the start"""
    duration_s: float = 2.0
    """the whole probe; the motions share what the waits leave, at one speed (0.5-2 s: the paper's sweep)"""

    def check(self, name: str = "pick.probe") -> None:
        for field_name in ("lift_m", "pull_m", "duration_s"):
            if not getattr(self, field_name) > 0:
                raise ValueError(f"{name}.{field_name}: expected a positive number, got {getattr(self, field_name)!r}")
        waits = (self.first_wait_s + self.second_wait_s) * self.duration_s / AUTHORS_DURATION_S
        if not 0 <= waits < self.duration_s or self.push_past_m < 0:
            raise ValueError(f"{name}: waits must be >= 0 and leave time to move, push_past_m >= 0")
        if not np.linalg.norm(self.pull_direction) > 0:
            raise ValueError(f"{name}.pull_direction: expected a non-zero direction, got {list(self.pull_direction)}")

    def waypoints(self) -> list[tuple[np.ndarray, float]]:
        """(offset from the start (dx, dy, dz), seconds to get there and hold) for each segment."""
        scale = self.duration_s / AUTHORS_DURATION_S
        lifted, pull = (
            np.array([0.0, 0.0, self.lift_m]),
            np.array(self.pull_direction) / np.linalg.norm(self.pull_direction),
        )
        moves = [lifted, lifted + self.pull_m * pull, lifted - self.push_past_m * pull, np.zeros(3)]
        waits = [self.first_wait_s * scale, self.second_wait_s * scale, 0.0, 0.0]
        lengths = [np.linalg.norm(b - a) for a, b in zip([np.zeros(3)] + moves[:-1], moves)]
        speed = sum(lengths) / (self.duration_s - sum(waits))
        return [(move, length / speed + wait) for move, length, wait in zip(moves, lengths, waits)]

    def speed_m_s(self) -> float:
        scale = self.duration_s / AUTHORS_DURATION_S
        waypoints = self.waypoints()
        path = sum(np.linalg.norm(b - a) for (a, _), (b, _) in zip([(np.zeros(3), 0)] + waypoints[:-1], waypoints))
        return path / (self.duration_s - (self.first_wait_s + self.second_wait_s) * scale)


@dataclass(frozen=True)
class WristCameraSpec:
    """A small RGB-D camera on the side of the hand, looking at the space between the fingertips."""

    width_px: int = 64
    """image width"""
    height_px: int = 64
    """image height"""
    fov_deg: float = 60.0
    """vertical field of view"""
    frame_rate_hz: float = 8.0
    """frames per second during the probe (the authors recorded at 4 Hz on the real robot)"""
    mount_m: tuple[float, float, float] = (0.0, -0.07, 0.09)
    """position in the hand's frame (x along the closing axis, z up, origin between the fingertips);
    outside the palm, so that the palm does not hide the fingertips"""

    def check(self, name: str = "pick.wrist_camera") -> None:
        for field_name in ("width_px", "height_px"):
            if not 8 <= getattr(self, field_name) <= 512:
                raise ValueError(f"{name}.{field_name}: expected 8 to 512 pixels, got {getattr(self, field_name)}")
        if not 10 <= self.fov_deg <= 150:
            raise ValueError(f"{name}.fov_deg: expected 10 to 150 degrees, got {self.fov_deg}")
        if not self.frame_rate_hz > 0:
            raise ValueError(f"{name}.frame_rate_hz: expected a positive rate, got {self.frame_rate_hz}")


class WristCamera:
    """The camera fixed to a gripper's hand; :meth:`render` looks from wherever the hand is now."""

    def __init__(self, gripper, spec: WristCameraSpec = WristCameraSpec()):
        self.gripper, self.spec = gripper, spec
        f = spec.height_px / (2 * np.tan(np.radians(spec.fov_deg) / 2))
        self.intrinsics = np.array([[f, 0, (spec.width_px - 1) / 2], [0, f, (spec.height_px - 1) / 2], [0, 0, 1]])

    def extrinsics(self) -> np.ndarray:
        """world_from_camera (OpenCV axes) now: image x along the closing axis, looking at the TCP."""
        c = self.gripper.world.client
        position, orientation = c.getLinkState(self.gripper.body, self.gripper.gantry[3])[4:6]
        hand = np.array(c.getMatrixFromQuaternion(orientation)).reshape(3, 3)
        tcp = np.array(position)
        eye = tcp + hand @ np.array(self.spec.mount_m)
        forward = (tcp - eye) / np.linalg.norm(tcp - eye)
        right = hand[:, 0] - (hand[:, 0] @ forward) * forward
        right /= np.linalg.norm(right)
        pose = np.eye(4)
        pose[:3, :3] = np.stack([right, np.cross(forward, right), forward], axis=1)
        pose[:3, 3] = eye
        return pose

    def render(self) -> Frame:
        camera = Camera(
            self.intrinsics, self.extrinsics(), self.spec.width_px, self.spec.height_px, near_m=0.02, far_m=1.0
        )
        return camera.render(self.gripper.world.client)


@dataclass
class ProbeFilm:
    """What the wrist camera saw during a probe.

    Attributes:
        rgb: (T, H, W, 3) uint8; frame 0 before the hand moved (the passive view).
        depth_m: (T, H, W) float32.
        times_s: (T,) seconds since the probe started.
        watched_z_m: (T,) height of the watched body at every frame (NaN without one): the truth
            behind the film, for diagnostics, never for the classifier.
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    times_s: np.ndarray
    watched_z_m: np.ndarray


def frame_times(probe: ProbeSpec, camera: WristCameraSpec) -> np.ndarray:
    """Seconds since the start of every frame of a probe: fixed per spec."""
    count = int(np.floor(probe.duration_s * camera.frame_rate_hz + 1e-9)) + 1
    return (np.arange(count) / camera.frame_rate_hz).astype(np.float32)


def run_probe(gripper, probe: ProbeSpec, camera: WristCamera, watch: int | None = None) -> ProbeFilm:
    """Run the probe from where the hand is now (fingers closed) and film it at a fixed rate,
    noting the height of body ``watch`` at every frame."""
    world = gripper.world
    dt = world.time_step_s
    start = np.array(gripper.commanded[:3])
    yaw = gripper.commanded[3]
    times = frame_times(probe, camera.spec)
    frame_steps = [int(round(t / dt)) for t in times]
    # Segment boundaries in steps; motions are joint motor targets at the probe's speed.
    segment_starts, elapsed = [], 0.0
    for offset, seconds in probe.waypoints():
        segment_starts.append((int(round(elapsed / dt)), start + offset))
        elapsed += seconds
    events = sorted(set(frame_steps) | {s for s, _ in segment_starts} | {int(round(elapsed / dt))})
    speed = probe.speed_m_s()
    rgb, depth, heights, step = [], [], [], 0
    for event in events:
        world.step(event - step)
        step = event
        for segment_step, target in segment_starts:
            if segment_step == step:
                gripper.move_to((*target, yaw), speed)
        if step in frame_steps:
            frame = camera.render()
            rgb.append(frame.rgb)
            depth.append(frame.depth_m)
            heights.append(world.pose(watch)[0][2] if watch is not None else np.nan)
    return ProbeFilm(np.stack(rgb), np.stack(depth), times, np.array(heights))
