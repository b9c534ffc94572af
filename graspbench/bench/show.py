"""``graspbench show``: one picture of a scene."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..envs import make_env  # noqa: E402
from ..io import save_figure  # noqa: E402
from ..sim.scenes import SUPPORT_KINDS  # noqa: E402


def show_scene(env_id: str, seed: int, out: str) -> None:
    """RGB, depth and segmentation of the scene reset with ``seed``; for stacked and bin scenes
    the support graph drawn over the image (arrows from each object to what it rests on)."""
    env = make_env(env_id, observe_segmentation=True)
    try:
        observation, info = env.reset(seed=seed)
        graph = env.scene.support_graph()
        centres = {}
        for body in env.scene.bodies:
            u, v, _ = env.camera.world_to_pixel(env.world.pose(body)[0])
            centres[body] = (float(u), float(v))
        kind = env.bench_spec.scene.kind
    finally:
        env.close()

    with_graph = kind in SUPPORT_KINDS
    fig, axes = plt.subplots(1, 3 + with_graph, figsize=(4.2 * (3 + with_graph), 4.4))
    axes[0].imshow(observation["rgb"])
    axes[0].set_title("RGB")
    image = axes[1].imshow(observation["depth"], cmap="viridis")
    fig.colorbar(image, ax=axes[1], fraction=0.046, label="depth (m)")
    axes[1].set_title("depth")
    segmentation = observation["segmentation"]
    axes[2].imshow(np.where(segmentation >= 0, segmentation + 1, 0), cmap="tab20", interpolation="nearest")
    axes[2].set_title("segmentation")
    if with_graph:
        ax = axes[3]
        ax.imshow(observation["rgb"], alpha=0.5)
        for body, (u, v) in centres.items():
            colour = "tab:green" if graph.top_level[body] else "tab:red"
            ax.plot(u, v, "o", color=colour, markersize=9)
            ax.annotate(
                f"{body}: level {graph.level[body]}", (u, v), xytext=(6, -6), textcoords="offset points", fontsize=8
            )
            for below in graph.rests_on[body]:
                ax.annotate("", xy=centres[below], xytext=(u, v), arrowprops={"arrowstyle": "->", "color": "black"})
        ax.set_title("support graph (green: top-level)")
    for ax in axes:
        ax.set_xlabel("u (px)")
        ax.set_ylabel("v (px)")
    fig.suptitle(f"{env_id}, seed {seed}: {info['objects_at_start']} objects")
    fig.tight_layout()
    save_figure(fig, out)
