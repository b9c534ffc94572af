"""``graspbench analyze``: failure causes on hand-built scenes, the analysis of real records, bad records."""

import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from graspbench import Grasp, make_env
from graspbench.agents import RandomAgent
from graspbench.bench.analyze import CAUSES, analyze, cause_of, finger_rectangles, select_failures
from graspbench.bench.runner import run_episodes
from graspbench.cli import main
from graspbench.outcomes import NO_OBJECT
from graspbench.sim.gripper import Gripper
from graspbench.sim.scenes import SceneRecord, rebuild_scene

BOX_M = 0.04


@pytest.fixture(scope="module")
def env():
    env = make_env("GraspBench/Single-v0")
    env.reset(seed=0)
    yield env
    env.close()


def on_table(env, boxes):
    """Replace the env's scene by boxes (ObjectModel, x) standing upright on y = 0, settled and observed."""
    record = SceneRecord(
        "single",
        tuple(model for model, _ in boxes),
        np.array([[x, 0.0, model.extents_m[2] / 2] for model, x in boxes]),
        np.tile([0.0, 0.0, 0.0, 1.0], (len(boxes), 1)),
    )
    env.world.reset()
    env.scene = rebuild_scene(env.world, record, env.bench_spec.scene.workspace_m)
    env.gripper = Gripper(env.world, env.bench_spec.gripper)
    env.scene.settle()
    env._frame = env._render_frame()  # what the next grasp is planned on


def grasp_at(env, x, top_z, yaw=0.0, opening_m=0.07, depth_m=None):
    """The image grasp of a top-down grasp centred at (x, 0) on a surface at height top_z."""
    u, v, surface_depth = env.camera.world_to_pixel([x, 0.0, top_z])
    # The camera looks straight down with u along +x and v along -y: image angles are world yaws.
    return Grasp(float(u), float(v), yaw, opening_m / float(env.camera.metres_per_pixel(surface_depth)), depth_m)


def attempt(env, grasp):
    """Execute ``grasp``; the record's outcome, on_object and first_contact, and its cause."""
    _, _, _, _, info = env.step_grasp(grasp)
    row = {
        "outcome": info["outcome"],
        "on_object": info["target_id"] != NO_OBJECT,
        "first_contact": ";".join(f"{part}:{what}" for part, what in info["first_contacts"]),
    }
    return row, cause_of(**row)


def test_a_box_between_the_fingers_is_a_success(env, box):
    on_table(env, [(box([BOX_M] * 3), 0.0)])
    row, cause = attempt(env, grasp_at(env, 0.0, BOX_M))
    assert row["outcome"] == "success" and cause is None


def test_a_finger_coming_down_on_the_box_is_a_collision_on_the_target(env, box):
    on_table(env, [(box([BOX_M] * 3), 0.0)])
    # Centred 1 cm right of the box's middle, 5 cm open: the left finger (-2.7 to -1.5 cm) lands on
    # the box's top, the right one (3.5 to 4.7 cm) beside it.
    row, cause = attempt(env, grasp_at(env, 0.01, BOX_M, opening_m=0.05))
    assert row == {"outcome": "collision", "on_object": True, "first_contact": "finger_left:target"}
    assert cause == "collision: finger on target"


def test_a_finger_on_the_neighbour_is_a_collision_on_the_neighbour(env, box):
    on_table(env, [(box([BOX_M] * 3, "target"), 0.0), (box([BOX_M] * 3, "neighbour"), 0.045)])
    grasp = grasp_at(env, 0.0, BOX_M)
    row, cause = attempt(env, grasp)
    assert row == {"outcome": "collision", "on_object": True, "first_contact": "finger_right:neighbour"}
    assert cause == "collision: finger on neighbour"
    # The gallery draws finger_right on the side of +x (the neighbour's), as the gripper has it.
    feet = finger_rectangles(grasp, float(env.camera.metres_per_pixel(0.5 - BOX_M)), 0.08)
    neighbour_u = env.camera.world_to_pixel([0.045, 0.0, BOX_M])[0]
    assert abs(feet["finger_right"].u - neighbour_u) < abs(feet["finger_left"].u - neighbour_u)


def test_grasps_closing_on_air_are_off_objects_or_closed_on_nothing(env, box):
    on_table(env, [(box([BOX_M] * 3), 0.0)])
    row, cause = attempt(env, grasp_at(env, 0.1, 0.0))  # empty table
    assert row["outcome"] == "no_contact" and not row["on_object"] and cause == "aimed off objects"
    # Aimed at the box but stopping 3 cm above it.
    row, cause = attempt(env, grasp_at(env, 0.0, BOX_M, depth_m=0.5 - BOX_M - 0.03))
    assert row["outcome"] == "no_contact" and row["on_object"] and cause == "closed on nothing"


