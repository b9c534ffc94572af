"""Grasps from synthetic output maps: position, angle (including the +-90 degree wrap), opening,
peak spacing, threshold, priority and the softmax quality."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from graspbench.grasp import check_grasp, wrap_angle
from graspbench.planners.dataset import OPENING_SCALE_PX
from graspbench.planners.postprocess import MIN_OPENING_PX, PostProcess, grasps_from_maps, maps_to_numpy, quality_map

H, W = 64, 96  # rows, columns
ROWS, COLS = np.mgrid[0:H, 0:W]


def blob(u, v, amplitude=1.0, sigma=4.0):
    """A Gaussian bump of quality centred on column u, row v."""
    return amplitude * np.exp(-((COLS - u) ** 2 + (ROWS - v) ** 2) / (2 * sigma**2))


def angle_maps(angle_deg):
    """cos2, sin2 maps of a constant (or per-pixel) angle."""
    angle = np.radians(angle_deg) * np.ones((H, W))
    return np.cos(2 * angle), np.sin(2 * angle)


def maps(q, angle_deg=0.0, opening_px=30.0):
    cos2, sin2 = angle_maps(angle_deg)
    return {"q": q, "cos2": cos2, "sin2": sin2, "opening": np.full((H, W), opening_px / OPENING_SCALE_PX)}


def test_recovers_position_angle_and_opening():
    # As a ground-truth map would be: angle and opening only on a disk around the grasp, 0 elsewhere
    disk = (COLS - 40) ** 2 + (ROWS - 25) ** 2 <= 10**2
    cos2, sin2 = angle_maps(60.0)
    grasps = grasps_from_maps(blob(40, 25), cos2 * disk, sin2 * disk, disk * 45.0 / OPENING_SCALE_PX)
    best = grasps[0]
    assert abs(best.u - 40) <= 1 and abs(best.v - 25) <= 1
    assert abs(math.degrees(wrap_angle(best.angle_rad - math.radians(60.0)))) < 2
    assert best.opening_px == pytest.approx(45.0, abs=1.0)
    assert len(grasps) == 1
    assert best.quality == pytest.approx(quality_map(blob(40, 25)).max())


def test_angle_near_the_wrap_is_not_averaged_to_zero():
    # +88 degrees on a checkerboard of pixels, -88 on their neighbours: the same grasp direction
    # (4 degrees apart modulo pi), which smoothing the angle map itself would turn into 0 degrees.
    checker = (ROWS + COLS) % 2 == 0
    angle_deg = np.where(checker, 88.0, -88.0)
    assert abs(gaussian_filter(np.radians(angle_deg), 2.0)[25, 40]) < math.radians(1)  # the bug
    cos2, sin2 = angle_maps(angle_deg)
    best = grasps_from_maps(blob(40, 25), cos2, sin2, np.full((H, W), 0.3))[0]
    assert abs(math.degrees(wrap_angle(best.angle_rad - math.pi / 2))) < 3
    assert -math.pi / 2 <= best.angle_rad < math.pi / 2


def test_an_opening_regressed_below_zero_becomes_the_narrowest_valid_one():
    # A regression head may undershoot at a thin object's pixel; the grasp must still be executable.
    (grasp,) = grasps_from_maps(**maps(blob(40, 25), opening_px=-0.3))
    assert grasp.opening_px == MIN_OPENING_PX > 0
    check_grasp(grasp, W, H)  # raises on an opening of 0 or less


def test_peaks_closer_than_min_distance_give_one_grasp():
    grasps = grasps_from_maps(**maps(blob(30, 32) + blob(42, 32, 0.8)))  # 12 px apart < 20
    assert len(grasps) == 1
    assert abs(grasps[0].u - 30) <= 1


def test_peaks_farther_than_min_distance_give_two_best_first():
    grasps = grasps_from_maps(**maps(blob(60, 32, 0.8) + blob(20, 32)))  # 40 px apart
    assert [(g.u, g.v) for g in grasps] == [(20, 32), (60, 32)]
    assert grasps[0].quality > grasps[1].quality
    # closer than a smaller min_distance: still two
    grasps = grasps_from_maps(
        **maps(blob(30, 32) + blob(42, 32, 0.8, sigma=2)), settings=PostProcess(min_distance_px=5)
    )
    assert [g.u for g in grasps] == [30, 42]


def test_top_k():
    q = sum(blob(10 + 25 * i, 15 + 30 * j, 1 - 0.1 * (i + 4 * j)) for i in range(4) for j in range(2))
    assert len(grasps_from_maps(**maps(q))) == 5
    grasps = grasps_from_maps(**maps(q), settings=PostProcess(top_k=2))
    assert [(g.u, g.v) for g in grasps] == [(10, 15), (35, 15)]


def test_threshold():
    q = blob(20, 32) + blob(60, 32, 0.15)
    assert len(grasps_from_maps(**maps(q))) == 1  # default threshold 0.2: the weak peak is out
    assert len(grasps_from_maps(**maps(q), settings=PostProcess(threshold=0.1))) == 2
    # nothing above the threshold: the best peaks anyway, best first, for a depth check to choose from
    grasps = grasps_from_maps(**maps(blob(60, 32, 0.15) + blob(20, 32, 0.1)))
    assert [(g.u, g.v) for g in grasps] == [(60, 32), (20, 32)] and grasps[0].quality < 0.2


def test_priority_switches_the_best_grasp():
    q = blob(20, 32) + blob(60, 32, 0.8)
    priority = np.where(COLS < 40, 0.3, 1.0)  # the object at u = 60 lies on top
    assert grasps_from_maps(**maps(q))[0].u == 20
    grasps = grasps_from_maps(**maps(q), priority=priority)
    assert [g.u for g in grasps] == [60, 20]  # Q* = 0.8 * 1 beats 1 * 0.3
    assert grasps[0].quality == pytest.approx(quality_map(blob(60, 32, 0.8)).max(), rel=1e-3)
    no_priority = grasps_from_maps(**maps(q), priority=priority, settings=PostProcess(use_priority=False))
    assert no_priority[0].u == 20


def test_softmax_quality_is_relative_to_the_best_pixel():
    # MLGSL logits: exp(q - max q) = blob A + e^-1 blob B + e^-3 blob C, so after (linear) smoothing
    # and division by the maximum, B's peak reads e^-1 ~ 0.37 > 0.2 and C's e^-3 ~ 0.05 < 0.2.
    q = np.log(blob(20, 20) + math.exp(-1) * blob(60, 20) + math.exp(-3) * blob(40, 50) + 1e-30)
    grasps = grasps_from_maps(**maps(q), settings=PostProcess(quality="softmax"))
    assert [(g.u, g.v) for g in grasps] == [(20, 20), (60, 20)]
    assert grasps[0].quality == pytest.approx(1.0)
    assert grasps[1].quality == pytest.approx(math.exp(-1), rel=1e-3)
    # read raw, the logits are <= 0 everywhere: nothing above 0.2, the best peaks below it, best first
    assert [(g.u, g.v) for g in grasps_from_maps(**maps(q))] == [(20, 20), (60, 20), (40, 50)]
    # a constant shift of the logits changes nothing
    shifted = grasps_from_maps(**maps(q + 7.0), settings=PostProcess(quality="softmax"))
    assert [(g.u, g.v) for g in shifted] == [(g.u, g.v) for g in grasps]
    assert [g.quality for g in shifted] == pytest.approx([g.quality for g in grasps])


def test_torch_batches():
    def tensor(*images):
        return torch.tensor(np.stack(images)[:, None], dtype=torch.float32)

    m = maps(blob(40, 25), angle_deg=-30.0, opening_px=60.0)
    other = maps(blob(70, 40))
    net = SimpleNamespace(
        q=tensor(other["q"], m["q"]),
        cos2=tensor(other["cos2"], m["cos2"]),
        sin2=tensor(other["sin2"], m["sin2"]),
        opening=tensor(other["opening"], m["opening"]),
        aux=None,
        priority=None,
    )
    one = maps_to_numpy(net, index=1)
    assert one["priority"] is None and one["q"].shape == (H, W)
    best = grasps_from_maps(**one)[0]
    assert (best.u, best.v) == (40, 25)
    assert math.degrees(best.angle_rad) == pytest.approx(-30.0, abs=0.1)
    assert best.opening_px == pytest.approx(60.0, abs=1e-3)
    # (1, 1, H, W) tensors directly
    best = grasps_from_maps(net.q[:1], net.cos2[:1], net.sin2[:1], net.opening[:1])[0]
    assert (best.u, best.v) == (70, 40)


def test_rejects_bad_settings_and_shapes():
    with pytest.raises(ValueError, match="softmax"):
        PostProcess(quality="sigmoid")
    with pytest.raises(ValueError):
        grasps_from_maps(np.zeros((2, 2, H, W)), *angle_maps(0.0), np.zeros((H, W)))
    with pytest.raises(ValueError, match="cos2"):
        grasps_from_maps(np.zeros((H, W)), np.zeros((H, W + 1)), np.zeros((H, W)), np.zeros((H, W)))


def test_angle_bins_choose_the_peak_and_bound_the_angle():
    # 4 bins of 45 degrees: [-90, -45), [-45, 0), [0, 45), [45, 90). The regressed angle is 30 degrees.
    q = np.zeros((4, H, W))
    q[1] = 0.9 * blob(40, 25)  # the best pixel's best bin, [-45, 0): 30 degrees is outside it
    q[2] = 0.5 * blob(70, 40)  # a weaker peak whose bin holds 30 degrees
    _, cos2, sin2, opening = maps(blob(40, 25), angle_deg=30.0).values()
    best, second = grasps_from_maps(q, cos2, sin2, opening, settings=PostProcess(smoothing_sigma_px=0.0))[:2]
    assert (best.u, best.v, best.quality) == (40, 25, pytest.approx(0.9))
    assert math.degrees(best.angle_rad) == pytest.approx(-22.5)  # the bin's centre, not the regression
    assert (second.u, second.v) == (70, 40) and math.degrees(second.angle_rad) == pytest.approx(30.0, abs=0.1)


def test_normalized_quality_reads_softplus_relative_to_the_best():
    # softplus(log(e^k - 1)) = k: a flat map of softplus 1 with a bump to 3 at (40, 25)
    q = np.log(np.expm1(1.0 + 2.0 * blob(40, 25)))
    settings = PostProcess(quality="normalized", smoothing_sigma_px=0.0)
    grasps = grasps_from_maps(**maps(q), settings=settings)
    assert (grasps[0].u, grasps[0].v) == (40, 25) and grasps[0].quality == pytest.approx(1.0)
    assert quality_map(q, settings=settings)[0, 0] == pytest.approx(1 / 3)


def test_first_clear_turns_a_grasp_whose_fingers_would_land_on_its_object():
    from graspbench.grasp import Grasp
    from graspbench.planners.postprocess import first_clear

    # A 12 x 3 cm bar, 4 cm tall, on the table; 1 mm per pixel. Closing along the bar (angle 0),
    # the fingers land on it at any opening up to the gripper's 8 cm; turned 60 degrees and
    # widened to 5 cm, they straddle it (30 degrees is not enough at any opening).
    heights = np.zeros((200, 200))
    heights[85:115, 40:160] = 0.04
    camera = SimpleNamespace(
        heights_m=lambda depth: heights,
        orthographic_heights=lambda depth: heights,
        metres_per_pixel=lambda depth: 0.001,
        table_pixel=lambda u, v, depth: (u, v),
        depth_at_height=lambda u, v, z: 0.5 - z,
    )
    along_the_bar = Grasp(u=100.0, v=100.0, angle_rad=0.0, opening_px=40.0)
    chosen = first_clear([along_the_bar], 0.5 - heights, camera, max_opening_m=0.08, grasp_depth_m=0.01)
    assert chosen.angle_rad == pytest.approx(math.radians(60)) and chosen.opening_px == pytest.approx(50.0)
    # Without turns the check has nothing clear to offer and keeps the best grasp as it is.
    assert first_clear([along_the_bar], 0.5 - heights, camera, 0.08, 0.01, turns_deg=(0,)) == along_the_bar
