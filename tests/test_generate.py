"""Dataset generation: the store, resume, labels against the images and the simulator, executors."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from graspbench.data.generate import generate_dataset, priority_map, stored_record, try_grasp
from graspbench.data.store import read_metadata, read_scene
from graspbench.envs import load_spec
from graspbench.sim.scenes import SupportGraph
from graspbench.sim.world import World

SPEC = """id: GraspBench/TinyPile-v0
scene: {kind: pile, objects: random_urdfs, object_scale: 0.6, object_count: [2, 2]}
"""


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    path.write_text(SPEC)
    return str(path)


@pytest.fixture(scope="module")
def dataset(spec_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "tiny"
    generate_dataset(spec_file, 3, out, seed=5, executor="serial", progress=False)
    return out


def test_store_round_trip(dataset, spec_file):
    metadata = read_metadata(dataset)
    assert metadata["seed"] == 5 and metadata["scenes"] == 3 and metadata["spec"]["scene"]["split"] == "train"
    index = pd.read_csv(dataset / "index.csv")
    assert list(index["scene"]) == [0, 1, 2]
    for row in index.itertuples():
        scene = read_scene(dataset, row.scene)
        assert scene["rgb"].shape == (224, 224, 3) and scene["depth"].dtype == np.float32
        assert len(scene["object_names"]) == row.objects == 2
        assert len(scene["label_u"]) == row.candidates and scene["label_success"].sum() == row.successes
        assert set(scene["label_outcome"]) <= {"success", "collision", "no_contact", "slipped", "multi_pick"}
        assert not np.array_equal(scene["depth"], scene["depth_noisy"])
    assert index["successes"].sum() >= 2 * index["objects"].sum()  # the 2-labels-per-image experiments need it


def test_successful_labels_land_on_their_object(dataset):
    hits = total = 0
    for i in range(3):
        scene = read_scene(dataset, i)
        for k in np.nonzero(scene["label_success"])[0]:
            u, v = int(round(float(scene["label_u"][k]))), int(round(float(scene["label_v"][k])))
            # Within 4 px (5 mm): a grasp deep beside a thin object may centre on the table next to it.
            window = scene["segmentation"][max(v - 4, 0) : v + 5, max(u - 4, 0) : u + 5]
            hits += scene["label_object"][k] in window
            total += 1
    assert total > 0 and hits / total >= 0.9


def test_labels_replayed_in_the_simulator_give_the_stored_outcome(dataset):
    spec = load_spec(read_metadata(dataset)["spec"])
    scene = read_scene(dataset, 1)
    record = stored_record(spec, scene)
    world = World(solver_iterations=spec.solver_iterations)
    try:
        for k in range(len(scene["label_u"])):
            result = try_grasp(
                world,
                record,
                spec,
                scene["label_position_m"][k].astype(float),
                float(scene["label_yaw"][k]),
                float(scene["label_opening_m"][k]),
            )
            assert result.outcome.value == scene["label_outcome"][k]
    finally:
        world.close()


def test_resume_after_an_interruption_gives_the_same_index(dataset, spec_file, tmp_path):
    out = tmp_path / "resumed"
    generate_dataset(spec_file, 1, out, seed=5, executor="serial", progress=False)  # "interrupted" after one scene
    (out / "scenes" / ".000001.npz.half").write_bytes(b"a half-written temporary file")
    generate_dataset(spec_file, 3, out, seed=5, executor="serial", progress=False)
    assert (out / "index.csv").read_text() == (dataset / "index.csv").read_text()
    with pytest.raises(ValueError, match="different seed"):
        generate_dataset(spec_file, 3, out, seed=6, executor="serial", progress=False)


def test_ctrl_c_then_restart_gives_the_same_index(dataset, spec_file, tmp_path):
    out = tmp_path / "ctrl_c"
    command = [
        sys.executable,
        "-m",
        "graspbench.cli",
        "generate",
        "--env",
        spec_file,
        "--scenes",
        "3",
        "--out",
        str(out),
        "--seed",
        "5",
        "--executor",
        "serial",
        "--quiet",
    ]
    # A shell running the tests in the background ignores SIGINT, and so would the child: restore it.
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while not list((out / "scenes").glob("*.npz")) and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    assert len(list((out / "scenes").glob("*.npz"))) < 3
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert (out / "index.csv").read_text() == (dataset / "index.csv").read_text()


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_executors_give_the_same_dataset(dataset, spec_file, tmp_path, executor):
    out = tmp_path / executor
    generate_dataset(spec_file, 3, out, seed=5, executor=executor, workers=2, progress=False)
    assert (out / "index.csv").read_text() == (dataset / "index.csv").read_text()
    for i in range(3):
        a, b = read_scene(dataset, i), read_scene(out, i)
        for key in ("depth", "label_u", "label_outcome", "label_robustness"):
            assert np.array_equal(a[key], b[key])


def test_priority_map_ranks_levels_from_the_top():
    # Body 1 rests on 2, which rests on 3; body 4 stands alone.
    graph = SupportGraph.from_edges([1, 2, 3, 4], {1: [2], 2: [3]})
    segmentation = np.array([[0, 1, 2, 3, -1]], dtype=np.int16)
    assert priority_map(segmentation, [1, 2, 3, 4], graph) == pytest.approx(np.array([[1.0, 2 / 3, 1 / 3, 1.0, 0.0]]))


def test_offline_evaluation_replays_the_top_grasp_in_the_simulator(dataset, tmp_path):
    from graspbench.cli import main

    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--model",
                "ggcnn",
                "--loss",
                "imgmse",
                "--data",
                str(dataset),
                "--out",
                str(out),
                "--epochs",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "evaluate-offline",
                "--checkpoint",
                str(out / "best.pt"),
                "--data",
                str(dataset),
                "--json",
                str(tmp_path / "scores.json"),
                "--quiet",
            ]
        )
        == 0
    )
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert {"top1", "top5", "sim_top1_success"} <= set(scores)
    assert scores["sim_trials"] == 3 and sum(scores["sim_outcomes"].values()) == 3
