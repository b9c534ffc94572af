"""The probe-video classifier C_phi on tiny synthetic collections whose classes show only in motion."""

import argparse
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from graspbench.ivfp import classifier as clf
from graspbench.ivfp import cli as ivfp_cli
from graspbench.ivfp.picks import CLASSES, load_picks, write_bin, write_index, write_metadata
from graspbench.ivfp.table3 import table3

FRAME_PX = 24
FRAME_TIMES_S = np.arange(9, dtype=np.float32) * 0.25  # a 2 s probe filmed at 4 Hz
PICKS_PER_BIN = 12
# Small and fast: every test of this file trains with these.
TINY = {"frame_px": FRAME_PX, "width": 8, "epochs": 15, "batch_size": 16, "lr": 5e-3, "threads": 1, "progress": False}


def _film(outcome: str, rng: np.random.Generator) -> np.ndarray:
    """Two bright squares over noise; frame 0 has the same distribution whatever the outcome.
    Then the held object (A) stays still in the wrist camera and what is left in the bin slides
    away: success holds A only, a multi-pick holds A and B, a missed pick holds nothing."""
    held = {"success": (True, False), "fail_multipick": (True, True), "fail_not_picked": (False, False)}[outcome]
    row, col = rng.integers(6, 10, size=2)
    film = np.empty((len(FRAME_TIMES_S), FRAME_PX, FRAME_PX, 3), np.uint8)
    for t in range(len(FRAME_TIMES_S)):
        frame = rng.integers(0, 60, size=(FRAME_PX, FRAME_PX, 3))
        for (top, left), stays in zip(((row, col), (row, col + 8)), held):
            top = top if stays else top + t  # the bin slides down in the image as the hand lifts
            frame[top : top + 5, left : left + 5] = 230
        film[t] = frame
    return film


def _collection(
    root, seed: int, bins: int, outcomes=("success",) * 6 + ("fail_multipick",) * 3 + ("fail_not_picked",) * 3
):
    rng = np.random.default_rng(seed)
    write_metadata(root, {"env": "synthetic", "spec": "none", "seed": seed, "after_probe": "extract"})
    for b in range(bins):
        outcome = rng.permutation(np.array(outcomes))
        write_bin(
            root,
            b,
            {
                "outcome": outcome,
                "probed": np.ones(len(outcome), bool),
                "probe_rgb": np.stack([_film(o, rng) for o in outcome]),
                "frame_times_s": FRAME_TIMES_S,
            },
        )
    write_index(root)
    return str(root)


@pytest.fixture(scope="module")
def collections(tmp_path_factory):
    base = tmp_path_factory.mktemp("ivfp")
    return _collection(base / "seen", seed=0, bins=10), _collection(base / "unseen", seed=1, bins=4)


@pytest.fixture(scope="module")
def trained(collections, tmp_path_factory):
    """The interactive (2 s) and the passive classifier: their metrics and checkpoint paths."""
    seen, unseen = collections
    out = tmp_path_factory.mktemp("runs")
    runs = {}
    for name, probe_s in (("interactive", 2.0), ("passive", 0.0)):
        args = clf.ClassifierArgs(data=seen, unseen=unseen, out=str(out / f"{name}.pt"), probe_s=probe_s, **TINY)
        runs[name] = (args, clf.train_classifier(args))
    return runs


def test_interaction_reveals_what_frame_0_cannot(trained):
    """The paper's claim in miniature: the classes differ only in motion, so the interactive
    classifier learns them and the passive one stays at chance on the balanced unseen picks."""
    interactive, passive = trained["interactive"][1], trained["passive"][1]
    assert interactive["unseen"]["picks"] == 48  # 24 successes kept for 24 failures
    assert interactive["unseen"]["accuracy"] >= 0.85
    assert interactive["unseen"]["binary"]["accuracy"] >= 0.85
    assert passive["unseen"]["binary"]["accuracy"] <= 0.7
    assert passive["unseen"]["accuracy"] <= 0.6
    assert passive["frames"] == 1 and interactive["frames"] == 9


