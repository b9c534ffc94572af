"""The benchmark: a suite end to end, resume, paired seeds, the summary against the records, the
comparison with a reference."""

import contextlib
import io

import pandas as pd
import pytest

from graspbench.bench.compare import REFERENCE, compare, comparison_text
from graspbench.bench.metrics import repeats_failure
from graspbench.bench.report import bars, benchmark, priority_bars, protocols_markdown
from graspbench.bench.runner import inputs_fingerprint, read_records, run_sweep
from graspbench.bench.summary import summary_table
from graspbench.cli import main
from graspbench.io import FileFormatError


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """A quick suite run as a new user runs it, into an empty folder; what it printed is kept."""
    out = tmp_path_factory.mktemp("bench")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["benchmark", "--suite", "quick", "--out", str(out), "--workers", "2", "--quiet"]) == 0
    (out / "printed.txt").write_text(printed.getvalue())
    return out


def test_quick_suite_writes_everything(quick):
    for name in ("attempts.csv", "summary.csv", "rates.png", "ctpg.png", "report.md"):
        assert (quick / name).exists()
    summary = pd.read_csv(quick / "summary.csv")
    for column in [
        "agent",
        "env",
        "attempts",
        "gsr",
        "gsr_ci_low",
        "gsr_ci_high",
        "removal_rate",
        "collision_rate",
        "multi_pick_rate",
        "top_level_rate",
        "ctpg_ms",
    ]:
        assert column in summary
    assert len(summary) == 4 and "| heuristic |" in (quick / "report.md").read_text()


def test_summary_numbers_are_recomputed_from_the_records(quick):
    attempts = pd.read_csv(quick / "attempts.csv")
    summary = pd.read_csv(quick / "summary.csv").set_index(["agent", "env"])
    for (agent, env), group in attempts.groupby(["agent", "env"]):
        row = summary.loc[(agent, env)]
        assert row["attempts"] == len(group)
        assert row["gsr"] == pytest.approx(group["success"].mean(), abs=1e-4)
        assert row["collision_rate"] == pytest.approx(group["collision"].mean(), abs=1e-4)
        starts = group.groupby("episode")["objects_at_start"].first().sum()
        assert row["removal_rate"] == pytest.approx(group["removed"].sum() / starts, abs=1e-4)
        assert row["gsr_ci_low"] <= row["gsr"] <= row["gsr_ci_high"]


def test_agents_meet_the_same_scenes(quick):
    attempts = pd.read_csv(quick / "attempts.csv")
    first = attempts.groupby(["env", "agent", "episode"])["objects_at_start"].first().unstack("agent")
    assert (first["random"] == first["heuristic"]).all()


def test_an_interrupted_sweep_resumes_without_redoing_finished_blocks(tmp_path):
    envs, agents = ["GraspBench/Single-v0"], ["heuristic"]
    complete = run_sweep(envs, agents, 10, tmp_path, executor="serial", progress=False)
    blocks = sorted((tmp_path / "attempts").glob("*.csv"))
    assert len(blocks) == 2
    kept_mtime = blocks[0].stat().st_mtime_ns
    blocks[1].unlink()  # the sweep "was interrupted" before its second block
    resumed = run_sweep(envs, agents, 10, tmp_path, executor="serial", progress=False, resume=True)
    assert blocks[0].stat().st_mtime_ns == kept_mtime
    pd.testing.assert_frame_equal(complete.drop(columns="planning_ms"), resumed.drop(columns="planning_ms"))


def test_unknown_suite():
    with pytest.raises(ValueError, match="suite"):
        benchmark("huge")


