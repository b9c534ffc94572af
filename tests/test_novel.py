"""The novel-object suite (issue 26, item 3) and the priority-stacks scenes (item 4)."""

import json

import numpy as np
import pandas as pd

import graspbench
from graspbench.agents import HeuristicAgent
from graspbench.bench.families import beside_default_markdown, family_markdown, family_table, novel_bars
from graspbench.bench.report import SUITES
from graspbench.sim import obj_files, objects
from graspbench.sim.novel import NOVEL_FAMILIES, family, novel_set
from graspbench.sim.objects import PROCEDURAL_KINDS, load_object_set
from graspbench.sim.plates import plate_models
from graspbench.sim.scenes import build_scene


def test_novel_families_are_disjoint_from_every_training_set():
    """Training sets: random_urdfs (names are folder numbers, no family) and procedural (its shape
    kinds; blocks are its boxes). No novel family is one of them, and every novel object's name
    carries its family."""
    models = load_object_set("novel", "all")
    families = {family(m.name) for m in models}
    assert families == set(NOVEL_FAMILIES)
    assert not families & {kind.lower() for kind in PROCEDURAL_KINDS}
    assert not families & {"box", "block", "blocks", "cylinder", "capsule", "sphere", "blob", "l", "t", "random_urdfs"}
    for training in (load_object_set("random_urdfs", "all", scale=0.6), load_object_set("procedural", "all")):
        assert all(family(m.name) is None for m in training)
        assert not {m.name for m in training} & {m.name for m in models}
    manifest = json.loads((novel_set(objects.cache_dir()) / "manifest.json").read_text())
    assert all(o["file"].startswith(o["family"] + "_") for o in manifest["objects"])


def test_novel_objects_are_real_size_and_fit_the_hand():
    models = load_object_set("novel", "all")
    assert len(models) >= 3 * len(NOVEL_FAMILIES)
    for m in models:
        assert m.scale == 1.0
        assert min(m.extents_m) < 0.075, m.name  # kept by the loader's filter: none is dropped
        assert 0.06 <= max(m.extents_m) <= 0.30, m.name  # everyday objects, not toys of toys
    concave = [m for m in models if family(m.name) in ("mug", "bowl", "ring", "funnel", "banana")]
    assert all(len(obj_files.read_obj_parts(m.path)) > 1 for m in concave)  # convex parts, not one hull


def test_novel_generation_is_deterministic(tmp_path):
    first, second = novel_set(tmp_path / "a"), novel_set(tmp_path / "b")
    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(p.name for p in second.iterdir()) and "manifest.json" in files
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_novel_single_resets_and_a_heuristic_grasp_runs():
    env = graspbench.make_env("GraspBench/NovelSingle-v0")
    agent = HeuristicAgent()
    observation, info = env.reset(seed=100)
    agent.reset(100)
    assert info["objects_at_start"] == 1
    (model,) = env.scene.objects.values()
    assert family(model.name) in NOVEL_FAMILIES
    observation, reward, terminated, truncated, info = env.step_grasp(agent.act(observation, info))
    assert info["outcome"] in ("success", "collision", "no_contact", "slipped", "multi_pick")
    assert info["object_name"] == model.name
    env.close()


def test_the_heuristic_grasps_a_ring_too_wide_for_the_hand_by_its_rim():
    """A torus over 8.5 cm across: its centroid is the hole and no grasp across it fits the 8 cm
    hand, so the heuristic must find the rim (one finger in the hole) and lift it."""
    env = graspbench.make_env("GraspBench/NovelSingle-v0")
    agent = HeuristicAgent()
    for seed in range(100):  # the first seed that drops a wide ring (the novel set is fixed)
        observation, info = env.reset(seed=seed)
        (model,) = env.scene.objects.values()
        if family(model.name) == "ring" and min(model.extents_m[:2]) > 0.085:
            break
    else:
        raise AssertionError("no ring over 8.5 cm in NovelSingle-v0's first 100 seeds")
    agent.reset(seed)
    grasp = agent.act(observation, info)
    assert env.camera.heights_m(observation["depth"])[round(grasp.v), round(grasp.u)] > 0.01  # on the rim, not the hole
    assert env.step_grasp(grasp)[-1]["outcome"] == "success"
    env.close()


def test_the_novel_suite_is_declared():
    envs, episodes, agents = SUITES["novel"]
    assert envs == ["GraspBench/NovelSingle-v0", "GraspBench/NovelPile-v0"] and agents is None
    for env_id in envs:
        spec = graspbench.make_env(env_id).bench_spec
        assert spec.scene.objects == "novel" and spec.scene.object_scale == 1.0


