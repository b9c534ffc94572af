import pytest

from graspbench.sim.objects import box_model
from graspbench.sim.scenes import Scene
from graspbench.sim.world import World


@pytest.fixture
def world():
    w = World()
    yield w
    w.close()


@pytest.fixture
def table_scene(world):
    """An empty table in a fresh world."""
    return Scene(world, "single", workspace_m=0.3)


@pytest.fixture
def box(tmp_path):
    """Factory: an ObjectModel of a box with the given extents (metres)."""
    return lambda extents, name="box": box_model(extents, tmp_path, name)