@pytest.mark.parametrize(
    "outcome, on_object, first_contact, cause",
    [
        ("collision", True, "finger_left:target;finger_right:neighbour", "collision: finger on neighbour"),
        ("collision", True, "finger_left:target;palm:target", "collision: palm on an object"),
        ("collision", True, "finger_right:table", "collision: table/obstacle"),
        ("collision", True, float("nan"), "collision: contact not recorded"),
        ("collision", False, "finger_left:neighbour", "aimed off objects"),
        ("sim_error", False, "", "simulation error"),
        ("slipped", True, "", "slipped"),
        ("multi_pick", True, "", "multi-pick"),
    ],
)
def test_the_most_informative_contact_decides(outcome, on_object, first_contact, cause):
    assert cause_of(outcome, on_object, first_contact) == cause


def test_failures_are_chosen_evenly_over_agents_and_causes():
    outcomes = ["collision"] * 6 + ["slipped"] * 4 + ["success"] * 3 + ["collision", "no_contact"]
    records = pd.DataFrame(
        {
            "env": "E",
            "agent": ["a"] * 13 + ["b"] * 2,
            "outcome": outcomes,
            "on_object": True,
            "first_contact": "finger_left:target",
            "success": [o == "success" for o in outcomes],
        }
    )
    chosen = select_failures(records, 4)
    assert list(records.loc[chosen, "agent"]) == ["a", "b", "a", "b"]
    assert set(records.loc[chosen[::2], "outcome"]) == {"collision", "slipped"}
    assert select_failures(records, 3) == chosen[:3] and len(select_failures(records, 100)) == 12


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Two episodes of the random agent on piles of two blocks (seed 2: collisions, a slip, a no-contact)."""
    folder = tmp_path_factory.mktemp("records")
    spec = folder / "tiny.yaml"
    spec.write_text(
        "id: GraspBench/TinyAnalyze-v0\nscene: {kind: pile, objects: blocks, object_count: [2, 2]}\n"
        "protocol: {max_consecutive_failures: 3, max_attempts: 6}\n"
    )
    path = folder / "attempts.csv"
    run_episodes(str(spec), RandomAgent(), 2, seed=2, progress=False).to_csv(path, index=False)
    return path


def test_analyze_breaks_down_measures_and_draws_the_failures(records):
    analysis = analyze(records, label=3, gallery=4, progress=False)
    out = records.parent / "analysis"
    assert analysis.out_dir == out
    attempts = pd.read_csv(records)
    failures = int((~attempts["success"]).sum())
    assert failures >= 3

    causes = pd.read_csv(out / "causes.csv")
    assert set(causes["cause"]) == set(CAUSES)
    assert causes["count"].sum() == failures == causes["failures"].iloc[0]
    assert causes["share"].sum() == pytest.approx(1.0, abs=1e-3)

    analysed = pd.read_csv(out / "failures.csv")
    assert len(analysed) == 3 and (analysed["replay"] == "ok").all() and analysed["verified_found"].all()
    for column in ("centre_offset_mm", "angle_error_deg", "opening_error_mm", "height_error_mm"):
        assert np.isfinite(analysed[column]).all(), column
    assert ((analysed["angle_error_deg"] >= 0) & (analysed["angle_error_deg"] <= 90)).all()
    assert (analysed["trials"] <= analysed["candidates"]).all()
    assert set(analysed["cause"]) <= set(CAUSES)

    assert (out / "gallery.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "gallery.png" in report and "| random |" in report


def test_the_command_prints_the_cause_table(records, tmp_path):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["analyze", str(records), "--out", str(tmp_path), "--label", "0", "--gallery", "0", "--quiet"]) == 0
    text = printed.getvalue()
    assert "causes (share of the failures)" in text and "random" in text
    assert (tmp_path / "causes.csv").exists() and not (tmp_path / "gallery.png").exists()


def test_records_without_the_grasp_columns_are_named(tmp_path, capsys):
    old = tmp_path / "old.csv"
    old.write_text(
        "env,agent,seed,episode,attempt,outcome,success,collision,multi_pick,removed,objects_left,"
        "objects_at_start,level,top_level,planning_ms,sim_time_s\n"
        "GraspBench/Single-v0,ggcnn,0,0,1,success,True,False,False,1,0,1,,,51.95,0.9167\n"
    )
    with pytest.raises(ValueError, match=f"{old}.*older graspbench"):
        analyze(old, progress=False)
    assert main(["analyze", str(old), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and str(old) in error and "run the agents again" in error
