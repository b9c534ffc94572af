"""Object sets: the split, the procedural set, a user's folder, the graspability filter."""

import json

import numpy as np
import pytest

from graspbench.sim import objects
from graspbench.sim.objects import PROCEDURAL_KINDS, load_object_set, procedural_set
from graspbench.sim.scenes import Scene


def test_random_urdfs_split_is_folders_ending_in_zero():
    test = load_object_set("random_urdfs", "test", scale=0.6)
    train = load_object_set("random_urdfs", "train", scale=0.6)
    assert all(m.name.endswith("0") for m in test)
    assert not any(m.name.endswith("0") for m in train)
    assert 95 <= len(test) <= 100 and 890 <= len(train) <= 900


def test_procedural_set_is_seeded_and_has_every_kind(tmp_path, monkeypatch):
    monkeypatch.setattr(objects, "cache_dir", lambda: tmp_path)
    folder = procedural_set(seed=3, count=40)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {o["kind"] for o in manifest["objects"]} == set(PROCEDURAL_KINDS)
    assert all(min(o["extents_m"]) < 0.075 for o in manifest["objects"])  # fits the opening
    first = (folder / "0000.obj").read_text()
    (folder / "manifest.json").unlink()  # force a regeneration
    assert (procedural_set(seed=3, count=40) / "0000.obj").read_text() == first


def test_user_folder_of_meshes_and_the_size_filter(tmp_path, monkeypatch, world, box):
    monkeypatch.setattr(objects, "cache_dir", lambda: tmp_path / "cache")
    folder = tmp_path / "mine"
    folder.mkdir()
    for name, extents in (("a_small", [0.03, 0.04, 0.05]), ("b_huge", [0.2, 0.2, 0.2]), ("c_tiny", [0.005] * 3)):
        box(extents, name)
        (tmp_path / f"{name}.obj").rename(folder / f"{name}.obj")
    models = load_object_set(str(folder), "all")
    assert [m.name for m in models] == ["mine/a_small.obj"]  # too big and too small filtered out
    assert models[0].extents_m == pytest.approx((0.03, 0.04, 0.05), abs=1e-6)
    body = Scene(world, "single", 0.3).add(models[0], [0, 0, 0.05], [0, 0, 0, 1])
    world.settle([body])
    assert world.pose(body)[0][2] == pytest.approx(0.025, abs=0.003)  # resting on the table
    with pytest.raises(ValueError, match="neither one of"):
        load_object_set(str(tmp_path / "missing"))