def test_metrics_and_checkpoint_written_side_by_side(trained):
    args, metrics = trained["interactive"]
    written = json.loads(open(args.out.replace(".pt", ".json")).read())
    assert written["best_epoch"] == metrics["best_epoch"]
    assert {"val", "test_seen", "unseen", "history"} <= set(written)
    assert len(written["history"]) == args.epochs


def test_metrics_on_a_hand_computed_confusion():
    true = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    predicted = [0, 0, 1, 2, 1, 0, 2, 2, 2, 0]
    m = clf.classification_metrics(true, predicted)
    assert m["confusion"] == [[2, 1, 1], [1, 1, 0], [1, 0, 3]]
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["precision"] == pytest.approx({"success": 2 / 4, "fail_multipick": 1 / 2, "fail_not_picked": 3 / 4})
    assert m["recall"] == pytest.approx({"success": 2 / 4, "fail_multipick": 1 / 2, "fail_not_picked": 3 / 4})
    assert m["accuracy_low"] < 0.6 < m["accuracy_high"]
    binary = m["binary"]  # success: picks 0-3, predicted success: picks 0, 1, 5, 9
    assert binary["confusion"] == [[2, 2], [2, 4]]
    assert binary["accuracy"] == pytest.approx(0.6)
    assert binary["precision"] == pytest.approx({"success": 0.5, "fail": 4 / 6})
    assert binary["recall"] == pytest.approx({"success": 0.5, "fail": 4 / 6})
    assert binary["macro_precision"] == pytest.approx((0.5 + 4 / 6) / 2)
    # A classifier that never says "fail": fail precision is undefined and counts as 0.
    never = clf.classification_metrics([0, 1, 2], [0, 0, 0])["binary"]
    assert never["precision"]["fail"] == 0 and never["recall"]["success"] == 1


def test_truncation_keeps_exactly_the_frames_filmed_by_then():
    times_s = np.arange(17, dtype=np.float32) / 8  # 8 Hz over 2 s
    for probe_s in (0.0, 0.5, 1.0, 1.5, 2.0, 0.6):
        assert list(clf.frame_indices(times_s, probe_s)) == list(np.flatnonzero(times_s <= probe_s))
    assert list(clf.frame_indices(times_s, 2.0, step_s=0.25)) == list(range(0, 17, 2))
    assert list(clf.frame_indices(times_s, 0.5, step_s=0.25)) == [0, 2, 4]
    with pytest.raises(ValueError, match=r"--probe-s\) 2.5 s is longer than the probe films \(2 s"):
        clf.frame_indices(times_s, 2.5)


