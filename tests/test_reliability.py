"""Issue 28: nothing lost, nothing silently wrong. One run per output folder, damaged blocks and
scenes redone on resume, every spec field checked, every planner's grasp validated before it is
executed, ordinary mistakes as one line before any work, workers that die with their parent."""

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import graspbench  # noqa: F401  (registers)
from graspbench.bench.runner import run_episodes, run_sweep
from graspbench.cli import main
from graspbench.envs import BinPickEnv, ClutterRemovalEnv, SpecError, load_spec
from graspbench.grasp import STEP_AFTER_END, Grasp, InvalidGraspError
from graspbench.io import LOCK_NAME, FolderBusyError, own_folder, write_atomic

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, *args, **kwargs) -> subprocess.Popen:
    """A Python process running ``code`` with this graspbench importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(Path(__file__).parent)])}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


# --- 1. one run per output folder --------------------------------------------------------------


def test_a_folder_held_by_a_live_run_is_refused_naming_its_pid(tmp_path, capsys):
    holder = _python(
        """
        import sys, time
        from graspbench.io import own_folder
        with own_folder(sys.argv[1], "benchmark"):
            print("holding", flush=True)
            time.sleep(60)
    """,
        tmp_path,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        block = tmp_path / "attempts" / "GraspBench_Single-v0__random-00000000__seed0__00000-00000.csv"
        write_atomic(block, "the holder's block\n")
        with pytest.raises(FolderBusyError, match=rf"in use by another graspbench run \(PID {holder.pid}: benchmark\)"):
            run_sweep(["GraspBench/Single-v0"], ["random"], 1, tmp_path, executor="serial", progress=False)
        assert block.read_text() == "the holder's block\n"  # nothing of the holder's was deleted
        code = main(["benchmark", "--suite", "quick", "--out", str(tmp_path), "--quiet", "--reference", "none"])
        error = capsys.readouterr().err.strip()
        assert code == 2 and len(error.splitlines()) == 1 and f"PID {holder.pid}" in error
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing the lock: the next run takes it over and says so.
    assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(holder.pid)
    with own_folder(tmp_path, "benchmark"):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    assert f"taking over the lock of PID {holder.pid}, which is no longer running" in capsys.readouterr().err
    assert not (tmp_path / LOCK_NAME).exists()  # released at the end


def test_the_lock_is_reentrant_and_clears_what_a_killed_run_was_writing(tmp_path):
    (tmp_path / "scenes").mkdir()
    half_written = [tmp_path / "scenes" / ".000003.npz.k2j_x9ab", tmp_path / ".rates.tmp.png"]
    for path in half_written:
        path.write_text("half")
    kept = tmp_path / "scenes" / "000001.npz"
    kept.write_text("a scene")
    with own_folder(tmp_path, "generate"), own_folder(tmp_path, "generate"):
        assert (tmp_path / LOCK_NAME).exists()
    assert not any(path.exists() for path in half_written) and kept.exists()


# --- 2. damaged blocks and scenes are redone on resume -----------------------------------------


def test_a_truncated_block_is_redone_when_resumed(tmp_path, capsys):
    envs, agents = ["GraspBench/Pile-v0"], ["random"]
    complete = run_sweep(envs, agents, 2, tmp_path, executor="serial", progress=False)
    [block] = (tmp_path / "attempts").glob("*.csv")
    block.write_bytes(block.read_bytes()[:600])  # cut mid-row, as a full disk or a copy would
    resumed = run_sweep(envs, agents, 2, tmp_path, executor="serial", progress=False, resume=True)
    err = capsys.readouterr().err
    assert f"{block} is damaged (" in err and "redoing this block" in err
    assert resumed.attrs["resumed_blocks"] == 0
    pd.testing.assert_frame_equal(complete.drop(columns="planning_ms"), resumed.drop(columns="planning_ms"))
    # An intact block is reused, and a block that lost whole rows (a cut at a line end) is caught too.
    assert (
        run_sweep(envs, agents, 2, tmp_path, executor="serial", progress=False, resume=True).attrs["resumed_blocks"]
        == 1
    )
    text = block.read_text()
    block.write_text(text[: text.index("\n", len(text) // 2) + 1])
    run_sweep(envs, agents, 2, tmp_path, executor="serial", progress=False, resume=True)
    assert "lines where" in capsys.readouterr().err


def test_a_damaged_scene_is_remade_when_a_dataset_is_resumed(tmp_path, capsys):
    from graspbench.data.candidates import LabelSettings
    from graspbench.data.generate import generate_dataset
    from graspbench.data.store import read_scene, scene_path

    settings = LabelSettings(candidates_per_object=1, surface_points=100)
    generate_dataset("GraspBench/Single-v0", 2, tmp_path, executor="serial", settings=settings, progress=False)
    before = read_scene(tmp_path, 1)
    path = scene_path(tmp_path, 1)
    path.write_bytes(path.read_bytes()[:1000])
    summary = generate_dataset(
        "GraspBench/Single-v0", 2, tmp_path, executor="serial", settings=settings, progress=False
    )
    err = capsys.readouterr().err
    assert f"{path} is damaged (" in err and "redoing this scene" in err and summary["made_now"] == 1
    after = read_scene(tmp_path, 1)
    assert all(np.array_equal(before[key], after[key], equal_nan=before[key].dtype.kind == "f") for key in before)


# --- 3. every spec field is checked --------------------------------------------------------------


@pytest.mark.parametrize(
    "override, field",
    [
        ({"gripper": {"speed_m_s": 0}}, "gripper.speed_m_s"),
        ({"gripper": {"finger_force_n": -20}}, "gripper.finger_force_n"),
        ({"gripper": {"grasp_depth_m": math.nan}}, "gripper.grasp_depth_m"),
        ({"gripper": {"max_opening_m": -0.08}}, "gripper.max_opening_m"),
        ({"gripper": {"max_opening_m": 0.5}}, "gripper.max_opening_m"),
        ({"gripper": {"lift_speed_m_s": math.inf}}, "gripper.lift_speed_m_s"),
        ({"gripper": {"check_every": 0}}, "gripper.check_every"),
        ({"gripper": {"fingertip_clearance_m": -0.001}}, "gripper.fingertip_clearance_m"),
        ({"noise": {"std_m": -0.01}}, "noise.std_m"),
        ({"noise": {"edge_dropout": 1.5}}, "noise.edge_dropout"),
        ({"noise": {"hole_fraction": math.nan}}, "noise.hole_fraction"),
        ({"camera": {"height_m": math.inf}}, "camera.height_m"),
    ],
)
def test_every_gripper_and_noise_field_is_checked_naming_it(override, field):
    with pytest.raises(SpecError, match=rf"envs/pile.yaml: {field}: expected"):
        load_spec(REPO / "envs" / "pile.yaml", **override)


@pytest.mark.parametrize(
    "override, field",
    [
        ({"pick": {"brush_force_n": math.nan}}, "pick.brush_force_n"),
        ({"pick": {"probe": {"lift_m": math.inf}}}, "pick.probe.lift_m"),
        ({"pick": {"widths_m": [0.02, math.inf]}}, "pick.widths_m"),
    ],
)
def test_no_field_anywhere_may_be_nan_or_infinite(override, field):
    with pytest.raises(SpecError, match=rf"{field}: expected a finite number"):
        load_spec(REPO / "envs" / "binpick.yaml", **override)


def test_the_shipped_specs_pass_the_checks():
    for path in sorted((REPO / "envs").glob("*.yaml")):
        load_spec(path)


# --- 4. a planner's grasps are validated before execution ------------------------------------


class FixedPlanner:
    """A test planner: the same grasp every time, whatever it is."""

    def __init__(self, name="fixed", u=112.0, v=112.0, angle_rad=0.0, opening_px=40.0, depth_m=None):
        self.name = name
        self.grasp = Grasp(u, v, angle_rad, opening_px, depth_m)

    def reset(self, seed):
        pass

    def act(self, observation, info):
        return self.grasp


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"angle_rad": math.nan, "opening_px": math.inf}, "angle_rad = nan is not finite"),
        ({"u": math.nan}, "u = nan is not finite"),
        ({"u": 1e7}, "u = 10000000.0 is outside the image"),
        ({"v": -3.0}, "v = -3.0 is outside the image"),
        ({"opening_px": -30.0}, "opening_px = -30.0 is not a positive opening"),
        ({"opening_px": 1e4}, "opening_px = 10000.0 is wider than the hand opens"),
        ({"depth_m": math.nan}, "depth_m = nan is not finite"),
        ({"u": "middle"}, "u = 'middle' is not a number"),
    ],
)
def test_an_invalid_grasp_from_a_test_planner_is_an_error_never_an_attempt(fields, message):
    planner = FixedPlanner(name="nan-planner", **fields)
    with pytest.raises(InvalidGraspError, match=rf"^agent nan-planner: invalid grasp: {message}"):
        run_episodes("GraspBench/Single-v0", planner, 1, progress=False)
    env = ClutterRemovalEnv(REPO / "envs" / "single.yaml")
    try:
        env.reset(seed=0)
        with pytest.raises(InvalidGraspError, match=f"invalid grasp: {message}"):
            env.step_grasp(planner.grasp)
        assert env.attempts == 0  # never executed
    finally:
        env.close()


def test_an_invalid_grasp_is_one_line_from_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    spec = tmp_path / "nan.yaml"
    spec.write_text("class: test_reliability:FixedPlanner\nangle_rad: .nan\nopening_px: .inf\n")
    code = main(["run", "--env", "GraspBench/Pile-v0", "--agent", str(spec), "--episodes", "1", "--quiet"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error == "graspbench: error: agent nan: invalid grasp: angle_rad = nan is not finite"


def test_stepping_after_the_end_is_the_same_error_in_every_environment():
    env = ClutterRemovalEnv(REPO / "envs" / "single.yaml")
    try:
        with pytest.raises(RuntimeError, match="call reset"):
            env.step(np.zeros(4))
        env.reset(seed=0)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(np.array([0.0, 0.0, 0.0, 0.5]))
            done = terminated or truncated
        with pytest.raises(RuntimeError) as clutter:
            env.step(np.zeros(4))
        env.reset(seed=0)
        env.step(np.array([0.0, 0.0, 0.0, 0.5]))  # a reset starts a new episode
    finally:
        env.close()
    env = BinPickEnv(REPO / "envs" / "binpick.yaml")
    try:
        observation, info = env.reset(seed=0)
        *_, terminated, _, _ = env.step(np.array([0.0, 0.0, 0.0, 0.0]))
        assert terminated
        with pytest.raises(RuntimeError) as picking:
            env.step(np.array([0.0, 0.0, 0.0, 0.0]))
    finally:
        env.close()
    assert str(clutter.value) == str(picking.value) == STEP_AFTER_END


# --- 5. ordinary mistakes: one line, a non-zero exit, before any work -----------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--env", "GraspBench/Single-v0", "--agent", "random", "--seed", "-1"],
        ["evaluate", "--env", "GraspBench/Single-v0", "--agent", "random", "--seed", "-1"],
        ["benchmark", "--suite", "quick", "--seed", "-1", "--out", "{tmp}/bench"],
        ["generate", "--env", "GraspBench/Single-v0", "--scenes", "1", "--seed", "-1", "--out", "{tmp}/data"],
    ],
)
def test_a_negative_seed_is_one_line_before_any_work(tmp_path, capsys, argv):
    code = main([arg.format(tmp=tmp_path) for arg in argv])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error == "graspbench: error: --seed must be 0 or more (got -1): seeds are counted up from it"
    assert list(tmp_path.iterdir()) == []  # no dataset.json, no empty index


@pytest.mark.parametrize(
    "argv, kind",
    [
        (["run", "--env", "GraspBench/Single-v0", "--agent", "random", "--out", "{folder}"], "a folder"),
        (["evaluate", "--env", "GraspBench/Single-v0", "--agent", "random", "--out", "{file}"], "a file"),
        (["benchmark", "--suite", "quick", "--out", "{file}"], "a file"),
        (["generate", "--env", "GraspBench/Single-v0", "--scenes", "1", "--out", "{file}"], "a file"),
        (["train", "--model", "ggcnn", "--loss", "imgmse", "--data", "{folder}", "--out", "{file}"], "a file"),
        (["analyze", "{folder}", "--out", "{file}"], "a file"),
        (["show", "--env", "GraspBench/Single-v0", "--out", "{folder}"], "a folder"),
        (
            ["generate", "--env", "GraspBench/Single-v0", "--scenes", "1", "--out", "{file}/dataset"],
            "a file, so no folder",
        ),
    ],
)
def test_an_existing_file_or_folder_of_the_wrong_kind_as_out_is_one_line(tmp_path, capsys, argv, kind):
    existing_file, folder = tmp_path / "notes.txt", tmp_path / "folder"
    existing_file.write_text("keep me")
    folder.mkdir()
    code = main([arg.format(file=existing_file, folder=folder) for arg in argv])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1 and f"is {kind}" in error, error
    assert existing_file.read_text() == "keep me" and list(folder.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes everywhere")
def test_an_unwritable_folder_is_one_line(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code = main(["benchmark", "--suite", "quick", "--out", str(locked / "bench")])
    assert code == 2 and "is not writable" in capsys.readouterr().err


def test_ctrl_c_in_generate_is_a_clean_line(tmp_path, capsys, monkeypatch):
    import graspbench.data.generate as generate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "generate_dataset", interrupted)
    code = main(
        ["generate", "--env", "GraspBench/Single-v0", "--scenes", "3", "--out", str(tmp_path / "data"), "--quiet"]
    )
    error = capsys.readouterr().err.strip()
    assert code == 130 and error == (
        f"interrupted: the finished scenes are kept in {tmp_path / 'data'}; run the same command again to make the rest"
    )
    assert not (tmp_path / "data" / LOCK_NAME).exists()


def test_analyze_warns_about_unknown_outcome_codes(tmp_path, capsys):
    from graspbench.bench.analyze import warn_unknown_outcomes

    records = pd.DataFrame({"outcome": ["success", "collision", "teleported", "teleported", "sim_error"]})
    assert warn_unknown_outcomes(records, tmp_path / "attempts.csv") == ["teleported"]
    assert "2 attempts have outcome codes this graspbench does not know (teleported)" in capsys.readouterr().err
    assert warn_unknown_outcomes(records.iloc[:2], tmp_path / "attempts.csv") == []


# --- 6. workers die with their parent; nothing left in /dev/shm --------------------------------


WORKER_SCRIPT = """
    import os, sys, time
    from graspbench.parallel import run_tasks
    import test_reliability

    for task, pid in run_tasks(test_reliability.worker_pid_after, [0.0, 0.0] + [30.0] * 4, executor="local", workers=2):
        print(pid, flush=True)
