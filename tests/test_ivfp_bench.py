"""IVFP agents in the benchmark: units per hour, picks with verification in the loop, which agents
are ready, a tiny BinPick benchmark end to end."""

import shutil
import time

import numpy as np
import pandas as pd
import pytest
import yaml

import graspbench.bench.catalogue as agents_module
from graspbench.bench import report
from graspbench.bench.catalogue import agent_names, make_agent
from graspbench.bench.metrics import Rate, summarize_picks
from graspbench.bench.runner import run_episodes
from graspbench.bench.summary import leaderboard, summary_table
from graspbench.envs.spec import ENVS_DIR
from graspbench.grasp import Grasp

IVFP_AGENTS = ["centroid", "random-mask", "clear-grasp", "il", "il-free", "il-vitl", "rl20", "rl50", "rl-free20"]


@pytest.fixture(scope="module")
def tiny_bin(tmp_path_factory):
    """BinPick-v0 with 5 objects in the bin instead of 14: the same picks, cheaper bins."""
    spec = yaml.safe_load((ENVS_DIR / "binpick.yaml").read_text())
    spec["id"] = "GraspBench/TinyBinPick-v0"
    spec["scene"]["object_count"] = [5, 5]
    spec["pick"]["min_objects"] = 2
    path = tmp_path_factory.mktemp("env") / "tiny_binpick.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


@pytest.fixture
def agents_dir(tmp_path, monkeypatch):
    """The shipped IVFP agent specs in a folder of their own, without any weights."""
    folder = tmp_path / "agents"
    folder.mkdir()
    for name in IVFP_AGENTS:
        shutil.copy(agents_module.AGENTS_DIR / f"{name}.yaml", folder)
    monkeypatch.setattr(agents_module, "AGENTS_DIR", folder)
    return folder


def _picks(episode, successes, sim_time_s, planning_ms):
    return pd.DataFrame(
        {
            "env": "GraspBench/BinPick-v0",
            "split": "train",
            "agent": "a",
            "seed": 0,
            "episode": episode,
            "outcome": ["success" if s else "fail_not_picked" for s in successes],
            "success": successes,
            "sim_time_s": sim_time_s,
            "planning_ms": planning_ms,
            "probes": 1,
            "retries": 0,
        }
    )


def test_units_per_hour_on_hand_computed_records():
    # Episode 0: a success and a failure, 10 + 1 and 5 + 0 seconds; episode 1: a success in 8 s.
    records = pd.concat([_picks(0, [True, False], [10.0, 5.0], [1000.0, 0.0]), _picks(1, [True], [8.0], [0.0])])
    s = summarize_picks(records)
    assert s["uph"].value == pytest.approx(3600 * 2 / 24)
    # Two episodes resampled: both episode 0 (2 successes in 32 s), both episode 1 (in 16 s), or one each.
    assert s["uph"].interval == pytest.approx((3600 * 2 / 32, 3600 * 2 / 16))
    assert s["sr"] == Rate(2, 3) and s["seconds_per_pick"] == pytest.approx(8.0)
    row = summary_table(records).iloc[0]
    assert row["uph"] == pytest.approx(300) and row["sr"] == pytest.approx(2 / 3, abs=1e-4)
    assert (row["uph_ci_low"], row["uph_ci_high"]) == pytest.approx((225, 450))
    # One episode has no interval: a bootstrap would only repeat it.
    assert np.isnan(summarize_picks(_picks(0, [True], [8.0], [0.0]))["uph"].interval).all()


def test_clutter_summaries_keep_their_columns():
    attempts = pd.DataFrame(
        {
            "env": "GraspBench/Single-v0",
            "agent": "a",
            "seed": 0,
            "episode": [0, 0, 1],
            "outcome": ["success", "collision", "success"],
            "success": [True, False, True],
            "collision": [False, True, False],
            "removed": [1, 0, 1],
            "objects_at_start": 1,
            "planning_ms": 1.0,
            "top_level": None,
        }
    )
    assert "split" not in summary_table(attempts)
    assert report.SUITES["default"] == (report.ENVS, 20, None)


