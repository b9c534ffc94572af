"""``graspbench perf sim``: what a grasp trial costs against the physics floor, measured in one run.

For each object kind, on pile scenes: a heuristic grasp trial is timed (approach, close, lift,
outcome), then the same scene is rebuilt exactly from its recorded poses and stepped the same
number of times with the gripper parked: that is the floor. ``overhead_ratio`` = trial / floor.
``physics_share`` says how much of the trial was spent inside ``stepSimulation``: the rest is
graspbench's own Python. Render time and the memory growth over many resets are measured too.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
from tqdm import tqdm

from ..agents import HeuristicAgent
from ..envs import make_env
from ..outcomes import Outcome
from ..planners.inputs import model_input
from ..sim.gripper import Gripper
from ..sim.scenes import rebuild_scene
from ..sim.world import World

# What only some measurements use is imported in their functions: torch with the planners (perf
# planners, perf policies) and pandas with the dataset writer and the runner (perf datagen, perf
# policies). perf sim measures the simulator, its resident memory included (rss_before_mb).

OBJECT_KINDS = {"boxes": "blocks", "meshes": "random_urdfs"}


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def floor_seconds(world, record, spec, steps: int) -> float:
    """The physics floor: ``steps`` bare ``stepSimulation`` calls on ``record`` rebuilt in
    ``world``, the hand parked (wall-clock seconds)."""
    world.reset()
    rebuild_scene(world, record, spec.scene.workspace_m)
    Gripper(world, spec.gripper)
    step = world.client.stepSimulation
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def trial_cost(objects: str, trials: int, env_id: str = "GraspBench/Pile-v0", progress: bool = True) -> dict:
    env = make_env(env_id, scene={"objects": objects, "split": "all"})
    agent = HeuristicAgent()
    steps, trial_s, floor_s, physics_s, outcomes = [], [], [], [], []
    try:
        for i in tqdm(range(trials), desc=f"trials ({objects})", disable=not progress):
            observation, info = env.reset(seed=i)
            record = env.scene.record()
            position, yaw, opening_m = env.grasp_to_pose(agent.act(observation, info))

            world = env.world
            steps_before, physics_before = world.steps, world.physics_time_s
            start = time.perf_counter()
            result = env.gripper.execute(position, yaw, opening_m, env.scene.bodies)
            trial_s.append(time.perf_counter() - start)
            steps.append(world.steps - steps_before)
            physics_s.append(world.physics_time_s - physics_before)
            outcomes.append(result.outcome.value)

            floor_s.append(floor_seconds(world, record, env.bench_spec, steps[-1]))
    finally:
        env.close()
    trial_ms, floor_ms = 1000 * np.sum(trial_s) / trials, 1000 * np.sum(floor_s) / trials
    return {
        "objects": objects,
        "scene": env_id,
        "trials": trials,
        "steps_per_trial": float(np.mean(steps)),
        "trial_ms": round(trial_ms, 3),
        "floor_ms": round(floor_ms, 3),
        "overhead_ratio": round(trial_ms / floor_ms, 3),
        "physics_share": round(float(np.sum(physics_s) / np.sum(trial_s)), 3),
        "step_us_in_trial": round(1e6 * np.sum(physics_s) / np.sum(steps), 2),
        "step_us_floor": round(1e6 * np.sum(floor_s) / np.sum(steps), 2),
        "trials_per_core_second": round(1000 / trial_ms, 2),
        "success_rate": round(float(np.mean([o == Outcome.SUCCESS for o in outcomes])), 3),
    }


def render_cost(env_id: str = "GraspBench/Pile-v0", renders: int = 20) -> dict:
    env = make_env(env_id)
    try:
        env.reset(seed=0)
        start = time.perf_counter()
        for _ in range(renders):
            env.camera.render(env.world.client)
        ms = 1000 * (time.perf_counter() - start) / renders
        return {"render_ms": round(ms, 3), "width_px": env.camera.width_px, "height_px": env.camera.height_px}
    finally:
        env.close()


def reset_memory(resets: int, env_id: str = "GraspBench/Single-v0", progress: bool = True) -> dict:
    env = make_env(env_id)
    try:
        env.reset(seed=0)  # warm-up: first-time allocations are not growth
        before = _rss_mb()
        start = time.perf_counter()
        for i in tqdm(range(resets), desc="resets", disable=not progress):
            env.reset(seed=i)
        return {
            "env": env_id,
            "resets": resets,
            "rss_before_mb": round(before, 1),
            "rss_after_mb": round(_rss_mb(), 1),
            "growth_mb": round(_rss_mb() - before, 1),
            "reset_ms": round(1000 * (time.perf_counter() - start) / resets, 2),
        }
    finally:
        env.close()


def perf_sim(trials: int = 30, resets: int = 1000, progress: bool = True) -> dict:
    results = {kind: trial_cost(objects, trials, progress=progress) for kind, objects in OBJECT_KINDS.items()}
    results["render"] = render_cost()
    results["reset_memory"] = reset_memory(resets, progress=progress)
    return results


def perf_datagen(
    scenes: int = 8, env_id: str = "GraspBench/Pile-v0", floor_steps: int = 2000, progress: bool = True
) -> dict:
    """Dataset generation on one core (serial executor), scenes of random_urdfs train objects.

    The floor: ``floor_steps`` bare physics steps on the first scene with the hand parked, measured
    in the same run, so that ``scene_in_floor_steps`` (one scene's cost in such steps) compares
    runs on a machine whose load changes."""
    from ..data.generate import generate_dataset

    env = make_env(env_id, scene={"split": "train"})
    try:
        env.reset(seed=0)
        floor_s = floor_seconds(env.world, env.scene.record(), env.bench_spec, floor_steps)
    finally:
        env.close()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = generate_dataset(env_id, scenes, out, executor="serial", progress=progress)
        wall_s = time.perf_counter() - start
    return {
        "env": env_id,
        "objects": "random_urdfs",
        "split": "train",
        "scenes": scenes,
        "wall_s": round(wall_s, 2),
        "s_per_scene": round(wall_s / scenes, 3),
        "scenes_per_hour": round(3600 * scenes / wall_s, 1),
        "floor_ms_per_1000_steps": round(1e6 * floor_s / floor_steps, 1),
        "scene_in_floor_steps": round(wall_s / scenes / (floor_s / floor_steps)),
        "trials": summary["trials"],
        "trials_per_core_hour": round(3600 * summary["trials"] / wall_s),
        "verified_successes_per_core_hour": round(3600 * summary["successes"] / wall_s),
        "candidates": summary["candidates"],
        "successes": summary["successes"],
        "successes_per_object": round(summary["successes"] / max(summary["objects"], 1), 2),
    }


PLANNER_INPUTS = {
    "ggcnn": "depth",
    "ggcnn2": "depth",
    "grconvnet": "depth",
    "mlgsl_fcn": "depth",
    "mtgcnn": "rgb",
    "gpnet": "rgbd",
}


def perf_planners(repeats: int = 30, size_px: int = 224) -> list[dict]:
    """Computation time per grasp on one CPU core, batch 1: normalising the raw image, the network
    (in channels-last memory, see ``models.for_inference``), and post-processing to the best grasp,
    each network with the input its paper uses."""
    import torch

    from ..planners.models import build_model, for_inference
    from ..planners.postprocess import PostProcess, grasps_from_maps, maps_to_numpy
    from ..planners.train import INPUT_CHANNELS

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    depth = (0.5 - 0.05 * rng.random((size_px, size_px))).astype(np.float32)
    rgb = rng.integers(0, 256, (size_px, size_px, 3), dtype=np.uint8)
    rows = []
    for name, kind in PLANNER_INPUTS.items():
        model = for_inference(build_model(name, INPUT_CHANNELS[kind]))

        def plan():
            x = torch.from_numpy(model_input(kind, depth, rgb))[None].to(memory_format=torch.channels_last)
            with torch.no_grad():
                maps = model(x)
            return grasps_from_maps(**maps_to_numpy(maps, 0), settings=PostProcess(top_k=1))

        x = torch.zeros(1, INPUT_CHANNELS[kind], size_px, size_px).to(memory_format=torch.channels_last)
        with torch.no_grad():
            for _ in range(3):
                plan()
                model(x)
            network = _median_ms(lambda: model(x), repeats)
        rows.append(
            {
                "name": name,
                "input": kind,
                "params": sum(p.numel() for p in model.parameters()),
                "ctpg_ms": round(_median_ms(plan, repeats), 3),
                "network_ms": round(network, 3),
            }
        )
    return rows


def _median_ms(fn, repeats: int, clock=time.perf_counter) -> float:
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(1000 * (clock() - start))
    return float(np.median(times))


def perf_demonstrations(
    demonstrate, bins: int = 3, picks_per_bin: int = 12, env_id: str = "GraspBench/BinPick-v1", progress: bool = True
) -> dict:
    """What one demonstration of ``graspbench ivfp collect`` costs on one core (the demonstrator's
    choice, approach, close, probe with its film, extraction, settling), against the floor: the
    same number of physics steps on the same bin, rebuilt from its poses, with the hand parked.
    Filling a bin is paid once per bin and reported per pick beside it.

    Args:
        demonstrate: the demonstrator, ``demonstrate(env, observation, rng) -> Grasp``
            (:func:`graspbench.ivfp.demonstrator.demonstrate`; passed in: bench sits below ivfp).
    """
    env = make_env(env_id, scene={"split": "train"})
    floor_world = World(solver_iterations=env.bench_spec.solver_iterations)
    pick_s, floor_s, steps, physics_s, fill_s, outcomes = [], [], [], [], [], []
    try:
        for b in tqdm(range(bins), desc="bins", disable=not progress):
            start = time.perf_counter()
            observation, info = env.reset(seed=b)
            fill_s.append(time.perf_counter() - start)
            for k in range(picks_per_bin):
                if k:
                    observation, info = env.reset()
                    if info["new_bin"]:
                        break
                record = env.scene.record()
                world = env.world
                steps_before, physics_before = world.steps, world.physics_time_s
                start = time.perf_counter()
                grasp = demonstrate(env, observation, np.random.default_rng([b, k]))
                outcomes.append(env.step_grasp(grasp)[4]["outcome"])
                pick_s.append(time.perf_counter() - start)
                steps.append(world.steps - steps_before)
                physics_s.append(world.physics_time_s - physics_before)

                floor_s.append(floor_seconds(floor_world, record, env.bench_spec, steps[-1]))
    finally:
        env.close()
        floor_world.close()
    picks = len(pick_s)
    return {
        "env": env_id,
        "bins": bins,
        "picks": picks,
        "outcomes": {o: outcomes.count(o) for o in sorted(set(outcomes))},
        "steps_per_pick": float(np.mean(steps)),
        "pick_s": round(float(np.mean(pick_s)), 3),
        "floor_s": round(float(np.mean(floor_s)), 3),
        "overhead_ratio": round(float(np.sum(pick_s) / np.sum(floor_s)), 3),
        "physics_share": round(float(np.sum(physics_s) / np.sum(pick_s)), 3),
        "fill_s_per_pick": round(float(np.sum(fill_s) / picks), 3),
        "core_s_per_demonstration": round(float((np.sum(pick_s) + np.sum(fill_s)) / picks), 3),
    }


IVFP_POLICY_AGENTS = ("il", "il-free", "rl-free20")


def perf_policies(
    bins: int = 3,
    repeats: int = 10,
    agents: tuple[str, ...] = IVFP_POLICY_AGENTS,
    env_id: str = "GraspBench/BinPick-v1",
    progress: bool = True,
) -> list[dict]:
    """Planning time per grasp of the IVFP policy agents on one core (torch with one thread), on
    the first target of ``bins`` bins: everything :meth:`act` does (the compact input, the
    free-space check where the agent acts on free space, the network, the choice). The floor is
    the network and the choice alone, on the input already prepared. Both wall-clock and the
    process's CPU time are given: on a shared machine only the CPU time means one core's cost."""
    import torch

    from .runner import load_agent

    torch.set_num_threads(1)
    env = make_env(env_id, scene={"split": "train"})
    try:
        observations = [env.reset(seed=b) for b in range(bins)]
    finally:
        env.close()
    rows = []
    for name in tqdm(agents, desc="agents", disable=not progress):
        agent = load_agent(name)
        policy = agent.policy
        plan_wall, plan_cpu, floor_wall = [], [], []
        for observation, info in observations:
            agent.act(observation, info)  # warm-up
            plan_wall.append(_median_ms(lambda: agent.act(observation, info), repeats))
            plan_cpu.append(_median_ms(lambda: agent.act(observation, info), repeats, clock=time.process_time))
            compact = policy.prepare(observation, info)
            floor_wall.append(_median_ms(lambda: policy.act(observation, compact=compact), repeats))
        plan, floor = float(np.median(plan_wall)), float(np.median(floor_wall))
        rows.append(
            {
                "agent": name,
                "free_space": bool(policy.free_space),
                "plan_ms": round(plan, 2),
                "plan_cpu_ms": round(float(np.median(plan_cpu)), 2),
                "network_ms": round(floor, 2),
                "ratio_to_network": round(plan / floor, 2),
            }
        )
    return rows
