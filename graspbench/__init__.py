"""graspbench: a simulation benchmark for planar parallel-jaw grasping."""

import functools
import hashlib
from pathlib import Path

__version__ = "0.1.0"


# Modules that only drive, report or plot: editing them changes no measurement, so they are left
# out of code_version() (a new module counts until it is listed here).
NOT_MEASURING = (
    "cli.py",
    "bench/report.py",
    "bench/analyze.py",
    "bench/replay.py",
    "bench/show.py",
    "bench/perf.py",
    "bench/experiments.py",
    "bench/agents_training.py",
    "active/report.py",
    "active/cli.py",
)


@functools.cache
def code_version() -> str:
    """The version and a hash of the package's source that measures ("0.1.0+3fa2b1c9"), recorded
    beside stored measurements: a fix to the simulator changes simulated metrics, and numbers made
    by different code must not be compared unawares. A hash of the code, not a git commit: commits
    of documents or results change nothing measured."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).as_posix() in NOT_MEASURING:
            continue
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:8]}"


code_version()  # hashed at import: the code this process runs, whatever is edited while it runs

from .envs import make_env, register_all  # noqa: E402
from .grasp import Grasp, GraspRectangle  # noqa: E402

ENV_IDS = register_all()

__all__ = ["ENV_IDS", "Grasp", "GraspRectangle", "code_version", "make_env", "__version__"]