class ScriptedVerifier:
    """A ViTL-style agent: rejects its first probed grasp, then extracts; planning and judging
    take known times."""

    name = "scripted-vitl"
    planning_s = 0.05
    verify_s = 0.03

    def __init__(self):
        self.infos, self.verified = [], 0

    def reset(self, seed):
        pass

    def act(self, observation, info):
        raise AssertionError("an agent with pick() is given the environment, not asked for one grasp")

    def verify(self, probe_rgb):
        time.sleep(self.verify_s)
        self.verified += 1
        return self.verified > 1

    def pick(self, env, observation, info):
        time.sleep(self.planning_s)
        rows, cols = np.nonzero(observation["target_mask"])
        for attempt in range(3):
            k = len(rows) * attempt // 3  # a different pixel of the target each time
            u, v = float(cols[k]), float(rows[k])
            observation, _, terminated, _, info = env.step_grasp(
                Grasp(u, v, 0.0, env.width_to_opening_px(0.05, u, v)), verify=self.verify
            )
            self.infos.append(info)
            if terminated:
                break
            rows, cols = np.nonzero(observation["target_mask"])


def test_an_agent_with_pick_is_given_the_environment_and_pays_for_its_retries(tiny_bin):
    agent = ScriptedVerifier()
    record = run_episodes(tiny_bin, agent, 1, seed=3, progress=False, picks_per_trial=1).iloc[0]
    assert len(agent.infos) >= 2, "the scripted agent should have retried on this bin"
    assert record["retries"] == len(agent.infos) - 1
    assert record["probes"] == sum(info["probed"] for info in agent.infos) == agent.verified
    assert record["sim_time_s"] == pytest.approx(sum(info["sim_time_s"] for info in agent.infos), abs=1e-3)
    motions = [f"{m}_s" for m in agent.infos[0]["motion_s"]]
    assert record[motions].sum() == pytest.approx(record["sim_time_s"], abs=1e-3)
    assert record["outcome"] == agent.infos[-1]["outcome"]
    # The classifier's time is the agent's, though the environment calls it.
    assert record["planning_ms"] >= 1000 * (agent.planning_s + agent.verify_s * agent.verified)


def test_an_agent_that_steps_the_environment_behind_the_runners_back_fails(tiny_bin):
    class Sneaky(ScriptedVerifier):
        def pick(self, env, observation, info):
            rows, cols = np.nonzero(observation["target_mask"])
            env.env.step_grasp(Grasp(float(cols[0]), float(rows[0]), 0.0, 40.0))

    with pytest.raises(RuntimeError, match="only through the env it is given"):
        run_episodes(tiny_bin, Sneaky(), 1, seed=3, progress=False, picks_per_trial=1)


def test_ivfp_agents_without_weights_are_not_ready(agents_dir):
    assert set(agent_names(task="target_picking")) == set(IVFP_AGENTS)
    assert agent_names(ready_only=True) == ["centroid", "clear-grasp", "random-mask"]
    weights = agents_dir / "weights"
    weights.mkdir()
    (weights / "ivfp-il.pt").write_bytes(b"not yet a checkpoint")
    # IL+ViTL needs its classifier too.
    assert agent_names(ready_only=True) == ["centroid", "clear-grasp", "il-free", "il", "random-mask"]
    (weights / "ivfp-classifier.pt").write_bytes(b"not yet a checkpoint")
    assert "il-vitl" in agent_names(ready_only=True)
    assert agent_names(task="clutter_removal") == []
    with pytest.raises(ValueError, match="ivfp-rl50.pt does not exist"):
        make_agent("rl50")


def test_the_il_agent_once_its_weights_exist_grasps_each_target_once(tiny_bin, agents_dir):
    import torch

    from graspbench.envs.spec import PickSpec
    from graspbench.io import save_checkpoint
    from graspbench.ivfp.policy import GraspPolicy, policy_payload

    torch.manual_seed(0)  # an untrained policy: what it picks does not matter here, only how it is run
    policy = GraspPolicy(PickSpec().widths_m, base_channels=8, fpn_channels=8, width_embedding=4)
    save_checkpoint(agents_dir / "weights" / "ivfp-il.pt", policy_payload(policy))
    assert "il" in agent_names(ready_only=True)
    records = run_episodes(tiny_bin, make_agent("il"), 1, seed=3, progress=False, picks_per_trial=2)
    assert records["agent"].tolist() == ["il", "il"] and (records["retries"] == 0).all()
    assert (records["probes"] <= 1).all() and (records["sim_time_s"] > 0).all()


