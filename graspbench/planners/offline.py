"""Offline evaluation of a grasp network on a stored dataset.

Two measures side by side, because graspbench's labels were verified in simulation:

* the rectangle metric (Top-1, Top-5): a predicted grasp is correct when it matches some
  ground-truth positive label, angle within 30 degrees and IoU above 0.25. Both rectangles use the
  GG-CNN convention jaw size = opening / 2, so the score does not depend on the finger width;
* ``sim_top1_success``: the top-1 grasp executed in the simulator on the stored scene, rebuilt
  exactly from its recorded poses.
"""

from __future__ import annotations

import dataclasses

import torch
from tqdm import tqdm

from ..data.generate import stored_record, try_grasp
from ..data.store import read_metadata, read_scene
from ..envs.base import grasp_to_pose
from ..envs.spec import load_spec
from ..grasp import Grasp
from ..outcomes import Outcome
from ..sim.camera import Camera
from ..sim.world import World
from .postprocess import PostProcess, grasps_from_maps, maps_to_numpy, plan_clear


def predict_grasps(model, x: torch.Tensor, settings: PostProcess) -> list[list[Grasp]]:
    """Top-k grasps for every image of a batch, best first."""
    with torch.no_grad():
        maps = model(x)
    return [grasps_from_maps(**maps_to_numpy(maps, i), settings=settings) for i in range(x.shape[0])]


def rectangle_hits(grasps: list[Grasp], truth_uv, truth_angle, truth_opening_px) -> list[bool]:
    """For each predicted grasp: does it match any ground-truth rectangle?"""
    truths = [
        Grasp(float(u), float(v), float(a), float(o)).rectangle()
        for (u, v), a, o in zip(truth_uv, truth_angle, truth_opening_px)
    ]
    return [any(g.rectangle().matches(t) for t in truths) for g in grasps]


def rectangle_scores(model, loader, settings: PostProcess) -> dict:
    """Top-1 and Top-5 rectangle success over a DataLoader of GraspDataset batches (collated)."""
    model.eval()
    top1 = top5 = images = 0
    for batch in loader:
        predictions = predict_grasps(model, batch["x"], settings)
        for b, grasps in enumerate(predictions):
            mask = batch["label_mask"][b]
            if not mask.any():
                continue  # an image with no positive label cannot be scored
            hits = rectangle_hits(
                grasps[:5],
                batch["label_uv"][b][mask].numpy(),
                batch["label_angle"][b][mask].numpy(),
                batch["label_opening_px"][b][mask].numpy(),
            )
            top1 += bool(hits[:1] and hits[0])
            top5 += any(hits)
            images += 1
    return {
        "top1": top1 / images if images else float("nan"),
        "top5": top5 / images if images else float("nan"),
        "images": images,
    }


def simulated_top1(
    model,
    dataset,
    settings: PostProcess,
    progress: bool = True,
    scenes: int | None = None,
    check_clearance: bool = True,
    candidates: int = 10,
) -> dict:
    """Execute each image's top-1 grasp in the simulator on its stored scene, chosen as a
    :class:`~graspbench.agents.NetworkAgent` chooses it (with ``check_clearance``: the best of the
    ``candidates`` best peaks whose fingers land on free space). ``scenes``: only the first N."""
    spec = load_spec(read_metadata(dataset.root)["spec"])
    settings = dataclasses.replace(settings, top_k=candidates if check_clearance else 1)
    world = World(solver_iterations=spec.solver_iterations)
    outcomes = []
    model.eval()
    try:
        for i in tqdm(
            range(min(len(dataset), scenes or len(dataset))), desc="simulated top-1", disable=not progress, leave=False
        ):
            item = dataset[i]
            with torch.no_grad():
                maps = maps_to_numpy(model(item["x"][None]), 0)
            scene = read_scene(dataset.root, item["scene"])
            depth = scene["depth_noisy"] if dataset.noisy_depth else scene["depth"]
            camera = Camera(scene["intrinsics"], scene["extrinsics"], depth.shape[1], depth.shape[0])
            if check_clearance:
                grasp = plan_clear(
                    maps,
                    settings,
                    depth,
                    camera,
                    spec.gripper.max_opening_m,
                    spec.gripper.grasp_depth_m,
                    spec.gripper.fingertip_clearance_m,
                )
            else:
                grasp = grasps_from_maps(**maps, settings=settings)[0]
            position, yaw, opening_m = grasp_to_pose(grasp, camera, depth, spec.gripper)
            outcomes.append(try_grasp(world, stored_record(spec, scene), spec, position, yaw, opening_m).outcome.value)
    finally:
        world.close()
    counts = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    return {
        "sim_top1_success": counts.get(Outcome.SUCCESS.value, 0) / max(len(outcomes), 1),
        "sim_trials": len(outcomes),
        "sim_outcomes": counts,
    }
