"""Training: a run end to end, checkpoints, determinism, resume, offline evaluation."""

import json

import pytest
import torch
from test_dataset import SCENE0_LABELS, SCENE1_LABELS, SCENE2_LABELS, _scene, _write_dataset

from graspbench.cli import main
from graspbench.data.candidates import LabelSettings
from graspbench.planners.models import build_model
from graspbench.planners.train import TrainArgs, load_checkpoint, train


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("train_data")
    boxes = [(15, 26, 25, 36, 0.05), (40, 58, 40, 60, 0.08), (38, 53, 5, 20, 0.03)]
    labels = (SCENE0_LABELS, SCENE1_LABELS, SCENE2_LABELS)
    _write_dataset(path, {i: _scene(i, labels[i % 3], boxes) for i in range(6)})
    return path


def run(root, out, **fields):
    args = TrainArgs(
        **{
            "model": "ggcnn2",
            "loss": "imgmse",
            "data": str(root),
            "out": str(out),
            "epochs": 1,
            "batch_size": 2,
            "crop_px": 32,
            "progress": False,
            **fields,
        }
    )
    return train(args)


def test_a_run_writes_metrics_curve_and_a_loadable_best_checkpoint(root, tmp_path):
    best = run(root, tmp_path / "run", epochs=2)
    for name in ("metrics.csv", "training_curve.png", "best.pt", "last.pt", "run.json"):
        assert (tmp_path / "run" / name).exists()
    model, checkpoint = load_checkpoint(tmp_path / "run" / "best.pt")
    assert checkpoint["loss"] == "imgmse" and checkpoint["input"] == "depth" and checkpoint["epoch"] == best["epoch"]
    assert len(checkpoint["dataset_fingerprint"]) == 16 and checkpoint["graspbench_version"]
    x = torch.zeros(1, 1, 64, 64)
    assert model(x).q.shape == (1, 1, 64, 64)


def test_a_checkpoint_that_does_not_fit_says_why(root, tmp_path):
    run(root, tmp_path / "run")
    checkpoint = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    checkpoint["model_config"] = build_model("ggcnn", 1).config
    torch.save(checkpoint, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="does not fit ggcnn"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_same_seed_same_run_and_resume_continues_it(root, tmp_path):
    run(root, tmp_path / "a", epochs=2, model="grconvnet", loss="smooth_l1")  # dropout: the RNG state matters
    run(root, tmp_path / "b", epochs=1, model="grconvnet", loss="smooth_l1")
    run(root, tmp_path / "b", epochs=2, model="grconvnet", loss="smooth_l1")  # resumed for a second epoch
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert len(b["history"]) == 2
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    with pytest.raises(ValueError, match="other arguments"):
        run(root, tmp_path / "b", epochs=3, model="grconvnet", loss="imgmse")


def test_train_and_evaluate_offline_from_the_command_line(root, tmp_path, capsys):
    out = tmp_path / "cli"
    assert (
        main(
            [
                "train",
                "--model",
                "mlgsl_fcn",
                "--loss",
                "mlgsl",
                "--data",
                str(root),
                "--out",
                str(out),
                "--epochs",
                "1",
                "--batch-size",
                "2",
                "--crop-px",
                "32",
                "--labels-per-image",
                "2",
                "--option",
                "sam=all",
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
                str(root),
                "--no-sim",
                "--json",
                str(tmp_path / "scores.json"),
                "--quiet",
            ]
        )
        == 0
    )
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert 0 <= scores["top1"] <= scores["top5"] <= 1 and scores["images"] == 6
    with pytest.raises(ValueError, match="labels-per-image"):
        run(root, tmp_path / "bad", labels_per_image=0)


def test_the_best_checkpoint_is_chosen_by_simulated_success(tmp_path):
    import pandas as pd

    from graspbench.data.generate import generate_dataset

    spec = tmp_path / "tiny.yaml"
    spec.write_text(
        "id: GraspBench/TinyPile-v0\nscene: {kind: pile, objects: random_urdfs, object_scale: 0.6, "
        "object_count: [2, 2]}\n"
    )
    data = tmp_path / "data"
    generate_dataset(
        str(spec), 3, data, seed=3, executor="serial", progress=False, settings=LabelSettings(candidates_per_object=3)
    )
    best = run(
        data, tmp_path / "run", epochs=3, model="ggcnn", sim_val_data=str(data), sim_val_scenes=3, sim_val_every=2
    )
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert history["val_sim_success"].isna().tolist() == [True, False, False]  # epoch 2, and the last
    assert history["val_sim_success"].dropna().between(0, 1).all()
    executed = history.dropna(subset=["val_sim_success"])
    # Ranked by the lower simulated success of the two protocols, then rectangle top-1.
    lower = executed[["val_sim_success", "val_sim_success_papers"]].min(axis=1)
    chosen = executed.loc[pd.concat([lower, executed["val_top1"]], axis=1).apply(tuple, axis=1).idxmax()]
    assert best["epoch"] == chosen["epoch"] and best["val_sim_success_papers"] == chosen["val_sim_success_papers"]
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=False)["epoch"] == chosen["epoch"]
