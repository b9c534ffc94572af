"""Object sets: the split, the procedural set, a user's folder, the graspability filter."""

import json
from pathlib import Path

import pytest

from graspbench.sim import obj_files, objects
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


# --- a user's folder in the usual layouts, meshes of several parts, meshes that cannot be used ---

URDF = """<robot name="{name}"><link name="base">
  <inertial><mass value="0.1"/><inertia ixx="1e-4" ixy="0" ixz="0" iyy="1e-4" iyz="0" izz="1e-4"/></inertial>
  <visual><geometry><mesh filename="{visual}"/></geometry></visual>
  <collision><geometry><mesh filename="{collision}"/></geometry></collision>
</link></robot>
"""


def _boxes(path, *offsets, size=0.03, groups=True):
    """An OBJ of disjoint cubes, one ``o`` group each (``groups=False``: all in one group)."""
    import trimesh

    parts = []
    for offset in offsets:
        part = trimesh.creation.box([size] * 3)
        part.apply_translation(offset)
        parts.append(part)
    text = obj_files.obj_text(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if groups else "\n".join(line for line in text.splitlines() if not line.startswith("o ")))
    return path


def _urdf(folder, name, collision, visual):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.urdf").write_text(URDF.format(name=name, collision=collision, visual=visual))


def test_a_folder_of_urdfs_with_their_meshes_gives_one_object_per_urdf(tmp_path, monkeypatch, world):
    monkeypatch.setattr(objects, "cache_dir", lambda: tmp_path / "cache")
    root = tmp_path / "ycb"
    # YCB style: a subfolder per object, its URDF beside a collision, a visual and a V-HACD mesh
    # (the V-HACD one referenced by nothing), or with its meshes one folder down.
    _urdf(root / "mug", "mug", "collision.obj", "visual.obj")
    for mesh in ("collision.obj", "visual.obj", "mug_vhacd.obj"):
        _boxes(root / "mug" / mesh, [0, 0, 0])
    _urdf(root / "can", "model", "meshes/can_collision.obj", "meshes/can.obj")
    _boxes(root / "can" / "meshes" / "can_collision.obj", [0, 0, 0])
    _boxes(root / "can" / "meshes" / "can.obj", [0, 0, 0])
    # pybullet_data style: URDFs and their meshes side by side in the top folder, and a mesh alone.
    _urdf(root, "duck", "duck_vhacd.obj", "duck.obj")
    _boxes(root / "duck_vhacd.obj", [0, 0, 0], [0.03, 0, 0])
    _boxes(root / "duck.obj", [0, 0, 0])
    _boxes(root / "loose.obj", [0, 0, 0], size=0.04)

    models = load_object_set(str(root), "all")
    assert [m.name for m in models] == ["ycb/can/model.urdf", "ycb/duck.urdf", "ycb/loose.obj", "ycb/mug/mug.urdf"]
    assert models[1].extents_m == pytest.approx((0.06, 0.03, 0.03), abs=0.01)  # PyBullet adds its margin
    assert models[2].extents_m == pytest.approx((0.04, 0.04, 0.04), abs=1e-6)
    scene = Scene(world, "single", 0.3)
    for k, model in enumerate(models):
        scene.add(model, [0.1 * (k % 2) - 0.05, 0.1 * (k // 2) - 0.05, 0.05], [0, 0, 0, 1])


def test_an_obj_of_several_convex_parts_is_one_object_used_as_it_is(tmp_path, monkeypatch, world):
    monkeypatch.setattr(objects, "cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setattr(objects, "_decompose", lambda *args: pytest.fail("convex parts need no decomposition"))
    folder = tmp_path / "mine"
    _boxes(folder / "three.obj", [0, 0, 0], [0.05, 0, 0], [0.10, 0, 0], size=0.02)
    [model] = load_object_set(str(folder), "all")
    assert model.extents_m == pytest.approx((0.12, 0.02, 0.02), abs=1e-6)
    assert Path(model.path).read_text().count("\no ") + Path(model.path).read_text().startswith("o ") == 3
    body = Scene(world, "single", 0.3).add(model, [0, 0, 0.05], [0, 0, 0, 1])
    world.settle([body])
    assert world.pose(body)[0][2] == pytest.approx(0.01, abs=0.003)  # resting on the table


def test_a_mesh_that_is_not_convex_is_decomposed_once_in_a_child_process(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(objects, "cache_dir", lambda: tmp_path / "cache")
    folder = tmp_path / "mine"
    # Three cubes in one group: one part, not convex.
    mesh = _boxes(folder / "merged.obj", [0, 0, 0], [0.04, 0, 0], [0.04, 0.04, 0], size=0.02, groups=False)
    parts = obj_files.read_obj_parts(Path(objects.convex_parts(mesh)))
    assert len(parts) >= 3 and all(p.is_convex for p in parts)
    assert "CoACD" not in capfd.readouterr().out  # its console output went to the log in the cache
    monkeypatch.setattr(objects, "_decompose", lambda *args: pytest.fail("decomposed twice"))
    objects.convex_parts(mesh)


def test_a_crashing_decomposition_is_an_error_naming_the_file(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(objects, "cache_dir", lambda: tmp_path / "cache")
    crash = "import os, signal\nprint('chatter ' * 1000, flush=True)\nos.kill(os.getpid(), signal.SIGSEGV)\n"
    monkeypatch.setattr(objects, "_DECOMPOSE_SCRIPT", crash)
    mesh = _boxes(tmp_path / "mine" / "crash.obj", [0, 0, 0], [0.04, 0, 0], groups=False)
    with pytest.raises(ValueError, match=r"crash\.obj: convex decomposition failed \(killed by signal 11"):
        load_object_set(str(mesh.parent), "all")
    assert "chatter" not in capfd.readouterr().out


@pytest.mark.parametrize("content", [b"v 0 0 0\nv 1 0 0\nf 1 2 7\n", b"\x00\xff garbage", b"v 0 0 0\n"])
def test_a_damaged_mesh_is_an_error_naming_the_file(tmp_path, monkeypatch, content):
    monkeypatch.setattr(objects, "cache_dir", lambda: tmp_path / "cache")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "broken.obj").write_bytes(content)
    with pytest.raises(ValueError, match=r"broken\.obj: .*export it again"):
        load_object_set(str(tmp_path / "mine"), "all")


def test_a_urdf_pybullet_cannot_load_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(objects, "cache_dir", lambda: tmp_path / "cache")
    _urdf(tmp_path / "mine" / "ghost", "ghost", "missing.obj", "missing.obj")
    with pytest.raises(ValueError, match=r"ghost\.urdf: PyBullet cannot load"):
        load_object_set(str(tmp_path / "mine"), "all")
    (tmp_path / "mine" / "ghost" / "ghost.urdf").write_text("<robot><link")
    with pytest.raises(ValueError, match=r"ghost\.urdf: not a readable URDF"):
        load_object_set(str(tmp_path / "mine"), "all")