def test_bars_say_met_missed_or_not_measured():
    def attempts(agent, env, successes, collisions, top_level=None, n=10):
        return pd.DataFrame(
            {
                "env": env,
                "agent": agent,
                "seed": range(n),
                "episode": range(n),
                "attempt": 0,
                "outcome": ["success"] * successes + ["collision"] * (n - successes),
                "success": [1] * successes + [0] * (n - successes),
                "collision": [1] * collisions + [0] * (n - collisions),
                "removed": [1] * successes + [0] * (n - successes),
                "objects_at_start": 1,
                "top_level": top_level,
                "planning_ms": 1.0,
            }
        )

    summary = summary_table(
        pd.concat(
            [
                attempts("a", "GraspBench/Single-v0", 10, 0),
                attempts("b", "GraspBench/Single-v0", 5, 5),
                attempts("mlgsl", "GraspBench/Pile-v0", 8, 2),
                attempts("mlgsl-single", "GraspBench/Pile-v0", 5, 5),
                attempts("gpnet", "GraspBench/Stacked-v0", 5, 0, [1] * 10),
                attempts("ggcnn", "GraspBench/Stacked-v0", 5, 0, [1] * 8 + [0] * 2),
                # The papers' protocol of a network: judged by its own bar, never the planners'.
                attempts("mlgsl@papers", "GraspBench/Pile-v0", 10, 0),
                attempts("mlgsl@papers", "GraspBench/Packed-v0", 9, 2),
            ]
        )
    )
    rows = bars(summary, suite_seconds=16 * 60)
    assert [verdict for _, _, verdict in rows] == [
        "met (the interval spans the bar)",  # Single: 100% >= 95%, but 10 attempts: [72%, 100%]
        "MISSED (the interval spans the bar)",  # Pile: the best removal is 80% < 90%, mlgsl@papers aside
        "not measured",  # no planner on Packed-v0 in this summary
        "met",  # collisions in piles: mlgsl 20% < mlgsl-single 50%
        "met",  # top-level first: gpnet 100% vs ggcnn 80%, +20 points
        "met",  # papers' protocol on Pile: 100% success, no collision
        "MISSED",  # papers' protocol on Packed: 90% success, but 20% collisions > 10%
        "MISSED",  # 16 minutes > 15
    ]
    assert "mlgsl 20.0%" in rows[3][1] and "+20.0 points" in rows[4][1]
    table = "\n".join(protocols_markdown(summary))
    assert (
        "| GraspBench/Pile-v0 | mlgsl | 80.0 [49.0, 94.3] | 20.0 [5.7, 51.0] | 100.0 [72.2, 100.0] | 0.0 [0.0, 27.8] "
        "| - | -20.0 |" in table  # records without grasp centres: no new collisions to count
    )


def test_a_collision_that_repeats_a_failed_grasp_is_not_new():
    # One episode: a collision at (10, 10), the same grasp 2 px away, a success there (a success is
    # no failure to repeat), a collision 5 px from the first failure, then one beside that new one.
    episode = pd.DataFrame(
        {
            "env": "GraspBench/Pile-v0",
            "agent": "a@papers",
            "seed": 0,
            "episode": 0,
            "attempt": [1, 2, 3, 4, 5],
            "u": [10.0, 12.0, 30.0, 10.0, 13.0],
            "v": [10.0, 10.0, 30.0, 15.0, 17.0],
            "outcome": ["collision", "collision", "success", "collision", "collision"],
            "success": [0, 0, 1, 0, 0],
            "collision": [1, 1, 0, 1, 1],
            "removed": [0, 0, 1, 0, 0],
            "objects_at_start": 3,
            "top_level": None,
            "planning_ms": 1.0,
        }
    )
    assert repeats_failure(episode).tolist() == [False, True, False, False, True]
    # The same grasps in another episode are new again: an episode's memory is its own.
    other = episode.assign(episode=1, attempt=[1, 2, 3, 4, 5])
    assert (
        repeats_failure(pd.concat([episode, other], ignore_index=True)).tolist()
        == [False, True, False, False, True] * 2
    )
    row = summary_table(episode).iloc[0]
    assert row["collision_rate"] == 0.8 and row["new_collision_rate"] == 0.4


def test_priority_bars_need_the_intervals_apart():
    def stacks(agent, top_level):
        n = len(top_level)
        return pd.DataFrame(
            {
                "env": "GraspBench/PriorityStacks-v0",
                "agent": agent,
                "seed": 0,
                "episode": range(n),
                "attempt": 1,
                "outcome": "success",
                "success": 1,
                "collision": 0,
                "removed": 1,
                "objects_at_start": 4,
                "top_level": top_level,
                "planning_ms": 1.0,
            }
        )

    summary = summary_table(
        pd.concat(
            [
                stacks("random", [1] * 40 + [0] * 60),
                stacks("ggcnn", [1] * 70 + [0] * 30),
                stacks("gpnet", [1] * 82 + [0] * 18),  # +12 points, but the intervals overlap
            ]
        )
    )
    rows = priority_bars(summary)
    assert [verdict for _, _, verdict in rows] == ["met", "MISSED", "not measured"]  # no @papers runs
    assert "+12.0 points" in rows[1][1]
    assert summary.set_index("agent").loc["gpnet", "first_top_level_rate"] == 0.82
    wide = summary_table(
        pd.concat(
            [
                stacks("random", [1] * 70 + [0] * 30),
                stacks("ggcnn", [1] * 50 + [0] * 50),
                stacks("gpnet", [1] * 95 + [0] * 5),
            ]
        )
    )
    assert [verdict for _, _, verdict in priority_bars(wide)] == ["MISSED", "met", "not measured"]


