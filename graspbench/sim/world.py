"""The physics world: one PyBullet server in DIRECT mode, shared by the scene, camera and gripper."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time

import numpy as np


@contextlib.contextmanager
def _quiet_stdout():
    """PyBullet's C code prints its build time and 'argv[0]=' to stdout; keep the terminal clean."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        ctypes.CDLL(None).fflush(None)  # C's stdout is buffered: flush it while it still goes nowhere
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


with _quiet_stdout():
    import pybullet
    from pybullet_utils import bullet_client

GRAVITY_M_S2 = -9.81


class World:
    """A PyBullet physics server with graspbench's conventions.

    Each world owns its own ``BulletClient`` (never the global client), so several worlds live in
    one process. Steps are counted, so simulated time and the cost of a grasp trial are known.

    Args:
        time_step_s: physics time step.
        solver_iterations: constraint solver iterations per step; contact-rich grasps need more
            than PyBullet's default of 50.
        gui: open the PyBullet GUI (needs a display) instead of the headless DIRECT server.
    """

    def __init__(self, time_step_s: float = 1.0 / 240.0, solver_iterations: int = 150, gui: bool = False):
        self.time_step_s = time_step_s
        self.solver_iterations = solver_iterations
        with _quiet_stdout():
            self.client = bullet_client.BulletClient(connection_mode=pybullet.GUI if gui else pybullet.DIRECT)
        self.steps = 0
        self.physics_time_s = 0.0  # wall-clock spent inside stepSimulation, for the benchmarks
        self.reset()

    def reset(self) -> None:
        """Empty the world. ``resetSimulation`` (unlike ``removeBody``) frees collision shapes, so
        rebuilding thousands of scenes does not grow memory."""
        c = self.client
        c.resetSimulation()
        c.setGravity(0.0, 0.0, GRAVITY_M_S2)
        c.setTimeStep(self.time_step_s)
        c.setPhysicsEngineParameter(numSolverIterations=self.solver_iterations, deterministicOverlappingPairs=1)
        self.steps = 0

    @property
    def sim_time_s(self) -> float:
        return self.steps * self.time_step_s

    def step(self, n: int = 1) -> None:
        step = self.client.stepSimulation
        start = time.perf_counter()
        for _ in range(n):
            step()
        self.physics_time_s += time.perf_counter() - start
        self.steps += n

    def pose(self, body: int) -> tuple[np.ndarray, np.ndarray]:
        position, orientation = self.client.getBasePositionAndOrientation(body)
        return np.array(position), np.array(orientation)

    def speed_m_s(self, body: int) -> float:
        linear, angular = self.client.getBaseVelocity(body)
        return float(np.linalg.norm(linear))

    def at_rest(self, body: int, speed_tol_m_s: float, spin_tol_rad_s: float) -> bool:
        linear, angular = self.client.getBaseVelocity(body)
        return np.linalg.norm(linear) < speed_tol_m_s and np.linalg.norm(angular) < spin_tol_rad_s

    def settle(
        self,
        bodies: list[int],
        max_time_s: float = 2.0,
        speed_tol_m_s: float = 0.01,
        spin_tol_rad_s: float = 0.1,
        check_every: int = 12,
    ) -> bool:
        """Step until every body is slower than ``speed_tol_m_s`` and turns slower than
        ``spin_tol_rad_s`` at two checks in a row (True), or ``max_time_s`` has passed (False).

        A rocking object stands still for an instant at each end of its swing: checking the linear
        speed once let 1 in 5 pile scenes be observed with an object still rocking, which then
        moved by up to 8 cm under a planner that aimed at where it had been.
        """
        max_steps = int(round(max_time_s / self.time_step_s))
        done, calm = 0, 0
        while done < max_steps:
            self.step(check_every)
            done += check_every
            calm = calm + 1 if all(self.at_rest(b, speed_tol_m_s, spin_tol_rad_s) for b in bodies) else 0
            if calm == 2:
                return True
        return False

    def close(self) -> None:
        """Disconnect; safe to call twice."""
        if self.client is not None:
            self.client.disconnect()
            self.client = None