def _target_with_a_neighbour():
    """A 3 x 6 cm target, 4 cm high, seen from 50 cm above (1.5 mm per pixel); a neighbour as high
    stands 6 mm to its right along its upper half. Its centre has no room for the right finger
    at any width that spans it; its lower half has. Returns (camera, observation, info)."""
    from graspbench.sim.camera import Camera

    camera = Camera.top_down(200, 200, height_m=0.5, field_m=0.3)
    heights = np.zeros((200, 200))
    heights[80:120, 90:110] = 0.04  # rows v, columns u
    heights[80:100, 114:140] = 0.04
    mask = np.zeros((200, 200), bool)
    mask[80:120, 90:110] = True
    depth = 0.5 - heights
    assert np.allclose(camera.heights_m(depth), heights, atol=1e-6)
    observation = {"depth": depth, "target_mask": mask, "rgb": np.zeros((200, 200, 3), np.uint8)}
    info = {
        "intrinsics": camera.intrinsics,
        "extrinsics": camera.extrinsics,
        "grasp_depth_m": 0.01,
        "fingertip_clearance_m": 0.003,
    }
    return camera, observation, info


def test_the_clear_grasp_agent_aims_where_both_fingers_have_room():
    from graspbench.agents.picking import ClearGraspAgent

    camera, observation, info = _target_with_a_neighbour()
    depth, mask = observation["depth"], observation["target_mask"]
    grasp = ClearGraspAgent().act(observation, info)
    assert 100 <= grasp.v < 120 and 90 <= grasp.u < 110 and grasp.angle_rad == 0.0
    width_m = grasp.opening_px * float(camera.metres_per_pixel(depth[int(grasp.v), int(grasp.u)]))
    assert width_m == pytest.approx(0.04)  # the narrowest that spans 3 cm with 5 mm a side
    # Without the neighbour the deepest point is the middle.
    observation["depth"] = 0.5 - np.where(mask, 0.04, 0.0)
    assert ClearGraspAgent().act(observation, info).v == pytest.approx(99.0, abs=1)


def test_a_policy_acting_on_free_space_samples_only_clear_grasps(tmp_path):
    import torch

    from graspbench.clearance import clear_for_widths
    from graspbench.envs.spec import PickSpec
    from graspbench.io import save_checkpoint
    from graspbench.ivfp.agents import PolicyAgent
    from graspbench.ivfp.policy import GraspPolicy, load_policy, policy_payload

    camera, observation, info = _target_with_a_neighbour()
    torch.manual_seed(0)  # untrained: free to put its mass anywhere on the target
    widths_m = PickSpec().widths_m
    save_checkpoint(
        tmp_path / "policy.pt",
        policy_payload(GraspPolicy(widths_m, base_channels=8, fpn_channels=8, width_embedding=4)),
    )
    px_m = float(camera.metres_per_pixel(0.46))
    clear = clear_for_widths(observation["depth"], camera, px_m, widths_m, info["grasp_depth_m"], 0.003)
    assert clear[:, 100:120, 90:110].any() and not clear[:, 80:96, 90:110].any()  # the scene is as described
    plain = PolicyAgent(str(tmp_path / "policy.pt"), sample=True)
    free = PolicyAgent(str(tmp_path / "policy.pt"), sample=True, free_space=True)
    plain_on_clear = []
    for seed in range(20):
        for agent in (plain, free):
            agent.reset(seed)
            grasp = agent.act(observation, info)
            width = int(np.argmin([abs(grasp.opening_px * px_m - w) for w in widths_m]))
            on_clear = bool(clear[width, int(grasp.v), int(grasp.u)])
            if agent is free:
                assert on_clear and observation["target_mask"][int(grasp.v), int(grasp.u)]
            else:
                plain_on_clear.append(on_clear)
    assert not all(plain_on_clear)  # without it, the same policy grasps where a finger has no room
    # A checkpoint keeps the setting: a REINFORCE run on free space hands it to its agents.
    free.policy.free_space = True
    save_checkpoint(tmp_path / "free.pt", policy_payload(free.policy))
    assert load_policy(tmp_path / "free.pt").free_space and not load_policy(tmp_path / "policy.pt").free_space
    with pytest.raises(ValueError, match="needs the environment's info"):
        free.policy.act(observation)


def test_an_agent_spec_with_an_unknown_task_names_the_field(agents_dir):
    (agents_dir / "bad.yaml").write_text("class: random\ntask: sorting\n")
    with pytest.raises(ValueError, match="bad.yaml: task 'sorting'.*'task' field"):
        make_agent("bad")


def test_the_ivfp_suite_is_every_ivfp_agent_on_seen_and_unseen_objects():
    envs, episodes, agents = report.SUITES["ivfp"]
    assert envs == [("GraspBench/BinPick-v1", "train"), ("GraspBench/BinPick-v1", "test")]
    assert agents == IVFP_AGENTS and episodes >= 10
    assert set(IVFP_AGENTS) <= set(agent_names(task="target_picking"))