def test_a_changed_agent_is_evaluated_again(tmp_path):
    spec = tmp_path / "mine.yaml"
    spec.write_text("class: heuristic\n")
    run_sweep(["GraspBench/Single-v0"], [str(spec)], 1, tmp_path / "out", executor="serial", progress=False)
    run_sweep(["GraspBench/Single-v0"], ["random"], 1, tmp_path / "out", executor="serial", progress=False, resume=True)
    before = {path.name for path in (tmp_path / "out" / "attempts").glob("*.csv")}
    spec.write_text("class: heuristic\nmargin_m: 0.02\n")  # as if retrained: its records are stale
    again = run_sweep(
        ["GraspBench/Single-v0"], [str(spec)], 1, tmp_path / "out", executor="serial", progress=False, resume=True
    )
    after = {path.name for path in (tmp_path / "out" / "attempts").glob("*.csv")}
    assert again.attrs["resumed_blocks"] == 0  # recorded anew,
    [stale] = before - after  # and the stale block is gone once the sweep is done;
    assert "__mine-" in stale and any("__random-" in name for name in after)  # another agent's stays


def test_an_edited_planner_is_evaluated_again(tmp_path, monkeypatch):
    """A planner's code is an input of its records like its weights: the same YAML and weights with
    edited code must not reuse the blocks recorded before the edit."""
    monkeypatch.syspath_prepend(str(tmp_path))
    planner = tmp_path / "my_planner_module.py"
    planner.write_text("from graspbench.agents import HeuristicAgent\n\n\nclass Planner(HeuristicAgent):\n    pass\n")
    spec = tmp_path / "mine.yaml"
    spec.write_text("class: my_planner_module:Planner\n")
    before = inputs_fingerprint("GraspBench/Single-v0", str(spec))
    assert inputs_fingerprint("GraspBench/Single-v0", str(spec)) == before
    planner.write_text(planner.read_text().replace("pass", "margin_m: float = 0.02"))
    assert inputs_fingerprint("GraspBench/Single-v0", str(spec)) != before