"""


def worker_pid_after(seconds: float) -> int:
    """A task: this worker's PID, after ``seconds`` (the semaphores it maps, if any, stay mapped)."""
    time.sleep(seconds)
    return os.getpid()


def _children(pid: int) -> set[int]:
    children = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nPPid:\t{pid}\n" in status.read_text():
                children.add(int(status.parent.name))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return children


def _semaphores(pid: int) -> list[str]:
    try:
        return [line for line in Path(f"/proc/{pid}/maps").read_text().splitlines() if "/dev/shm/sem." in line]
    except FileNotFoundError:
        return []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and the parent-death signal are Linux's")
def test_sigkill_of_the_main_process_leaves_no_worker_alive():
    main_process = _python(WORKER_SCRIPT)
    try:
        workers = {int(main_process.stdout.readline()) for _ in range(2)}  # each worker ran one quick task
        assert len(workers) == 2 and main_process.pid not in workers
        children = _children(main_process.pid)  # the workers and multiprocessing's resource tracker
        assert workers <= children
        # No named semaphore anywhere in the run: a group kill cannot leave one behind in /dev/shm.
        assert not any(_semaphores(pid) for pid in [main_process.pid, *workers])
        os.kill(main_process.pid, signal.SIGKILL)  # the main process only, as the OOM killer does
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in children)
    finally:
        main_process.kill()
        main_process.wait()
