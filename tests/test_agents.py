"""Agents from YAML specs: the shipped ones, a trained network, and a user's own planner."""

import numpy as np
import pytest

from graspbench.bench.catalogue import agent_names, make_agent
from graspbench.bench.runner import run_episodes
from graspbench.grasp import Grasp


class CentrePlanner:
    """A user's planner: always the image centre, a fixed angle. Defined here, loaded by class path."""

    def __init__(self, angle_rad: float = 0.0, name: str = "centre"):
        self.angle_rad, self.name = angle_rad, name
        self.resets = 0

    def reset(self, seed):
        self.resets += 1

    def act(self, observation, info):
        height, width = observation["depth"].shape
        return Grasp((width - 1) / 2, (height - 1) / 2, self.angle_rad, opening_px=60)


def test_shipped_agents_load():
    assert {"random", "heuristic"} <= set(agent_names())
    assert make_agent("heuristic").name == "heuristic"


def test_a_users_planner_named_by_class_path_runs_in_the_benchmark(tmp_path):
    spec = tmp_path / "centre.yaml"
    spec.write_text("class: test_agents:CentrePlanner\nangle_rad: 0.5\n")
    agent = make_agent(str(spec))
    assert agent.name == "centre" and agent.angle_rad == 0.5
    attempts = run_episodes("GraspBench/Single-v0", agent, episodes=2, seed=0, progress=False)
    assert agent.resets == 2 and len(attempts) >= 2 and set(attempts["agent"]) == {"centre"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("angle_rad: 1\n", "needs a 'class'"),
        ("class: nowhere.module:Planner\n", "cannot be imported"),
        ("class: test_agents:CentrePlanner\nspeed: 3\n", "unexpected keyword"),
        ("class: teleport\n", "is not one of"),
    ],
)
def test_bad_agent_specs_say_what_is_wrong(tmp_path, text, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    with pytest.raises(ValueError, match=message):
        make_agent(str(spec))
    with pytest.raises(ValueError, match="neither a shipped agent"):
        make_agent("no-such-agent")


def test_a_trained_network_agent_plans_on_an_environment_observation(tmp_path):
    from test_dataset import SCENE0_LABELS, _scene, _write_dataset

    from graspbench.envs import make_env
    from graspbench.planners.train import TrainArgs, train

    data = tmp_path / "data"
    _write_dataset(data, {i: _scene(i, SCENE0_LABELS, [(15, 26, 25, 36, 0.05)]) for i in range(3)})
    train(
        TrainArgs(
            model="gpnet",
            loss="priority",
            data=str(data),
            out=str(tmp_path / "run"),
            epochs=1,
            batch_size=2,
            crop_px=32,
            progress=False,
        )
    )
    spec = tmp_path / "gpnet.yaml"
    spec.write_text("class: network\ncheckpoint: run/best.pt\npostprocess: {smoothing_sigma_px: 1.0}\n")
    agent = make_agent(str(spec))
    env = make_env("GraspBench/Single-v0")
    observation, info = env.reset(seed=0)
    grasp = agent.act(observation, info)
    env.close()
    assert agent.settings.smoothing_sigma_px == 1.0
    assert 0 <= grasp.u < 224 and 0 <= grasp.v < 224 and -np.pi / 2 <= grasp.angle_rad < np.pi / 2


def test_a_network_agent_run_as_its_paper_runs_it():
    agent = make_agent("ggcnn2@papers")
    assert agent.name == "ggcnn2@papers" and not agent.check_clearance and agent.max_grasp_depth_m is None
    assert "ggcnn2@papers" in agent_names(papers=True) and "heuristic@papers" not in agent_names(papers=True)
    with pytest.raises(ValueError, match="only network agents"):
        make_agent("heuristic@papers")