def test_a_plugin_that_does_not_import_fails_naming_its_class(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("class: no_such_package.planner:Planner\n")
    # A worker's error arrives wrapped; the command line prints its cause.
    with pytest.raises(RuntimeError, match="no_such_package.planner:Planner' cannot be imported"):
        run_sweep(["GraspBench/Single-v0"], [str(spec)], 1, tmp_path / "out", executor="serial", progress=False)


def test_a_resumed_sweep_says_so(tmp_path):
    first = run_sweep(["GraspBench/Single-v0"], ["heuristic"], 1, tmp_path, executor="serial", progress=False)
    again = run_sweep(
        ["GraspBench/Single-v0"], ["heuristic"], 1, tmp_path, executor="serial", progress=False, resume=True
    )
    assert (first.attrs["resumed_blocks"], again.attrs["resumed_blocks"]) == (0, 1)


def test_a_fresh_run_runs_every_block_and_compares_with_the_committed_reference(quick):
    assert len(list((quick / "attempts").glob("*.csv"))) == 4  # 2 environments x 2 agents x 1 block, all run now
    report = (quick / "report.md").read_text()
    assert "resumed" not in report and "## Against the reference" in report
    printed = (quick / "printed.txt").read_text()
    assert (
        f"against the reference {REFERENCE / 'summary.csv'}" in printed
        or "against the reference results/benchmark/summary.csv" in printed
    )
    rows = [line for line in printed.splitlines() if line.startswith("  ") and " vs " in line]
    assert len(rows) == 4
    assert all(line.endswith("-> agrees") or "-> DISAGREES (" in line for line in rows)
    assert "of 4 agent-environment pairs agree with the reference" in printed


def test_a_run_into_the_folder_of_an_earlier_run_does_not_read_its_records(tmp_path):
    first = run_sweep(["GraspBench/Single-v0"], ["random"], 1, tmp_path, executor="serial", progress=False)
    [block] = (tmp_path / "attempts").glob("*.csv")
    doctored = first.assign(success=True)  # records that would flatter the agent if read again
    block.write_text(doctored.to_csv(index=False))
    again = run_sweep(["GraspBench/Single-v0"], ["random"], 1, tmp_path, executor="serial", progress=False)
    assert (again.attrs["resumed_blocks"], again.attrs["discarded_blocks"]) == (0, 1)
    pd.testing.assert_frame_equal(first.drop(columns="planning_ms"), again.drop(columns="planning_ms"))


def test_a_damaged_block_of_records_is_redone_naming_it_when_resumed(tmp_path, capsys):
    first = run_sweep(["GraspBench/Single-v0"], ["random"], 1, tmp_path, executor="serial", progress=False)
    [block] = (tmp_path / "attempts").glob("*.csv")
    records = block.read_text()
    header_only, mid_row = records[: records.index("\n") + 1], records[: records.index("\n") + 60]
    for garbage in ('\x00\x01garbage,,\n"unclosed', "", "env,agent\nx,y\n", header_only, mid_row):
        block.write_text(garbage)
        again = run_sweep(
            ["GraspBench/Single-v0"], ["random"], 1, tmp_path, executor="serial", progress=False, resume=True
        )
        assert f"{block} is damaged (" in capsys.readouterr().err and again.attrs["resumed_blocks"] == 0
        pd.testing.assert_frame_equal(first.drop(columns="planning_ms"), again.drop(columns="planning_ms"))


def test_a_block_that_fails_to_read_after_its_checks_names_it(tmp_path):
    run_sweep(["GraspBench/Single-v0"], ["random"], 1, tmp_path, executor="serial", progress=False)
    [block] = (tmp_path / "attempts").glob("*.csv")
    block.write_text("env,agent\nx,y\n")
    with pytest.raises(FileFormatError, match=f"{block}.* is not a file of graspbench attempt records .*delete it"):
        read_records(block)


def _attempts(agent, env, successes, collisions, n=10):
    return pd.DataFrame(
        {
            "env": env,
            "agent": agent,
            "seed": 0,
            "episode": range(n),
            "attempt": 0,
            "outcome": ["success"] * successes + ["collision"] * (n - successes),
            "success": [1] * successes + [0] * (n - successes),
            "collision": [1] * collisions + [0] * (n - collisions),
            "removed": [1] * successes + [0] * (n - successes),
            "objects_at_start": 1,
            "top_level": None,
            "planning_ms": 1.0,
        }
    )


def test_the_comparison_says_which_rates_disagree():
    env = "GraspBench/Single-v0"
    run = summary_table(pd.concat([_attempts("a", env, 9, 1), _attempts("b", env, 1, 9), _attempts("new", env, 5, 5)]))
    reference = summary_table(pd.concat([_attempts("a", env, 32, 8, n=40), _attempts("b", env, 36, 2, n=40)]))
    rows = compare(run, reference)
    assert [r["disagree"] for r in rows] == [[], ["grasp success", "object removal", "collision"], None]
    text = comparison_text(rows, "ref/summary.csv")
    assert "-> agrees" in text.splitlines()[1] and "-> DISAGREES (grasp success, object removal, collision)" in text
    assert "-> not in the reference" in text
    assert text.splitlines()[-1].startswith("1 of 2 agent-environment pairs agree with the reference")
    assert "disagreeing: b on Single-v0" in text


@pytest.mark.parametrize("content", ['garbage\x00,\n"', "", "agent,env\nrandom,GraspBench/Single-v0\n"])
def test_a_damaged_reference_fails_before_the_run_naming_it(tmp_path, capsys, content):
    (tmp_path / "summary.csv").write_text(content)
    assert (
        main(["benchmark", "--suite", "quick", "--out", str(tmp_path / "run"), "--reference", str(tmp_path), "--quiet"])
        == 2
    )
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1
    assert f"{tmp_path / 'summary.csv'} is not a graspbench benchmark summary" in error
    assert not (tmp_path / "run").exists()  # nothing was run
