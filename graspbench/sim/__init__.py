"""The simulation: world, objects, scenes, camera, gripper."""

from . import world  # noqa: F401  (first: it imports PyBullet without its banner)
