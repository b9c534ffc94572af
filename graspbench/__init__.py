"""graspbench: a simulation benchmark for planar parallel-jaw grasping."""

__version__ = "0.1.0"

from .envs import make_env, register_all  # noqa: E402
from .grasp import Grasp, GraspRectangle  # noqa: E402

ENV_IDS = register_all()

__all__ = ["ENV_IDS", "Grasp", "GraspRectangle", "make_env", "__version__"]
