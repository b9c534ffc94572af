"""BinPick-v1's calibration command on a tiny run: every agent on the same bins, the table with
its bars, and an interrupted calibration resumed per agent."""

import pandas as pd

from graspbench.ivfp.calibrate import calibrate, ordering_checks


def test_a_tiny_calibration_tabulates_every_agent_on_the_same_bins_and_resumes(tmp_path):
    table = calibrate(
        "GraspBench/BinPick-v1", tmp_path, ("centroid", "clear-grasp"), trials=1, picks_per_trial=2, executor="serial"
    )
    assert list(table["agent"]) == ["centroid", "clear-grasp"] and list(table["picks"]) == [2, 2]
    assert table.loc[0, "bar"] == "[35, 55]" and table.loc[0, "verdict"] in ("met", "MISSED")
    first_targets = [pd.read_csv(tmp_path / f"{agent}.csv")["target_name"].iloc[0] for agent in table["agent"]]
    assert first_targets[0] == first_targets[1]  # the same first bin and target for every agent
    # A finished agent's picks are reused: only the missing one runs.
    (tmp_path / "clear-grasp.csv").unlink()
    centroid_before = (tmp_path / "centroid.csv").stat().st_mtime_ns
    again = calibrate(
        "GraspBench/BinPick-v1", tmp_path, ("centroid", "clear-grasp"), trials=1, picks_per_trial=2, executor="serial"
    )
    assert (tmp_path / "centroid.csv").stat().st_mtime_ns == centroid_before
    pd.testing.assert_frame_equal(table, again)
    assert ordering_checks(table) == []  # no demonstrator: no ordering to check
