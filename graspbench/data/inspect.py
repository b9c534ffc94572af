"""``graspbench dataset info`` and ``graspbench dataset show``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..grasp import GraspRectangle
from ..io import save_figure
from ..outcomes import Outcome
from .store import read_index, read_metadata, read_scene

OUTCOME_COLOURS = {
    Outcome.SUCCESS: "limegreen",
    Outcome.COLLISION: "red",
    Outcome.SLIPPED: "orange",
    Outcome.NO_CONTACT: "grey",
    Outcome.MULTI_PICK: "magenta",
}


def dataset_info(root) -> dict:
    """Counts, rates and the success rate of candidates per object."""
    metadata = read_metadata(root)
    index = read_index(root)
    per_object = []
    for scene in index["scene"]:
        data = read_scene(root, int(scene))
        names = data["object_names"][data["label_object"]]
        per_object.append(pd.DataFrame({"object": names, "success": data["label_success"]}))
    labels = pd.concat(per_object) if per_object else pd.DataFrame(columns=["object", "success"])
    by_object = labels.groupby("object")["success"].agg(["mean", "count"]).sort_values("mean")
    successes = int(index["successes"].sum())
    return {
        "env": metadata["env"],
        "split": metadata["spec"]["scene"]["split"],
        "seed": metadata["seed"],
        "scenes": len(index),
        "scenes_requested": metadata["scenes"],
        "objects": int(index["objects"].sum()),
        "candidates": int(index["candidates"].sum()),
        "successes": successes,
        "candidate_success_rate": successes / max(int(index["candidates"].sum()), 1),
        "successes_per_scene": float(index["successes"].mean()) if len(index) else 0.0,
        "successes_per_object": successes / max(int(index["objects"].sum()), 1),
        "collision_free_fraction_of_successes": int(index["collision_free_successes"].sum()) / max(successes, 1),
        "objects_with_a_success": int(index["objects_with_success"].sum()) / max(int(index["objects"].sum()), 1),
        "success_rate_by_object": {
            name: {"rate": round(float(row["mean"]), 3), "candidates": int(row["count"])}
            for name, row in by_object.iterrows()
        },
    }


def print_info(info: dict) -> None:
    print(
        f"{info['env']} ({info['split']} objects, seed {info['seed']}): "
        f"{info['scenes']} of {info['scenes_requested']} scenes, {info['objects']} objects"
    )
    print(f"  candidates tried           {info['candidates']}")
    print(
        f"  verified successes         {info['successes']} ({100 * info['candidate_success_rate']:.1f}% of candidates), "
        f"{info['successes_per_scene']:.1f} per scene, {info['successes_per_object']:.2f} per object"
    )
    print(f"  collision-free successes   {100 * info['collision_free_fraction_of_successes']:.1f}%")
    print(f"  objects with a success     {100 * info['objects_with_a_success']:.1f}%")
    hardest = list(info["success_rate_by_object"].items())[:5]
    if hardest:
        print(
            "  hardest objects            "
            + ", ".join(f"{n} {100 * r['rate']:.0f}% of {r['candidates']}" for n, r in hardest)
        )


def show_labels(root, scene: int, out: str) -> None:
    """The scene's image with every label drawn as its rectangle, coloured by outcome, beside the
    depth, segmentation and priority maps."""
    # matplotlib here, not at the head: `dataset info` imports this module and draws nothing, and
    # the Agg backend must be chosen before pyplot is imported.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    data = read_scene(root, scene)
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.6))
    axes[0].imshow(data["rgb"])
    for k in range(len(data["label_u"])):
        rectangle = GraspRectangle(
            data["label_u"][k],
            data["label_v"][k],
            data["label_angle"][k],
            data["label_opening_px"][k],
            data["label_jaw_size_px"][k],
        )
        corners = np.vstack([rectangle.corners(), rectangle.corners()[:1]])
        colour = OUTCOME_COLOURS.get(str(data["label_outcome"][k]), "white")
        axes[0].plot(corners[:, 0], corners[:, 1], color=colour, linewidth=1.2)
    axes[0].legend(
        handles=[Line2D([], [], color=c, label=o) for o, c in OUTCOME_COLOURS.items()],
        loc="lower left",
        fontsize=7,
        framealpha=0.7,
    )
    axes[0].set_title(f"{len(data['label_u'])} labels")
    image = axes[1].imshow(data["depth"])
    fig.colorbar(image, ax=axes[1], fraction=0.046, label="depth (m)")
    axes[1].set_title("depth")
    axes[2].imshow(data["segmentation"], cmap="tab20", interpolation="nearest")
    axes[2].set_title("segmentation")
    image = axes[3].imshow(data["priority"], vmin=0, vmax=1)
    fig.colorbar(image, ax=axes[3], fraction=0.046, label="priority")
    axes[3].set_title("grasp priority")
    for ax in axes:
        ax.set_xlim(-0.5, data["depth"].shape[1] - 0.5)
        ax.set_ylim(data["depth"].shape[0] - 0.5, -0.5)
    fig.suptitle(f"{root}: scene {scene}")
    fig.tight_layout()
    save_figure(fig, out)