def test_family_table_and_report_sections():
    attempts = pd.DataFrame(
        {
            "env": ["GraspBench/NovelSingle-v0"] * 5,
            "agent": ["heuristic", "heuristic", "heuristic", "random", "random"],
            "outcome": ["success", "slipped", "success", "no_contact", "sim_error"],
            "success": [True, False, True, False, False],
            "collision": [False] * 5,
            "object_name": ["novel/mug_00", "novel/mug_01", "novel/ring_02", "novel/mug_00", "novel/mug_00"],
        }
    )
    table = family_table(attempts)
    mug = table[(table["agent"] == "heuristic") & (table["family"] == "mug")].iloc[0]
    assert mug["attempts"] == 2 and mug["gsr"] == 0.5 and mug["slip_rate"] == 0.5
    assert len(table[table["agent"] == "random"]) == 1  # the simulation error is not an attempt
    text = "\n".join(family_markdown(table))
    assert "| heuristic | 50 (2) | 100 (1) | 33.3% |" in text
    assert family_table(attempts.drop(columns="object_name")).empty
    summary = pd.DataFrame(
        {"agent": ["heuristic"], "env": ["GraspBench/NovelSingle-v0"], "gsr": [0.7], "removal_rate": [0.9]}
    )
    reference = pd.DataFrame(
        {"agent": ["heuristic"], "env": ["GraspBench/Single-v0"], "gsr": [0.95], "removal_rate": [1.0]}
    )
    assert "| heuristic | 95.0 (100) | 70.0 (90) |" in "\n".join(beside_default_markdown(summary, reference, "ref"))
    assert [verdict for _, _, verdict in novel_bars(table)] == ["not measured"] * 3  # no learned agent here


def test_support_graph_on_a_plate(table_scene, box):
    """Hand-built: an object on a plate rests on it; the plate carries it, so it is not top-level;
    a second plate with nothing on it is."""
    plate_model = next(p for p in plate_models() if p.extents_m[1] > 0.06)
    length, width, height = plate_model.extents_m
    plate = table_scene.add(plate_model, [0, 0, height / 2], [0, 0, 0, 1])
    top = table_scene.add(box([0.03, 0.03, 0.04], "top"), [0.01, 0, height + 0.021], [0, 0, 0, 1])
    empty = table_scene.add(plate_models()[0], [0, 0.1, plate_models()[0].extents_m[2] / 2], [0, 0, 0, 1])
    table_scene.settle()
    graph = table_scene.support_graph()
    assert graph.rests_on == {plate: [], top: [plate], empty: []}
    assert graph.top_level == {plate: False, top: True, empty: True}
    assert graph.level[top] == 1 and graph.level[plate] == 0


def test_plates_are_flat_and_graspable_across_their_short_side_only():
    open_hand_m = 0.075  # what the 8 cm hand passes around, fingers' margin taken off
    for length, width, height in (p.extents_m for p in plate_models()):
        assert 0.12 <= length <= 0.16 and 0.05 <= width <= 0.065 and 0.02 <= height <= 0.04
        assert length > open_hand_m > width > height


def test_plates_scenes_carry_the_objects_on_visible_plates(world):
    """Most objects rest on a plate; the plates are on the table, carry something and are not top-level."""
    models = load_object_set("random_urdfs", "test", scale=0.6)
    on_plate = placed = 0
    for seed in range(4):
        world.reset()
        rng = np.random.default_rng(seed)
        scene = build_scene(world, "plates", [models[i] for i in rng.choice(len(models), 4, replace=False)], rng, 0.3)
        graph = scene.support_graph()
        plates = [b for b, m in scene.objects.items() if m.name.startswith("plates/")]
        assert len(plates) == 2
        for b in plates:
            assert graph.level[b] == 0
        others = [b for b in scene.bodies if b not in plates]
        placed += len(others)
        on_plate += sum(bool(set(graph.rests_on[b]) & set(plates)) for b in others)
        assert sum(not graph.top_level[b] for b in plates) >= 1
    assert placed >= 12 and on_plate >= 0.75 * placed


def test_priority_stacks_says_an_attempt_at_a_loaded_plate_is_not_top_level():
    from graspbench.grasp import Grasp

    env = graspbench.make_env("GraspBench/PriorityStacks-v0")
    observation, info = env.reset(seed=0)
    graph = env.scene.support_graph()
    plate = next(b for b, m in env.scene.objects.items() if m.name.startswith("plates/") and not graph.top_level[b])
    v, u = np.argwhere(env._frame.segmentation == plate)[0]
    observation, reward, terminated, truncated, info = env.step_grasp(Grasp(float(u), float(v), 0.0, 10.0))
    assert info["target_id"] == plate and info["top_level"] is False and info["level"] == 0
    assert info["object_name"].startswith("plates/")
    env.close()


def test_novel_suite_report_has_families_and_the_default_beside(tmp_path, monkeypatch):
    from graspbench.bench import report

    envs, _, agents = report.SUITES["novel"]
    monkeypatch.setitem(report.SUITES, "novel", (envs, 1, agents))
    summary, bar_rows, _ = report.benchmark(
        "novel", str(tmp_path), executor="serial", agents=["heuristic"], progress=False
    )
    assert set(summary["env"]) == set(envs)
    text = (tmp_path / "report.md").read_text()
    assert "## By object family" in text and "## Beside the default suite" in text and "| heuristic |" in text
    assert (tmp_path / "families.csv").is_file()
    assert [bar for bar, _, _ in bar_rows][0].startswith("every novel family")
