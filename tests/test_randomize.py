"""Training objects as varied as a lab's (issue 26): mixed object sets, each object's scale,
friction and mass drawn within bounds, and labels replayed with the object as it was labelled."""

import numpy as np
import pytest

from graspbench.data.generate import stored_record
from graspbench.envs import make_env
from graspbench.envs.spec import SpecError, load_spec

RANDOMIZE = {"more_objects": ["blocks"], "scale": [0.4, 1.0], "friction": [0.5, 0.9], "mass_factor": [0.5, 2.0]}


@pytest.fixture(scope="module")
def env():
    env = make_env("GraspBench/Pile-v0", scene={"split": "train", "randomize": RANDOMIZE})
    yield env
    env.close()


def test_every_drawn_object_stays_within_its_bounds_and_fits_the_hand(env):
    seen_sets, scales = set(), []
    for seed in range(4):
        env.reset(seed=seed)
        for model in env.scene.objects.values():
            seen_sets.add(model.name.split("/")[0])
            scales.append(model.scale)
            assert 0.5 <= model.friction <= 0.9 and 0.5 <= model.mass_factor <= 2.0
            assert min(model.extents_m) <= 0.08 - 0.005 + 1e-9  # the clip: it fits between the fingers
    random_urdf_scales = [s for s in scales if 0.4 - 1e-9 <= s <= 1.0 + 1e-9]
    assert len(random_urdf_scales) >= len(scales) // 2 and np.ptp(random_urdf_scales) > 0.2  # drawn, not fixed
    assert seen_sets == {"random_urdfs", "blocks"}


def test_a_labelled_scene_is_replayed_with_its_objects_as_drawn(env):
    env.reset(seed=7)
    record = env.scene.record()
    stored = {
        "object_names": np.array([m.name for m in record.models]),
        "object_positions": record.positions,
        "object_orientations": record.orientations,
        "object_scales": np.array([m.scale for m in record.models], np.float32),
        "object_frictions": np.array([m.friction for m in record.models], np.float32),
        "object_mass_factors": np.array([m.mass_factor for m in record.models], np.float32),
    }
    replayed = stored_record(env.bench_spec, stored)
    for drawn, again in zip(record.models, replayed.models):
        assert again.name == drawn.name
        assert np.allclose(again.extents_m, drawn.extents_m, rtol=1e-5)
        assert again.friction == pytest.approx(drawn.friction) and again.mass_factor == pytest.approx(drawn.mass_factor)


def test_a_friction_beyond_any_physical_pair_is_refused():
    with pytest.raises(SpecError, match="scene.randomize.friction"):
        load_spec("envs/pile.yaml", scene={"randomize": {"friction": [0.5, 3.0]}})
