"""The command line, end to end, and the metrics recomputed from its records."""

import pandas as pd
import pytest

from graspbench.bench.metrics import Rate
from graspbench.cli import main


def test_run_writes_attempt_records_that_match_the_printed_rates(tmp_path, capsys):
    out = tmp_path / "attempts.csv"
    assert (
        main(
            [
                "run",
                "--env",
                "GraspBench/Pile-v0",
                "--agent",
                "heuristic",
                "--episodes",
                "2",
                "--seed",
                "0",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    attempts = pd.read_csv(out)
    for column in [
        "env",
        "agent",
        "seed",
        "episode",
        "attempt",
        "outcome",
        "success",
        "collision",
        "removed",
        "objects_left",
        "planning_ms",
        "sim_time_s",
    ]:
        assert column in attempts
    printed = capsys.readouterr().out
    assert str(Rate(int(attempts["success"].sum()), len(attempts))) in printed
    # Within an episode, objects left only ever go down by what was removed (or lost off the table).
    for _, episode in attempts.groupby("episode"):
        assert (episode["objects_left"].diff().dropna() <= 0).all()


def test_envs_lists_every_id(capsys):
    assert main(["envs"]) == 0
    assert "GraspBench/Stacked-v0" in capsys.readouterr().out


def test_bad_arguments_exit_with_a_message(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--env", "GraspBench/Nope-v0", "--agent", "heuristic"])
    assert "neither a registered id" in capsys.readouterr().err


def test_wilson_interval():
    low, high = Rate(8, 10).interval
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert Rate(0, 10).interval[0] == 0.0
