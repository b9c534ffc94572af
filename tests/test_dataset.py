"""GraspDataset against a tiny dataset written by hand in the documented format."""

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from graspbench.planners.dataset import (
    OPENING_SCALE_PX,
    GraspDataset,
    collate,
    split_scenes,
)
from graspbench.planners.inputs import normalise_depth, normalise_rgb

SIZE = 64  # images are SIZE x SIZE; the centre is at (31.5, 31.5)
HALF_PI = np.pi / 2

# Scene 0: (u, v, angle, opening_px, jaw_size_px, outcome, collision_free).
SCENE0_LABELS = [
    (30, 20, 0.0, 30, 10, "success", True),  # A: centre third 10 along u, 10 across
    (50, 50, -HALF_PI, 30, 6, "success", True),  # B: axis along v: 10 along v, 6 across (u)
    (12, 45, np.pi / 4, 30, 6, "success", True),  # C: diagonal
    (10, 10, 0.0, 30, 10, "success", False),  # D: success, but collided
    (50, 15, 0.0, 30, 10, "collision", False),  # E: failure
    (20, 58, 0.0, 30, 10, "no_contact", True),  # F: failure, though collision free
]
# Scene 1: twelve well-separated positives, for the label subsets.
SCENE1_LABELS = [(8 + 10 * (i % 6), 16 + 30 * (i // 6), 0.3 * i - 1.5, 12, 4, "success", True) for i in range(12)]
# Scene 2: two positives and a negative; a far region makes the depth clip.
SCENE2_LABELS = [
    (20, 20, 0.5, 24, 8, "success", True),
    (44, 44, -0.5, 24, 8, "success", True),
    (32, 10, 0.0, 24, 8, "slipped", True),
]


def _scene(seed, labels, boxes):
    """Arrays of one scene in the format of docs/dataset_format.md; ``boxes``: (row0, row1, col0, col1, height_m)."""
    rng = np.random.default_rng(seed)
    depth = np.full((SIZE, SIZE), 0.7, dtype=np.float32)
    segmentation = np.full((SIZE, SIZE), -1, dtype=np.int16)
    priority = np.zeros((SIZE, SIZE), dtype=np.float32)
    for k, (r0, r1, c0, c1, height) in enumerate(boxes):
        depth[r0:r1, c0:c1] = 0.7 - height
        segmentation[r0:r1, c0:c1] = k
        priority[r0:r1, c0:c1] = 1.0 / (k + 1)
    n = len(boxes)
    u, v, angle, opening, jaw, outcome, free = (np.array(column) for column in zip(*labels))
    return {
        "rgb": rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8),
        "depth": depth,
        "depth_noisy": (depth + 0.001 * np.arange(SIZE)[None, :]).astype(np.float32),
        "segmentation": segmentation,
        "priority": priority,
        "intrinsics": np.array([[60.0, 0, 31.5], [0, 60.0, 31.5], [0, 0, 1]]),
        "extrinsics": np.eye(4),
        "object_names": np.array([f"random_urdfs/{k:03d}" for k in range(n)]),
        "object_positions": np.zeros((n, 3)),
        "object_orientations": np.tile([0.0, 0, 0, 1], (n, 1)),
        "object_levels": np.zeros(n, dtype=np.int16),
        "object_top_level": np.ones(n, dtype=bool),
        "support_edges": np.zeros((0, 2), dtype=np.int16),
        "label_u": u.astype(np.float32),
        "label_v": v.astype(np.float32),
        "label_angle": angle.astype(np.float32),
        "label_opening_px": opening.astype(np.float32),
        "label_jaw_size_px": jaw.astype(np.float32),
        "label_depth_m": np.full(len(u), 0.68, dtype=np.float32),
        "label_object": np.zeros(len(u), dtype=np.int16),
        "label_outcome": outcome.astype("<U10"),
        "label_success": outcome == "success",
        "label_robustness": (outcome == "success").astype(np.float32),
        "label_collision_free": free.astype(bool),
        "label_position_m": np.zeros((len(u), 3), dtype=np.float32),
        "label_yaw": angle.astype(np.float32),
        "label_opening_m": np.full(len(u), 0.05, dtype=np.float32),
    }


def _write_dataset(root, scenes):
    (root / "scenes").mkdir(parents=True)
    (root / "dataset.json").write_text(
        json.dumps(
            {
                "format": 1,
                "graspbench_version": "0.1.0",
                "env": "test",
                "spec": {},
                "seed": 0,
                "scenes": len(scenes),
                "labelling": {},
            }
        )
    )
    rows = ["scene,file,objects,candidates,successes,collision_free_successes,objects_with_success,seconds"]
    for index, arrays in scenes.items():
        np.savez_compressed(root / "scenes" / f"{index:06d}.npz", **arrays)
        success = arrays["label_success"]
        rows.append(
            f"{index},scenes/{index:06d}.npz,{len(arrays['object_names'])},{len(success)},{success.sum()},"
            f"{(success & arrays['label_collision_free']).sum()},1,0.1"
        )
    (root / "index.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def scenes():
    return {
        # Every label centre of scene 0 lies on an object, so saliency shows where it went.
        0: _scene(
            0,
            SCENE0_LABELS,
            [(15, 26, 25, 36, 0.05), (40, 58, 40, 60, 0.08), (38, 53, 5, 20, 0.03), (5, 16, 5, 16, 0.02)],
        ),
        1: _scene(1, SCENE1_LABELS, [(10, 50, 4, 60, 0.04)]),
        2: _scene(2, SCENE2_LABELS, [(15, 26, 15, 26, 0.05), (0, 8, 0, 64, -2.3)]),
    }


@pytest.fixture(scope="module")
def root(tmp_path_factory, scenes):
    path = tmp_path_factory.mktemp("dataset")
    _write_dataset(path, scenes)
    return path


def _same_angle(a, b):
    """Equal modulo pi (a grasp and its reverse are the same)."""
    return np.allclose(np.sin(2 * (np.asarray(a) - np.asarray(b))), 0, atol=1e-5) and np.allclose(
        np.cos(2 * (np.asarray(a) - np.asarray(b))), 1, atol=1e-5
    )


def _no_augmentation(**kwargs):
    return dict(augment=True, rotations_deg=(0,), zoom_range=(1.0, 1.0), flip=0.0) | kwargs


def test_inputs_and_normalisation(root, scenes):
    depth, rgb, rgbd = (GraspDataset(root, input=name)[0] for name in ("depth", "rgb", "rgbd"))
    for item, channels in ((depth, 1), (rgb, 3), (rgbd, 4)):
        assert item["x"].shape == (channels, SIZE, SIZE) and item["x"].dtype == torch.float32
        for key in ("q", "cos2", "sin2", "opening", "priority", "depth_target", "saliency"):
            assert item[key].shape == (1, SIZE, SIZE) and item[key].dtype == torch.float32
    assert abs(depth["x"].mean()) < 1e-6 and depth["x"].abs().max() <= 1.0
    assert torch.allclose(rgb["x"].mean(dim=(1, 2)), torch.zeros(3), atol=1e-6)
    assert torch.equal(rgbd["x"][:1], depth["x"]) and torch.equal(rgbd["x"][1:], rgb["x"])
    expected = scenes[0]["rgb"][..., 1] / 255.0
    assert np.allclose(rgb["x"][1].numpy(), expected - expected.mean(), atol=1e-6)
    assert np.allclose(depth["x"][0].numpy(), scenes[0]["depth"] - scenes[0]["depth"].mean(), atol=1e-6)
    # Scene 2 has a region 2.3 m further away: clipped at 1.
    far = GraspDataset(root, scenes=[2])[0]["x"][0]
    assert far.max() == 1.0 and torch.all(far[:8] == 1.0) and far.min() >= -1.0


def test_noisy_depth_feeds_the_input_not_the_target(root, scenes):
    item = GraspDataset(root, noisy_depth=True, input="rgbd")[0]
    assert np.allclose(item["x"][0].numpy(), normalise_depth(scenes[0]["depth_noisy"]))
    assert np.allclose(item["depth_target"][0].numpy(), normalise_depth(scenes[0]["depth"]))
    assert not torch.allclose(item["x"][0], item["depth_target"][0])


def _expected_scene0_regions():
    v, u = np.mgrid[0:SIZE, 0:SIZE]
    a = (np.abs(u - 30) <= 5) & (np.abs(v - 20) <= 5)  # 30 / 3 = 10 along u, jaw 10 across
    b = (np.abs(v - 50) <= 5) & (np.abs(u - 50) <= 3)  # axis along v: 10 along v, jaw 6 across
    # Diagonal axis (1, -1) / sqrt(2) in (u, v): along = (du - dv) / sqrt 2 <= 5, across = (du + dv) / sqrt 2 <= 3.
    du, dv = u - 12, v - 45
    c = (np.abs(du - dv) <= 7) & (np.abs(du + dv) <= 4)
    d = (np.abs(u - 10) <= 5) & (np.abs(v - 10) <= 5)
    return a, b, c, d


def test_ground_truth_maps(root):
    item = GraspDataset(root, scenes=[0])[0]
    a, b, c, _ = _expected_scene0_regions()
    q, cos2, sin2, opening = (item[key][0].numpy() for key in ("q", "cos2", "sin2", "opening"))
    assert np.array_equal(q, (a | b | c).astype(np.float32))
    assert np.allclose(cos2[a], 1) and np.allclose(sin2[a], 0, atol=1e-6)
    assert np.allclose(cos2[b], -1) and np.allclose(sin2[b], 0, atol=1e-6)
    assert np.allclose(cos2[c], 0, atol=1e-6) and np.allclose(sin2[c], 1)
    assert np.allclose(opening[a | b | c], 30 / OPENING_SCALE_PX)
    outside = ~(a | b | c)
    assert not cos2[outside].any() and not sin2[outside].any() and not opening[outside].any()
    assert np.allclose(item["priority"][0].numpy(), GraspDataset(root)[0]["priority"][0].numpy())
    assert item["saliency"][0, 20, 30] == 1 and item["saliency"][0, 0, 0] == 0


def test_positive_labels(root):
    collision_free = GraspDataset(root, scenes=[0])[0]
    success = GraspDataset(root, scenes=[0], positives="success")[0]
    assert collision_free["label_count"] == 3  # A, B, C; not D (collided), E, F (failures)
    assert np.allclose(collision_free["label_uv"].numpy(), [[30, 20], [50, 50], [12, 45]])
    assert np.allclose(collision_free["label_opening_px"].numpy(), 30)
    assert np.allclose(collision_free["label_jaw_size_px"].numpy(), [10, 6, 6])
    assert success["label_count"] == 4 and np.allclose(success["label_uv"][3].numpy(), [10, 10])
    a, b, c, d = _expected_scene0_regions()
    assert np.array_equal(success["q"][0].numpy(), (a | b | c | d).astype(np.float32))
    assert collision_free["q"][0, 15, 50] == 0 and success["q"][0, 15, 50] == 0  # E
    assert success["q"][0, 58, 20] == 0  # F


def _uv_set(item):
    return {tuple(row) for row in item["label_uv"].numpy().tolist()}


def test_labels_per_image(root, scenes):
    positives = {(float(u), float(v)) for u, v, *_ in SCENE1_LABELS}
    item = GraspDataset(root, labels_per_image=3)[1]
    assert item["label_count"] == 3 and _uv_set(item) <= positives
    order = [[(u, v) for u, v, *_ in SCENE1_LABELS].index(tuple(uv)) for uv in item["label_uv"].tolist()]
    assert order == sorted(order)  # file order, so overlaps overwrite in a fixed order
    assert GraspDataset(root, labels_per_image=50)[1]["label_count"] == 12
    assert GraspDataset(root, labels_per_image=5)[2]["label_count"] == 2
    # Only the kept labels are drawn.
    for u, v in positives:
        assert item["q"][0, int(v), int(u)] == ((u, v) in _uv_set(item))

    assert _uv_set(GraspDataset(root, labels_per_image=3)[1]) == _uv_set(item)
    others = [_uv_set(GraspDataset(root, labels_per_image=3, seed=seed)[1]) for seed in range(1, 6)]
    assert any(other != _uv_set(item) for other in others)

    # Independent of read order and of the scene's position in the list.
    data = GraspDataset(root, labels_per_image=3, seed=4)
    later = [data[i] for i in (2, 0, 1)][2]
    first = GraspDataset(root, labels_per_image=3, seed=4)[1]
    alone = GraspDataset(root, labels_per_image=3, seed=4, scenes=[1])[0]
    assert _uv_set(later) == _uv_set(first) == _uv_set(alone)


def test_flip(root):
    plain = GraspDataset(root, scenes=[0], input="rgbd")[0]
    flipped = GraspDataset(root, scenes=[0], input="rgbd", **_no_augmentation(flip=1.0))[0]
    assert torch.equal(flipped["x"], plain["x"].flip(-1))
    assert torch.equal(flipped["q"], plain["q"].flip(-1))
    assert torch.allclose(flipped["cos2"], plain["cos2"].flip(-1), atol=1e-6)
    assert torch.allclose(flipped["sin2"], -plain["sin2"].flip(-1), atol=1e-6)
    assert np.allclose(flipped["label_uv"].numpy(), [[33, 20], [13, 50], [51, 45]])  # u -> 63 - u
    assert _same_angle(flipped["label_angle"].numpy(), -plain["label_angle"].numpy())


def test_quarter_turn(root):
    plain = GraspDataset(root, scenes=[0], input="rgbd")[0]
    turned = GraspDataset(root, scenes=[0], input="rgbd", **_no_augmentation(rotations_deg=(90,)))[0]
    # Counter-clockwise as displayed, about (31.5, 31.5): (u, v) -> (v, 63 - u), i.e. np.rot90.
    assert torch.equal(turned["x"], torch.rot90(plain["x"], 1, dims=(1, 2)))
    assert torch.equal(turned["q"], torch.rot90(plain["q"], 1, dims=(1, 2)))
    assert torch.allclose(turned["cos2"], -torch.rot90(plain["cos2"], 1, dims=(1, 2)), atol=1e-6)
    assert torch.allclose(turned["sin2"], -torch.rot90(plain["sin2"], 1, dims=(1, 2)), atol=1e-6)
    assert np.allclose(turned["label_uv"].numpy(), [[20, 33], [50, 13], [45, 51]], atol=1e-9)
    assert _same_angle(turned["label_angle"].numpy(), [HALF_PI, 0.0, 3 * np.pi / 4])
    # A is now vertical at (20, 33): 10 along v, 10 across; B horizontal at (50, 13): 10 along u, 6 across.
    q = turned["q"][0].numpy()
    assert q[28:39, 15:26].all() and q[10:17, 45:56].all()
    assert q[27, 20] == 0 and q[17, 50] == 0 and q[13, 44] == 0


def test_eighth_turn(root):
    item = GraspDataset(root, scenes=[0], **_no_augmentation(rotations_deg=(45,)))[0]
    # A at offset (-1.5, -11.5) from the centre; counter-clockwise as displayed with v down:
    # (du, dv) -> (du + dv, dv - du) / sqrt 2.
    a = item["label_uv"][0].numpy()
    assert np.allclose(a, [31.5 - 13 / np.sqrt(2), 31.5 - 10 / np.sqrt(2)], atol=1e-5)
    assert _same_angle(item["label_angle"][0].numpy(), np.pi / 4)
    assert np.isclose(item["label_angle"][0], np.pi / 4)


def test_zoom(root, scenes):
    item = GraspDataset(root, scenes=[0], **_no_augmentation(zoom_range=(0.5, 0.5)))[0]
    # Crop the centre half (pixels 16..47) and double it: output 2k and 2k + 1 read source 16 + k.
    expected = np.repeat(np.repeat(scenes[0]["priority"][16:48, 16:48], 2, axis=0), 2, axis=1)
    assert np.array_equal(item["priority"][0].numpy(), expected)
    # A: 31.5 + 2 * (30 - 31.5) = 28.5, 31.5 + 2 * (20 - 31.5) = 8.5; B and C leave the image.
    assert item["label_count"] == 1
    assert np.allclose(item["label_uv"].numpy(), [[28.5, 8.5]])
    assert np.allclose(item["label_opening_px"].numpy(), 60) and np.allclose(item["label_jaw_size_px"].numpy(), 20)
    v, u = np.mgrid[0:SIZE, 0:SIZE]
    region = (np.abs(u - 28.5) <= 10) & (np.abs(v - 8.5) <= 10)
    assert np.array_equal(item["q"][0].numpy(), region.astype(np.float32))
    assert np.allclose(item["opening"][0].numpy()[region], 60 / OPENING_SCALE_PX)


def test_augmentation_moves_images_and_labels_together(root):
    data = GraspDataset(root, scenes=[0], augment=True, rotations_deg=(0, 45, 90, 180, 270, 300), seed=3)
    for epoch in range(6):
        data.set_epoch(epoch)
        item = data[0]
        assert item["label_count"] >= 1
        for (u, v), angle, opening in zip(
            item["label_uv"].numpy(), item["label_angle"].numpy(), item["label_opening_px"].numpy()
        ):
            row, col = int(np.floor(v + 0.5)), int(np.floor(u + 0.5))
            assert item["q"][0, row, col] == 1 and item["saliency"][0, row, col] == 1
            assert np.isclose(item["cos2"][0, row, col], np.cos(2 * angle), atol=1e-5)
            assert np.isclose(item["sin2"][0, row, col], np.sin(2 * angle), atol=1e-5)
            assert np.isclose(item["opening"][0, row, col], opening / OPENING_SCALE_PX)
            assert -HALF_PI <= angle <= HALF_PI + 1e-6


def test_augmentation_is_reproducible(root):
    data = GraspDataset(root, augment=True, seed=5)
    first = data[1]
    assert all(torch.equal(first[key], data[1][key]) for key in ("x", "q", "label_uv"))
    assert torch.equal(first["x"], GraspDataset(root, augment=True, seed=5)[1]["x"])
    data.set_epoch(1)
    assert not torch.equal(first["x"], data[1]["x"])
    data.set_epoch(0)
    assert torch.equal(first["x"], data[1]["x"])


def test_bad_arguments(root, tmp_path, scenes):
    with pytest.raises(ValueError, match="input.*depth.*rgbd"):
        GraspDataset(root, input="grey")
    with pytest.raises(ValueError, match="positives"):
        GraspDataset(root, positives="all")
    with pytest.raises(ValueError, match="does not exist"):
        GraspDataset(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="dataset.json"):
        GraspDataset(tmp_path)
    with pytest.raises(ValueError, match=r"\[7\]"):
        GraspDataset(root, scenes=[0, 7])

    broken = tmp_path / "broken"
    _write_dataset(broken, {0: {k: v for k, v in scenes[0].items() if k != "priority"}})
    data = GraspDataset(broken)
    with pytest.raises(ValueError, match=r"000000\.npz.*priority.*graspbench generate"):
        data[0]


def test_collate(root):
    data = GraspDataset(root, input="rgbd")
    batch = collate([data[0], data[2]])
    assert batch["x"].shape == (2, 4, SIZE, SIZE) and batch["q"].shape == (2, 1, SIZE, SIZE)
    assert batch["label_uv"].shape == (2, 3, 2) and batch["label_angle"].shape == (2, 3)
    assert batch["label_mask"].tolist() == [[True, True, True], [True, True, False]]
    assert batch["label_count"].tolist() == [3, 2] and batch["scene"].tolist() == [0, 2]
    assert torch.equal(batch["label_uv"][1, :2], data[2]["label_uv"]) and not batch["label_uv"][1, 2].any()
    assert batch["label_opening_px"][1, 2] == 0 and batch["label_jaw_size_px"][1, 2] == 0
    loaded = next(iter(DataLoader(data, batch_size=3, collate_fn=collate)))
    assert loaded["label_mask"].sum() == 3 + 12 + 2 and loaded["label_uv"].shape == (3, 12, 2)


def test_split_scenes(root):
    train, val = split_scenes(root, val_fraction=0.34, seed=1)
    assert sorted(train + val) == [0, 1, 2] and len(val) == 1
    assert (train, val) == split_scenes(root, val_fraction=0.34, seed=1)
    assert len(GraspDataset(root, scenes=val)) == 1


def test_normalisation_helpers():
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[0, 0] = 255
    assert np.allclose(normalise_rgb(rgb)[:, 0, 0], 0.75) and normalise_rgb(rgb).shape == (3, 2, 2)
    assert np.allclose(normalise_depth(np.array([[0.0, 4.0]])), [[-1.0, 1.0]])


def test_binned_quality(tmp_path):
    # A 20 x 4 px bar 5 cm tall along u, its grasp across it (angle about 90 degrees, 10 px opening),
    # seen from 1 m above the table (100 px per metre there); a stored collision elsewhere at angle 0.
    labels = [(32, 32, HALF_PI - 0.01, 10, 4, "success", True), (32, 12, 0.0, 10, 4, "collision", False)]
    arrays = _scene(0, labels, [(30, 34, 22, 42, 0.05)])
    arrays["depth"][:] = np.where(arrays["segmentation"] >= 0, 0.95, 1.0)
    arrays["intrinsics"] = np.array([[100.0, 0, 31.5], [0, 100.0, 31.5], [0, 0, 1]])
    arrays["extrinsics"] = np.array([[1.0, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 1.0], [0, 0, 0, 1]])
    arrays["label_position_m"][:, 2] = 0.04
    _write_dataset(tmp_path, {0: arrays})
    item = GraspDataset(tmp_path, angle_bins=4, **_no_augmentation())[0]
    target, weight = item["q_bins"].numpy(), item["q_bins_weight"].numpy()
    assert target.shape == weight.shape == (4, SIZE, SIZE)
    # Bins: [-90, -45), [-45, 0), [0, 45), [45, 90) degrees. The positive writes 1 in its bin; turned to
    # -22.5 or 22.5 degrees its fingers land on the bar (known to fail); at -67.5 they clear it, which
    # does not make it a grasp (unknown).
    assert target[:, 32, 32].tolist() == [0, 0, 0, 1] and weight[:, 32, 32].tolist() == [0, 1, 1, 1]
    # The stored collision is known to fail in its bin; the background is 0 in every bin, a bin weighing 1/4.
    assert weight[:, 12, 32].tolist() == [0.25, 0.25, 1, 0.25] and target[:, 12, 32].sum() == 0
    assert weight[:, 60, 60].tolist() == [0.25] * 4 and target[:, 60, 60].sum() == 0
    # The failures move with the image: after a quarter turn the positive is at -0.6 degrees (bin 1)
    # and the failing bins are 3 (67.5) and 0 (112.5, i.e. -67.5).
    turned = GraspDataset(tmp_path, angle_bins=4, **_no_augmentation(rotations_deg=(90.0,)))[0]
    u, v = int(round(turned["label_uv"][0, 0].item())), int(round(turned["label_uv"][0, 1].item()))
    assert turned["q_bins"][:, v, u].tolist() == [0, 1, 0, 0]
    assert turned["q_bins_weight"][:, v, u].tolist() == [1, 1, 0, 1]
    with pytest.raises(ValueError, match="angle_bins"):
        GraspDataset(tmp_path, angle_bins=1)
