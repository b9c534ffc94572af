"""graspbench: a simulation benchmark for planar parallel-jaw grasping."""

import functools

__version__ = "0.1.0"


@functools.cache  # a process runs the code it started with, whatever is edited meanwhile
def code_version() -> str:
    """The version and, in a git checkout, the commit ("0.1.0+16f79c7", with ".dirty" when the
    package has uncommitted changes), recorded beside stored measurements: a fix to the simulator
    changes simulated metrics, and numbers made by different code must not be compared unawares."""
    import subprocess
    from pathlib import Path

    package = Path(__file__).parent
    try:
        git = ["git", "-C", str(package)]
        commit = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--", "."], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return __version__  # an installed copy, not a checkout
    return f"{__version__}+{commit}" + (".dirty" if dirty else "")

from .envs import make_env, register_all  # noqa: E402
from .grasp import Grasp, GraspRectangle  # noqa: E402

ENV_IDS = register_all()

__all__ = ["ENV_IDS", "Grasp", "GraspRectangle", "code_version", "make_env", "__version__"]