def test_round_trip_predict_proba_and_determinism(collections, trained, tmp_path):
    seen, _ = collections
    args, _ = trained["interactive"]
    model = clf.load_classifier(args.out)
    films = np.stack([_film(o, np.random.default_rng(7)) for o in CLASSES])
    probabilities = model.predict_proba(films)
    assert probabilities.shape == (3, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(model.predict_proba(films[1]), probabilities[1:2], atol=1e-6)  # one film, no pick axis
    # Whole films through predict_proba agree with the training path's evaluation.
    picks = load_picks(seen)
    labels = [CLASSES.index(o) for o in picks["outcome"]]
    probabilities = model.predict_proba(picks["probe_rgb"])
    from_films = clf.classification_metrics(labels, probabilities.argmax(axis=1), probabilities)
    evaluated = model.evaluate(clf.load_films(seen, FRAME_PX))
    assert from_films["confusion"] == evaluated["confusion"]
    assert from_films["log_loss"] == pytest.approx(evaluated["log_loss"], abs=1e-5)
    assert from_films["accuracy"] >= 0.85
    with pytest.raises(ValueError, match="films of 5 frames"):
        model.predict_proba(films[:, :5])

    # The same seed gives the same classifier.
    again = []
    for out in ("a.pt", "b.pt"):
        args = clf.ClassifierArgs(data=seen, out=str(tmp_path / out), probe_s=1.0, **{**TINY, "epochs": 2})
        clf.train_classifier(args)
        again.append(clf.load_classifier(args.out))
    np.testing.assert_array_equal(again[0].predict_proba(films), again[1].predict_proba(films))
    assert again[0].frame_indices.tolist() == [0, 1, 2, 3, 4]


def test_a_trained_classifier_is_reused(trained, capsys):
    args, metrics = trained["passive"]
    again = clf.train_classifier(dataclasses.replace(args, progress=True, threads=2))
    assert again == json.loads(json.dumps(metrics))
    assert "reused" in capsys.readouterr().out


def test_clear_errors(collections, tmp_path):
    seen, _ = collections
    with pytest.raises(ValueError, match="--probe-s"):
        clf.train_classifier(clf.ClassifierArgs(data=seen, out=str(tmp_path / "x.pt"), probe_s=3.0, **TINY))
    with pytest.raises(ValueError, match="--data: .* not a collection of probed picks"):
        clf.ClassifierArgs(data=str(tmp_path), out=str(tmp_path / "x.pt")).check()
    no_multipicks = _collection(
        tmp_path / "no-multi", seed=2, bins=5, outcomes=("success",) * 6 + ("fail_not_picked",) * 6
    )
    with pytest.raises(ValueError, match=r"too few picks of fail_multipick \(0\)"):
        clf.train_classifier(clf.ClassifierArgs(data=no_multipicks, out=str(tmp_path / "y.pt"), **TINY))
    with pytest.raises(ValueError, match="does not exist"):
        clf.load_classifier(tmp_path / "missing.pt")
    (tmp_path / "garbage.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt is not an IVFP classifier checkpoint"):
        clf.load_classifier(tmp_path / "garbage.pt")


def test_table3_writes_its_files_and_resumes(collections, tmp_path, capsys):
    seen, unseen = collections
    options = {**TINY, "epochs": 1}
    table = table3(
        seen, unseen, out_dir=tmp_path / "results", runs_dir=tmp_path / "runs", probes_s=(0.0, 2.0), **options
    )
    written = pd.read_csv(tmp_path / "results" / "ivfp_classifier.csv")
    assert list(written[["perception", "probe_s", "objects"]].itertuples(index=False, name=None)) == [
        ("passive", 0.0, "seen"),
        ("passive", 0.0, "unseen"),
        ("interactive", 2.0, "seen"),
        ("interactive", 2.0, "unseen"),
    ]
    for column in (
        "picks",
        "accuracy",
        "accuracy_low",
        "accuracy_high",
        "precision",
        "recall",
        "paper_accuracy",
        "paper_precision",
        "paper_recall",
    ):
        assert column in written
    assert written["paper_accuracy"].tolist() == [0.46, 0.41, 0.94, 0.90]
    assert (tmp_path / "results" / "ivfp_classifier.png").stat().st_size > 0
    assert "| interactive (2.0 s) | unseen |" in (tmp_path / "results" / "ivfp_classifier.md").read_text()

    capsys.readouterr()
    again = table3(
        seen,
        unseen,
        out_dir=tmp_path / "results",
        runs_dir=tmp_path / "runs",
        probes_s=(0.0, 2.0),
        **{**options, "progress": True},
    )
    assert capsys.readouterr().out.count("reused") == 2
    pd.testing.assert_frame_equal(again, table)


def test_commands(collections, trained, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    ivfp_cli.add_classifier_commands(parser.add_subparsers(dest="command", required=True))
    seen, _ = collections
    args = parser.parse_args(["train-classifier", "--data", seen, "--out", "x.pt", "--passive", "--epochs", "3"])
    assert args.func is ivfp_cli.cmd_train_classifier and args.passive and args.epochs == 3
    args = parser.parse_args(["table3", "--seen", seen, "--unseen", seen, "--epochs", "2"])
    assert args.func is ivfp_cli.cmd_table3 and args.out == "results"

    checkpoint = trained["interactive"][0].out
    args = parser.parse_args(["evaluate-classifier", checkpoint, "--data", seen, "--json", str(tmp_path / "m.json")])
    assert args.func(args) == 0
    assert "120 picks, accuracy" in capsys.readouterr().out
    assert json.loads((tmp_path / "m.json").read_text())["picks"] == 120
