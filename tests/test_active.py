"""Active learning: each strategy's choice on hand-made features whose answer is known, DAL's joint
loss, and the loop end to end on the tiny preset (the same initial pool for every strategy, cost
accounting, resume after an interruption, errors on bad input). Behaviour only, no success rates."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from graspbench.active import networks, strategies
from graspbench.active.loop import ActiveArgs, initial_pool, run, trial_folder
from graspbench.active.training import dal_loss

# --- the selection rules on hand-made features ---------------------------------------------------


def test_k_center_greedy_picks_the_farthest_point_first():
    features = np.array([[0.0], [1.0], [5.0], [10.0]])  # scene 0 is labelled
    assert strategies.k_center_greedy(features, [0], 1, seed=0) == [3]
    # then the point farthest from both 0 and 10: 5 (distance 5), not 1 (distance 1)
    assert strategies.k_center_greedy(features, [0], 2, seed=0) == [3, 2]


def test_graph_density_picks_the_densest_then_decays_its_neighbours():
    dense = [[0.0, 0.0], [0.01, 0.0], [0.0, 0.01], [0.01, 0.01]]  # 0-3: four close together
    looser = [[5.0, 5.0], [5.02, 5.0], [5.0, 5.02]]  # 4-6: three, a little farther apart
    features = np.array(dense + looser + [[20.0, 20.0]])  # 7: alone
    first, second = strategies.graph_density(features, [], 2, neighbours=3)
    assert first in (0, 1, 2, 3)
    # Without the decay the second pick would be another of 0-3, the densest nodes left.
    assert second in (4, 5, 6)
    assert strategies.graph_density(features, [0, 1, 2, 3], 1, neighbours=3)[0] in (4, 5, 6)


def test_random_sampling_draws_distinct_unlabelled_scenes_from_its_seed():
    picks = strategies.random_selection(20, [0, 1, 2], 5, seed=4)
    assert len(set(picks)) == 5 and not set(picks) & {0, 1, 2}
    assert picks == strategies.random_selection(20, [0, 1, 2], 5, seed=4)


def test_gissin_picks_where_there_are_no_labels():
    rng = np.random.default_rng(0)
    near = rng.normal(0, 0.1, size=(20, 2))  # 0-9 labelled, 10-19 unlabelled, all near the origin
    far = rng.normal(10, 0.1, size=(4, 2))  # 20-23: unlabelled, where nothing is labelled
    picks = strategies.gissin_discriminative(np.vstack([near, far]), list(range(10)), 2, seed=0)
    assert set(picks) <= {20, 21, 22, 23}


def test_score_rules_pick_the_least_labelled_like_or_the_highest_predicted_loss():
    scores = np.array([0.9, 0.1, 0.5, 0.05, 0.7])
    assert strategies.lowest(scores, [1, 2, 4], 2) == [1, 2]  # DAL, VAAL: scene 3 is labelled already
    assert strategies.highest(scores, [1, 2, 4], 2) == [4, 2]  # Learning Loss


def test_selection_refuses_more_than_the_unlabelled_pool():
    with pytest.raises(ValueError, match="cannot select 3 scenes: 2 of the pool's 4 are unlabelled"):
        strategies.k_center_greedy(np.zeros((4, 1)), [0, 1], 3, seed=0)


# --- DAL's joint loss, Learning Loss's ranking loss ----------------------------------------------


def _batch(size=2, side=48):
    targets = {key: torch.rand(size, 1, side, side) for key in ("q", "cos2", "sin2", "opening")}
    return {"x": torch.randn(size, 1, side, side), **targets}


def test_the_discriminators_gradient_reaches_the_shared_encoder():
    torch.manual_seed(0)
    from graspbench.planners.models import build_model

    model = build_model("ggcnn", 1)
    discriminator = networks.Discriminator(networks.feature_size(model, 1))
    assert sum(p.numel() for p in discriminator.parameters()) == 2081  # the paper: about 2k
    terms = dal_loss(model, discriminator, _batch(), torch.randn(2, 1, 96, 96), torch.randn(2, 1, 96, 96), alpha=0.1)
    assert torch.allclose(terms["total"], terms["grasp"] + 0.1 * terms["bce"])
    terms["bce"].backward()
    first_conv = model.body[0].weight.grad
    assert first_conv is not None and first_conv.abs().sum() > 0  # the encoder learns from the discriminator
    assert model.heads.q.weight.grad is None  # the decoder is not on the discriminator's path
    assert all(p.grad is not None for p in discriminator.parameters())


def test_min_steps_raises_the_epochs_of_a_small_labelled_pool():
    from graspbench.active.training import round_epochs

    args = ActiveArgs.from_preset("quick", epochs=6, batch_size=8, min_steps=100)
    assert round_epochs(16, args) == 50  # 2 steps an epoch
    assert round_epochs(800, args) == 6  # 100 steps an epoch: the epochs decide


def test_ranking_loss_is_zero_for_losses_ordered_by_the_margin_and_positive_otherwise():
    target = torch.tensor([3.0, 2.0, 1.0, 0.0])  # pairs (0, 3) and (1, 2): the first of each is larger
    assert networks.ranking_loss(torch.tensor([5.0, 3.0, 1.0, 0.0]), target).item() == 0.0
    # reversed: differences -5 and -2 where +1 was due: (1 + 5 + 1 + 2) / 2
    assert networks.ranking_loss(torch.tensor([0.0, 1.0, 3.0, 5.0]), target).item() == pytest.approx(4.5)


# --- the loop end to end on the tiny preset ------------------------------------------------------


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("active")
    return {"data": str(root / "data"), "out": root / "out"}


def tiny(folders, out, **fields):
    return ActiveArgs.from_preset("tiny", data_dir=folders["data"], out=str(out), progress=False, **fields)


@pytest.fixture(scope="module")
def finished(folders):
    """random and dal, one trial each, uninterrupted."""
    run(tiny(folders, folders["out"] / "a", strategy="random,dal"))
    return folders["out"] / "a"


def test_every_strategy_starts_from_the_same_initial_pool_and_pays_for_its_labels(finished, folders):
    assert initial_pool(8, 2, 0, 0) == initial_pool(8, 2, 0, 0) != initial_pool(8, 2, 0, 1)
    first = {s: json.loads((trial_folder(finished, s, 0) / "round-00.json").read_text()) for s in ("random", "dal")}
    assert first["random"]["labelled"] == first["dal"]["labelled"] == initial_pool(8, 2, 0, 0)
    for strategy in ("random", "dal"):
        rows = [
            json.loads((trial_folder(finished, strategy, 0) / f"round-{r:02d}.json").read_text())["row"]
            for r in range(3)
        ]
        assert [r["labels"] for r in rows] == [2, 4, 6]
        assert all(r["trials"] > 0 and r["label_core_s"] > 0 for r in rows)
        assert rows[-1]["trials_total"] == sum(r["trials"] for r in rows)
        assert all(0 <= r[m] <= 1 for r in rows for m in ("test_top1", "net_top1_success", "sim_top1_success"))
    for name in ("rounds.csv", "curves.csv", "auc.csv", "learning_curves.png", "run.json"):
        assert (finished / name).exists()
    from graspbench.planners.train import load_checkpoint

    model, checkpoint = load_checkpoint(trial_folder(finished, "dal", 0) / "round-02.pt")
    assert checkpoint["active"]["labels"] == 6 and model.config["name"] == "ggcnn"


def test_a_plain_gg_cnn_retrained_on_the_scenes_dal_chose(finished, folders):
    from graspbench.active.loop import same_data

    table = same_data(tiny(folders, finished), 1)
    assert table[["trial", "round", "labels"]].values.tolist() == [[0, 1, 4]]
    assert 0 <= table["plain_test_top1"].iloc[0] <= 1 and "dal_sim_top1_success" in table
    assert (finished / "same_data.csv").exists()


def test_an_interrupted_loop_resumes_at_the_next_unfinished_round(finished, folders, monkeypatch):
    from graspbench.active import loop

    calls = []
    real = loop.evaluate

    def evaluate_then_stop(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # round 1, after its training
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    out = folders["out"] / "b"
    monkeypatch.setattr(loop, "evaluate", evaluate_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run(tiny(folders, out))
    folder = trial_folder(out, "dal", 0)
    assert (folder / "round-00.json").exists() and not (folder / "round-01.json").exists()
    monkeypatch.setattr(loop, "evaluate", real)
    run(tiny(folders, out))
    for r in range(3):
        resumed = json.loads((folder / f"round-{r:02d}.json").read_text())
        whole = json.loads((trial_folder(finished, "dal", 0) / f"round-{r:02d}.json").read_text())
        assert resumed["labelled"] == whole["labelled"] and resumed["next"] == whole["next"]
        assert resumed["row"]["test_top1"] == whole["row"]["test_top1"]
    with pytest.raises(ValueError, match="alpha was 0.1, now 0.3"):
        run(tiny(folders, out, alpha=0.3))


def test_noisy_annotator_moves_every_angle_by_at_most_45_degrees_the_same_each_time(tmp_path):
    from test_dataset import SCENE1_LABELS, _scene, _write_dataset

    from graspbench.active.training import NoisyAngles
    from graspbench.planners.dataset import GraspDataset

    _write_dataset(tmp_path, {0: _scene(0, SCENE1_LABELS, [(15, 26, 25, 36, 0.05)])})
    noisy, clean = NoisyAngles(tmp_path, angle_noise_deg=45.0), GraspDataset(tmp_path)
    moved = (noisy[0]["label_angle"] - clean[0]["label_angle"]).numpy()
    moved = (moved + np.pi / 2) % np.pi - np.pi / 2  # angles are defined modulo pi
    assert len(moved) == 12 and np.abs(moved).max() <= np.radians(45) + 1e-6 and np.abs(moved).min() > 0
    assert torch.equal(noisy[0]["label_angle"], NoisyAngles(tmp_path, angle_noise_deg=45.0)[0]["label_angle"])


def test_reevaluation_measures_again_only_the_rounds_other_code_measured(finished, folders, tmp_path):
    import shutil

    from graspbench.active.loop import reevaluate

    out = tmp_path / "copy"
    shutil.copytree(finished, out)
    folder = trial_folder(out, "dal", 0)
    stale = folder / "round-01.json"
    state = json.loads(stale.read_text())
    measured = state["row"]["sim_top1_success"], state["row"]["test_top1"]
    state["row"].update(sim_top1_success=7.0, test_top1=7.0, evaluated_with="0.0.1")
    stale.write_text(json.dumps(state))
    current = json.loads((folder / "round-00.json").read_text())
    summary = reevaluate(out, folders["data"], progress=False, workers=2)  # in worker processes
    assert summary["reevaluated"] == 1
    row = json.loads(stale.read_text())["row"]
    assert (row["sim_top1_success"], row["test_top1"]) == measured  # the same model, the same code: the same score
    assert row["evaluated_with"] == current["row"]["evaluated_with"] == summary["evaluated_with"]
    assert json.loads((folder / "round-00.json").read_text()) == current
    assert reevaluate(out, folders["data"], progress=False)["reevaluated"] == 0
    with pytest.raises(ValueError, match="no run.json"):
        reevaluate(tmp_path, folders["data"])


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"strategy": "dal,magic"}, "--strategy 'dal,magic': magic is not a strategy"),
        ({"rounds": 5}, "do not fit a pool of --pool-scenes 8"),
        ({"model": "grconvnet"}, "--model 'grconvnet'"),
        ({"label_noise_deg": 120.0}, "--label-noise-deg must be in"),
        ({"sim_test_scenes": 9}, "--sim-test-scenes 9 exceeds --test-scenes 2"),
    ],
)
def test_bad_settings_name_the_flag_and_the_fix(folders, tmp_path, fields, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        run(tiny(folders, tmp_path / "bad", **fields))


def test_the_command_line_says_what_is_wrong(tmp_path, capsys):
    from graspbench.cli import main

    assert main(["active-learn", "--preset", "tiny", "--strategy", "magic", "--out", str(tmp_path)]) == 2
    assert "magic is not a strategy; choose from random, coreset" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--preset 'huge' is not a preset"):
        ActiveArgs.from_preset("huge")


def test_flags_left_out_take_the_presets_values():
    from graspbench.active.cli import active_args
    from graspbench.cli import build_parser

    def parsed(*argv):
        return active_args(build_parser("active-learn").parse_args(["active-learn", "--preset", "tiny", *argv]))

    assert parsed() == ActiveArgs.from_preset("tiny") and parsed().crop_px == 48
    given = parsed("--epochs", "3", "--crop-px", "64", "--quiet", "--trials", "2")
    assert given == ActiveArgs.from_preset("tiny", epochs=3, crop_px=64, progress=False, trials=2)
    assert parsed("--crop-px", "0").crop_px is None  # whole images, not the preset's windows


def test_the_report_pairs_strategies_by_trial_and_measures_dal_against_the_whole_pool(tmp_path):
    from graspbench.active.curves import trial_aucs
    from graspbench.active.report import paired_difference, report

    # Two trials, three rounds of 10 labels; trial 1 is harder for both strategies.
    curves = {
        ("dal", 0): [0.2, 0.4, 0.6],
        ("random", 0): [0.2, 0.3, 0.4],
        ("dal", 1): [0.0, 0.2, 0.4],
        ("random", 1): [0.0, 0.1, 0.2],
    }
    rows = [
        {
            "strategy": s,
            "trial": t,
            "round": r,
            "labels": 10 * (r + 1),
            "labels_fraction": (r + 1) / 5,
            "test_top1": y,
            "sim_top1_success": y,
            "evaluated_with": "0.1.0+new",
        }
        for (s, t), ys in curves.items()
        for r, y in enumerate(ys)
    ]
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame(rows).to_csv(run / "rounds.csv", index=False)
    (run / "curves.csv").write_text("strategy\n")
    # A third trial of DAL that stopped after round 1: its area would cover a smaller budget.
    unfinished = [{**rows[0], "trial": 2}, {**rows[1], "trial": 2}]
    aucs = trial_aucs(pd.DataFrame(rows + unfinished), "sim_top1_success")
    # Trapezoids over labels 10-30, divided by the span: (0.3 + 0.5) / 2 for DAL in trial 0.
    assert aucs.set_index(["strategy", "trial"])["auc"][("dal", 0)] == pytest.approx(0.4)
    assert len(aucs) == 4 and 2 not in set(aucs["trial"])
    # Unpaired, the trials' difficulty would swamp it; paired, DAL leads by 0.1 in both trials.
    mean, half, n = paired_difference(aucs, "dal", "random")
    assert (mean, half, n) == (pytest.approx(0.1), pytest.approx(0.0, abs=1e-9), 2)
    whole = tmp_path / "whole"
    whole.mkdir()
    pd.DataFrame(
        [
            {
                "strategy": "random",
                "trial": t,
                "round": 0,
                "labels": 50,
                "labels_fraction": 1.0,
                "test_top1": 0.8,
                "sim_top1_success": 0.8,
            }
            for t in (0, 1)
        ]
    ).to_csv(whole / "rounds.csv", index=False)
    # The noisy annotator's run, trial 0 only: every round of DAL 0.1 lower than with clean labels.
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    pd.DataFrame(
        [
            {**row, "test_top1": row["test_top1"] - 0.1, "sim_top1_success": row["sim_top1_success"] - 0.1}
            for row in rows
            if row["trial"] == 0 and row["strategy"] == "dal"
        ]
    ).to_csv(noisy / "rounds.csv", index=False)
    (noisy / "curves.csv").write_text("strategy\n")
    text = report(str(run), str(tmp_path / "results"), whole_pool=str(whole), noisy=str(noisy), max_fraction=0.4)
    # DAL's model within 40% of the pool is round 1 (20 labels): (0.4 + 0.2) / 2 = 0.3 of 0.8.
    assert "DAL at 40% of the pool" in text and "success: 30.0 +- " in text and "ratio 37.5%" in text
    # Clean against noisy over the one trial both finished: AUC 40 against 30.
    assert "| dal | planner's top-1 simulated success | 1 | 40.0 | 30.0 | -10.0 |" in text
    # The whole-pool rows say nothing of the code that measured them: the report says so.
    assert "Rows evaluated by different code**: 0.1.0+new (15 rows), unrecorded (2 rows)" in text
    assert (tmp_path / "results" / "active_learning_auc.csv").exists()
    with pytest.raises(ValueError, match="active-learn --out"):
        report(str(tmp_path / "nothing"), str(tmp_path / "results"))


def test_the_cost_of_a_trial_counts_cpu_time_and_falls_back_to_the_wall_clock():
    from graspbench.active.report import cost_lines

    # Strategy a: 2 trials of rounds 0-1, each round 360 s of labelling and 3,240 s of CPU (1 hour),
    # the wall clock twice that (other jobs ran). Strategy b: round 0 only, no CPU time recorded.
    a = [
        {
            "strategy": "a",
            "trial": t,
            "round": r,
            "label_core_s": 360.0,
            "cpu_s": 3240.0,
            "train_s": 6000.0,
            "select_s": 300.0,
            "eval_s": 180.0,
        }
        for t in range(2)
        for r in range(2)
    ]
    b = [
        {
            "strategy": "b",
            "trial": 0,
            "round": 0,
            "label_core_s": 0.0,
            "train_s": 1800.0,
            "select_s": 0.0,
            "eval_s": 0.0,
        }
    ]
    lines = cost_lines(pd.DataFrame(a + b), trials=5, cores=2, optional=("b",))
    assert lines[2].startswith("| a | 2 |") and "| 2.00 | 4 of 4 |" in lines[2]
    assert "| 0.50 (rounds missing) | 0 of 1 |" in lines[3]
    # (2 + 0.5) core-hours a trial x 5 trials, over 2 cores; without the optional b, 2 x 5 / 2.
    assert "every strategy above, at least 12.5 core-hours, at least 6.2 hours on 2 cores" in lines[-1]
    assert "without b, 10.0 core-hours, 5.0 hours on 2 cores" in lines[-1] and "round: b." in lines[-1]
    # Another run's CPU-timed round of b (900 s) stands in for its wall-clock one; a's are kept.
    timed = pd.DataFrame([{**b[0], "trial": 3, "cpu_s": 900.0}])
    lines = cost_lines(pd.DataFrame(a + b), timed=(timed,), trials=5, cores=2)
    assert "| 0.25 (rounds missing) | 1 of 1 |" in lines[3] and "| 2.00 | 4 of 4 |" in lines[2]


# --- code versions: each experiment hashes only the code it measures with ------------------------


def test_each_experiment_hashes_only_the_code_it_measures_with():
    from graspbench import versions

    active = {path.relative_to(versions.PACKAGE).as_posix() for path in versions.measured_modules("active")}
    assert {"active/training.py", "planners/offline.py", "sim/gripper.py", "planners/postprocess.py"} <= active
    # An IVFP edit, a report or a plot changes no active-learning measurement.
    assert not {path for path in active if path.startswith("ivfp/")}
    assert not {"active/report.py", "active/curves.py", "active/cli.py", "cli/__init__.py"} & active
    ivfp = {path.relative_to(versions.PACKAGE).as_posix() for path in versions.measured_modules("ivfp")}
    assert {"ivfp/reinforce.py", "ivfp/classifier.py", "sim/probe.py"} <= ivfp and not {"active/loop.py"} & ivfp


def test_the_version_hashes_code_not_files(tmp_path):
    """Moving a definition, changing an import or a docstring keeps the digests; changing code does not."""
    from graspbench.versions import definition_digests

    def digests(name, text):
        (tmp_path / name).write_text(text)
        return sorted(definition_digests(tmp_path / name))

    original = digests(
        "a.py",
        '"""A."""\nimport math\n\ndef f(x):\n    """Doc."""\n    from .b import g\n    return g(x) + 1\n\nK = 2\n',
    )
    moved = digests("b.py", "K = 2\n\n\ndef f(x):\n    from .c import g  # moved\n    return g(x) + 1\n")
    edited = digests("c.py", "import math\n\ndef f(x):\n    from .b import g\n    return g(x) + 2\n\nK = 2\n")
    assert original == moved and original != edited


def test_committed_active_learning_rows_are_current():
    """results/active_learning.md's rows were evaluated by one code version, recorded as equal to the
    active experiment's code now (graspbench/versions.py's EQUIVALENT): `--reevaluate` marks none of
    them stale. If this fails, an edit changed code that evaluates a round: re-evaluate the runs
    (`graspbench active-learn --reevaluate`, `make active-learning`), or, for a change shown to leave
    every definition that evaluates a round as it was, list the new version in EQUIVALENT. A page that
    declares its rows stale ("**Stale since ...") must still be stale."""
    import re
    from pathlib import Path

    from graspbench.versions import experiment_version, is_current

    text = (Path(__file__).parents[1] / "results" / "active_learning.md").read_text()
    stored = re.search(r"evaluated by the same code, graspbench (\S+?)\.?$", text, re.M).group(1)
    if re.search(r"^\*\*Stale since", text, re.M):  # the page says so: it must still be true
        assert not is_current("active", stored), "results/active_learning.md says stale but is current: drop the line"
    else:
        assert is_current("active", stored), f"rows of {stored} are stale for {experiment_version('active')}"


def test_ivfp_and_active_import_no_cycle_and_not_each_other():
    """Each room's modules import downwards only: no import cycle inside ivfp/ or active/, and
    neither imports the other (they are sibling rooms above bench/)."""
    import ast
    from pathlib import Path

    package = Path(__file__).parents[1] / "graspbench"
    edges = {}
    for room in ("ivfp", "active"):
        for path in sorted((package / room).glob("*.py")):
            module, imported = f"{room}.{path.stem}", set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                    imported.add(f"{room}.{node.module.split('.')[0]}")
                elif isinstance(node, ast.ImportFrom) and node.level == 2 and node.module:
                    imported.add(node.module)
            edges[module] = imported
    for module, imported in edges.items():
        other = "active" if module.startswith("ivfp") else "ivfp"
        assert not [name for name in imported if name.split(".")[0] == other], module

    def reaches(start, target, seen=()):
        return any(
            name == target or (name in edges and name not in seen and reaches(name, target, (*seen, name)))
            for name in edges.get(start, ())
        )

    assert not [module for module in edges if reaches(module, module)]