def test_a_tiny_binpick_benchmark_end_to_end(tiny_bin, agents_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(report.SUITES, "tiny-ivfp", ([(tiny_bin, "train")], 2, ["centroid", "random-mask", "il"]))
    out = tmp_path / "bench"
    summary, bar_rows, comparison = report.benchmark(
        "tiny-ivfp", str(out), executor="serial", reference=None, picks_per_trial=2
    )
    assert "weights are missing" in capsys.readouterr().out  # il: left out, and said so
    attempts = pd.read_csv(out / "attempts.csv")
    assert len(attempts) == 2 * 2 * 2  # agents x trials x picks
    assert set(attempts["agent"]) == {"centroid", "random-mask"} and set(attempts["split"]) == {"train"}
    assert summary[["agent", "episodes", "attempts"]].values.tolist() == [["centroid", 2, 4], ["random-mask", 2, 4]]
    for _, row in summary.iterrows():
        picks = attempts[attempts["agent"] == row["agent"]]
        seconds = picks["sim_time_s"].sum() + picks["planning_ms"].sum() / 1000
        assert row["uph"] == pytest.approx(3600 * picks["success"].sum() / seconds, abs=1e-3)
        assert row["sr"] == pytest.approx(picks["success"].mean(), abs=1e-4)
    text = (out / "report.md").read_text()
    assert "seen objects (train split)" in text and "units per hour (UPH)" in text and "| centroid |" in text
    assert (out / "rates.png").is_file() and (out / "ctpg.png").is_file()
    assert not comparison and not bar_rows
    assert "SR" in leaderboard(summary)


def test_table1_puts_the_paper_beside_and_checks_the_bars_on_seen_objects():
    from graspbench.ivfp.table1 import bars, table_rows

    def row(agent, split, sr, uph):
        return {
            "agent": agent,
            "env": "GraspBench/BinPick-v0",
            "split": split,
            "attempts": 240,
            "sr": sr,
            "sr_ci_low": sr - 0.05,
            "sr_ci_high": sr + 0.05,
            "uph": uph,
            "uph_ci_low": uph - 5,
            "uph_ci_high": uph + 5,
            "collision_rate": 0.1,
            "probes_per_pick": 1.0,
            "ctpg_ms": 10.0,
        }

    summary = pd.DataFrame(
        [
            row("rl50", "train", 0.70, 60),
            row("il", "train", 0.55, 50),
            row("il", "test", 0.5, 45),
            row("il-vitl", "train", 0.60, 52),
            row("rl20", "train", 0.62, 55),
            row("centroid", "train", 0.40, 40),
        ]
    )
    table = table_rows(summary)
    # Methods in the paper's order, seen before unseen; the paper's numbers beside.
    assert list(zip(table["objects"], table["agent"])) == [
        ("seen", "centroid"),
        ("seen", "il"),
        ("seen", "il-vitl"),
        ("seen", "rl20"),
        ("seen", "rl50"),
        ("unseen", "il"),
    ]
    assert table.loc[table["agent"] == "rl50", "paper_sr"].item() == pytest.approx(73.33)
    assert table.loc[table["agent"] == "rl50", "sr"].item() == pytest.approx(70.0)
    verdicts = {bar: verdict for bar, _, verdict in bars(table)}
    assert verdicts["RL@50 SR >= IL SR + 10 points"] == "met"  # 70 vs 55
    assert verdicts["RL@20 SR between IL and RL@50"] == "met"
    assert verdicts["IL+ViTL: higher SR than IL, lower UPH"] == "MISSED"  # 52 UPH > 50
    assert verdicts["Centroid SR below IL"] == "met"
    assert verdicts["Random SR below IL"] == "not measured"


def test_table2_counts_picks_and_interventions_per_simulated_hour():
    from graspbench.ivfp.table2 import table_rows

    picks = pd.DataFrame(
        {
            "pipeline": ["full picks"] * 3 + ["IVFP"] * 2,
            "seconds": [1200.0, 1200.0, 1200.0, 900.0, 900.0],
            "intervention": [True, False, False, False, False],
            "outcome": ["fail_multipick", "success", "collision", "released", "released"],
        }
    )
    table = table_rows(picks, Rate(9, 10)).set_index("pipeline")
    assert table.loc["full picks", "picks_per_hour"] == pytest.approx(3.0)  # 3 picks in one simulated hour
    assert table.loc["full picks", "interventions_per_hour"] == pytest.approx(1.0)
    assert table.loc["full picks", "label_accuracy"] == 1.0  # full picks are labelled by their outcome
    assert table.loc["IVFP", "picks_per_hour"] == pytest.approx(4.0)
    assert table.loc["IVFP", "label_accuracy"] == pytest.approx(0.9)
