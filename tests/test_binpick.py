"""BinPick-v0: pick outcomes, the probe and its film on hand-built bins; the demonstrator's collection."""

import gymnasium as gym
import numpy as np
import pytest

import graspbench  # noqa: F401  (registers)
from graspbench.envs import BinPickEnv
from graspbench.grasp import Grasp
from graspbench.ivfp.demonstrator import DemonstratorSettings, collect, demonstrate
from graspbench.ivfp.picks import load_picks, read_index
from graspbench.sim.scenes import SceneRecord


def hand_built(env, boxes, target_index=0):
    """A bin holding ``boxes`` = [(model, x, y)], each resting on the floor."""
    record = SceneRecord(
        "bin",
        tuple(m for m, _, _ in boxes),
        np.array([[x, y, m.extents_m[2] / 2 + 0.001] for m, x, y in boxes]),
        np.array([[0, 0, 0, 1.0]] * len(boxes)),
    )
    return env.set_bin(record, target_index)


def grasp_at(env, x, y, width_m):
    u, v, _ = env.camera.world_to_pixel([x, y, 0.0])
    return Grasp(float(u), float(v), 0.0, env.width_to_opening_px(width_m, float(u), float(v)))


@pytest.fixture(scope="module")
def env():
    e = BinPickEnv("envs/binpick.yaml")
    e.reset(seed=0)
    yield e
    e.close()


def test_a_lone_target_is_extracted_and_its_probe_filmed(env, box):
    hand_built(env, [(box([0.04, 0.04, 0.04]), 0.0, 0.0), (box([0.04, 0.04, 0.03], "other"), 0.0, 0.06)])
    _, reward, terminated, _, info = env.step_grasp(grasp_at(env, 0.0, 0.0, 0.06))
    assert info["outcome"] == "success" and reward == 1.0 and terminated
    assert info["extracted_ids"] == [info["target_id"]] and info["objects_left"] == 1
    T = len(info["frame_times_s"])
    assert T == 17 and info["probe_rgb"].shape == (T, 64, 64, 3) and info["probe_depth_m"].shape == (T, 64, 64)
    assert info["motion_s"]["probe"] == pytest.approx(2.0, abs=0.01)
    # The held box stays still in the wrist camera's view while the bin falls away: the film changes.
    assert np.abs(info["probe_rgb"][8].astype(int) - info["probe_rgb"][0]).mean() > 1.0


def test_two_boxes_wedged_between_the_fingers_come_up_together(env, box):
    hand_built(env, [(box([0.03, 0.04, 0.04]), -0.0151, 0.0), (box([0.03, 0.04, 0.04], "other"), 0.0151, 0.0)])
    _, reward, _, _, info = env.step_grasp(grasp_at(env, 0.0, 0.0, 0.08))
    assert info["outcome"] == "fail_multipick" and reward == 0.0
    assert len(info["extracted_ids"]) == 2


def test_an_empty_grasp_leaves_the_target(env, box):
    hand_built(env, [(box([0.04, 0.04, 0.04]), 0.04, 0.04)])
    _, reward, _, _, info = env.step_grasp(grasp_at(env, -0.04, -0.04, 0.05))
    assert info["outcome"] == "fail_not_picked" and info["probed"] and info["objects_left"] == 1


def test_the_probe_is_reversible_and_its_film_deterministic(box):
    films = []
    for _ in range(2):
        env = BinPickEnv("envs/binpick.yaml", pick={"after_probe": "release"})
        boxes = [(box([0.04, 0.04, 0.04]), 0.0, 0.0)] + [
            (box([0.03, 0.03, 0.05], f"n{k}"), x, y)
            for k, (x, y) in enumerate([(0.0, 0.05), (0.065, 0.0), (-0.065, 0.0)])
        ]
        hand_built(env, boxes)
        _, _, _, _, info = env.step_grasp(grasp_at(env, 0.0, 0.0, 0.06))
        assert info["probed"] and info["others_moved_m"] < 0.01
        films.append(info["probe_rgb"])
        env.close()
    assert np.array_equal(*films)


def test_the_bin_carries_on_and_vector_envs_autoreset(box):
    env = BinPickEnv("envs/binpick.yaml")
    _, info = env.reset(seed=3)
    count = info["objects_left"]
    assert info["new_bin"] and count >= env.bench_spec.pick.min_objects
    _, info = env.reset()
    assert not info["new_bin"] and info["objects_left"] == count
    env.close()
    envs = gym.make_vec(
        "GraspBench/BinPick-v0",
        num_envs=2,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    observations, _ = envs.reset(seed=0)
    assert observations["target_mask"].shape == (2, 224, 224) and observations["target_mask"].any(axis=(1, 2)).all()
    observations, rewards, terminated, _, infos = envs.step(envs.action_space.sample())
    assert terminated.all() and observations["target_mask"].any(axis=(1, 2)).all()  # the next target, same step
    envs.close()


def test_the_clear_aiming_demonstrator_grasps_where_both_fingers_have_room(env, box):
    # A 3 x 6 cm target; a neighbour as high stands 2 mm beside the upper half of its long side,
    # where a finger grasping the target's middle would come down on it (a lone box is brushed
    # aside, so only the aim is checked, and that the pick succeeds).
    boxes = [(box([0.03, 0.06, 0.04]), 0.0, 0.0), (box([0.03, 0.03, 0.04], "other"), 0.032, 0.015)]
    observation = hand_built(env, boxes)[0]
    exact = DemonstratorSettings(aim="clear", careless_rate=0.0, spread_m=0.0)
    grasp = demonstrate(env, observation, np.random.default_rng(0), exact)
    x, y, _ = env.camera.pixel_to_world(grasp.u, grasp.v, observation["depth"][int(grasp.v), int(grasp.u)])
    assert y < -0.005 and abs(x) < 0.005  # beside the neighbour's free end, across the target's middle
    _, _, _, _, info = env.step_grasp(grasp)
    assert info["outcome"] == "success"


def test_collect_writes_whole_bins_and_resumes(tmp_path):
    out = tmp_path / "picks"
    summary = collect("GraspBench/BinPick-v0", bins=1, out=out, picks_per_bin=2, executor="serial", progress=False)
    assert summary["picks"] == 2 and summary["made_now"] == 2
    again = collect("GraspBench/BinPick-v0", bins=1, out=out, picks_per_bin=2, executor="serial", progress=False)
    assert again["made_now"] == 0 and read_index(out)["picks"].sum() == 2
    picks = load_picks(out, keys=("outcome", "probe_rgb"), probed_only=False)
    assert set(picks["outcome"]) <= {"success", "fail_multipick", "fail_not_picked", "collision"}
    assert picks["probe_rgb"].shape[1:] == (17, 64, 64, 3)
    with pytest.raises(ValueError, match="resume it with the same settings"):
        collect(
            "GraspBench/BinPick-v0",
            bins=2,
            out=out,
            picks_per_bin=2,
            executor="serial",
            progress=False,
            settings=DemonstratorSettings(aim="clear"),
        )
