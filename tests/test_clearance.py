"""The planners' free-space check on hand-built height maps (1 mm per pixel): an object's edge
between pixels, a flat object, first_clear's last resort, the widest opening, grasps that
would close on nothing, and the whole-image check the clear-grasp agent searches with."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from graspbench.clearance import (
    clear_everywhere,
    clear_for_widths,
    fingers_clear,
    footprint_clear,
    height_map,
    something_between,
)
from graspbench.grasp import Grasp
from graspbench.planners.dataset import OPENING_SCALE_PX
from graspbench.planners.postprocess import PostProcess, first_clear, plan_clear

PX_M = 0.001


def camera_over(heights):
    """An orthographic camera over a hand-built height map: every pixel PX_M wide at any depth."""
    return SimpleNamespace(
        heights_m=lambda depth: heights,
        orthographic_heights=lambda depth: heights,
        metres_per_pixel=lambda depth: PX_M,
        table_pixel=lambda u, v, depth: (u, v),
        depth_at_height=lambda u, v, z: 0.5 - z,
    )


def test_a_finger_flush_against_the_last_pixel_of_an_object_is_not_clear():
    # A 4 cm box over columns 81-119: the pixels say nothing of where in the next pixel its edge
    # lies, so a finger whose inner pad starts right after column 119 (or before 81) may come down on it.
    heights = np.zeros((200, 200))
    heights[81:120, 81:120] = 0.04
    free_space = height_map(heights)
    flush_px, gap_px = 2 * 19.5, 2 * 20.5  # openings: the pads at 19.5 and 20.5 px from the centre
    assert footprint_clear(heights, 100.0, 100.0, 0.0, flush_px, PX_M, 0.03)  # the bare check
    assert not fingers_clear(free_space, 100.0, 100.0, 0.0, flush_px, PX_M, 0.03)
    # One pixel of table between the pad and the object's last pixel is enough.
    assert fingers_clear(free_space, 100.0, 100.0, 0.0, gap_px, PX_M, 0.03)


def test_fingers_beside_a_flat_object_stop_above_the_table_and_are_clear():
    # A 6 mm plate: the fingertips would go 1 cm below its top, under the table; the environment
    # stops them 3 mm above it, where the table is no obstacle but the plate still is.
    heights = np.zeros((200, 200))
    heights[90:110, 85:115] = 0.006
    free_space = height_map(heights)
    fingertip_z_m = 0.006 - 0.01
    assert not footprint_clear(heights, 100.0, 100.0, 0.0, 60.0, PX_M, fingertip_z_m)  # the bare check
    assert fingers_clear(free_space, 100.0, 100.0, 0.0, 60.0, PX_M, fingertip_z_m, lowest_fingertip_z_m=0.003)
    assert not fingers_clear(free_space, 100.0, 100.0, 0.0, 20.0, PX_M, fingertip_z_m, lowest_fingertip_z_m=0.003)


def test_first_clear_opens_fully_when_no_widening_or_turn_frees_a_small_opening():
    # The plate again, with a network's opening of 4 px: 1.5 times it lands on the plate at every
    # turn; fully open (8 cm) the fingers straddle it at the grasp's own angle.
    heights = np.zeros((200, 200))
    heights[90:110, 85:115] = 0.006
    small = Grasp(u=100.0, v=100.0, angle_rad=0.0, opening_px=4.0)
    chosen = first_clear(
        [small], 0.5 - heights, camera_over(heights), max_opening_m=0.08, grasp_depth_m=0.01, lowest_fingertip_z_m=0.003
    )
    assert chosen.angle_rad == pytest.approx(0.0) and chosen.opening_px == pytest.approx(80.0)


def test_first_clear_passes_over_a_better_peak_that_would_close_on_the_bare_table():
    # A 4 mm stick, 30 px long, is all that is left; the network's best peak is an empty corner.
    heights = np.zeros((200, 200))
    heights[98:102, 85:115] = 0.004
    corner = Grasp(u=190.0, v=190.0, angle_rad=0.0, opening_px=20.0, quality=0.06)
    across_the_stick = Grasp(u=100.0, v=100.0, angle_rad=-np.pi / 2, opening_px=20.0, quality=0.04)
    chosen = first_clear(
        [corner, across_the_stick],
        0.5 - heights,
        camera_over(heights),
        max_opening_m=0.08,
        grasp_depth_m=0.01,
        lowest_fingertip_z_m=0.003,
    )
    assert chosen == across_the_stick
    # MLGSL's qualities are relative to its best pixel, so the corner passes the threshold and the
    # stick does not: the stick is still weighed, once nothing above the threshold will do.
    corner, faint = dataclasses.replace(corner, quality=1.0), dataclasses.replace(across_the_stick, quality=0.05)
    assert (
        first_clear(
            [corner, faint], 0.5 - heights, camera_over(heights), 0.08, 0.01, lowest_fingertip_z_m=0.003, threshold=0.2
        )
        == faint
    )
    # Lower than the fingertips' floor, the stick would pass under them: nothing to close on anywhere.
    assert not something_between(heights, 100.0, 100.0, np.pi / 2, 20.0, PX_M, lowest_fingertip_z_m=0.005)
    assert something_between(heights, 100.0, 100.0, np.pi / 2, 20.0, PX_M, lowest_fingertip_z_m=0.003)


def test_a_planner_whose_peaks_all_collide_searches_the_object_and_grasps_a_ring_across_its_rim():
    # A ring 10 cm across and 2 cm tall, its hole 6 cm: too wide for the 8 cm hand. The network's one
    # peak is in the hole, where the fingers close on nothing or, opened fully, come down on the ring.
    rows, cols = np.indices((200, 200))
    radius_px = np.hypot(rows - 100.0, cols - 100.0)
    heights = np.where((radius_px >= 30) & (radius_px <= 50), 0.02, 0.0)
    maps = {
        "q": np.exp(-(radius_px**2) / (2 * 8.0**2)),
        "cos2": np.ones((200, 200)),
        "sin2": np.zeros((200, 200)),
        "opening": np.full((200, 200), 30.0 / OPENING_SCALE_PX),
    }
    plan = dict(depth_m=0.5 - heights, camera=camera_over(heights), max_opening_m=0.08, grasp_depth_m=0.01)
    peak = plan_clear(maps, PostProcess(), **plan, grid_spacing_px=0)
    assert (peak.u, peak.v) == (100.0, 100.0)  # kept as it is: it will collide
    chosen = plan_clear(maps, PostProcess(), **plan)
    assert 30 <= np.hypot(chosen.u - 100, chosen.v - 100) <= 50  # on the ring, the fingers across its section
    assert fingers_clear(height_map(heights), chosen.u, chosen.v, chosen.angle_rad, chosen.opening_px, PX_M, 0.01)
    assert something_between(heights, chosen.u, chosen.v, chosen.angle_rad, chosen.opening_px, PX_M)


def boxes(shape, count, sizes_px, seed):
    """A height map of ``count`` boxes of random sizes and heights, among them flat ones and some
    at the image's edge."""
    rng = np.random.default_rng(seed)
    heights = np.zeros(shape)
    for _ in range(count):
        v, u = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        heights[v : v + rng.integers(*sizes_px), u : u + rng.integers(*sizes_px)] = rng.uniform(0.002, 0.06)
    return heights


def test_the_whole_image_check_agrees_with_the_check_of_one_grasp_at_every_pixel():
    heights = boxes((50, 80), 12, (2, 10), seed=0)
    px_m, fingertip_z = 0.0015, heights - 0.01
    for opening_px in (13.3, 20.0, 40.0):
        [whole] = clear_everywhere(heights, fingertip_z, [opening_px], px_m)
        each = [
            [fingers_clear(heights, u, v, 0.0, opening_px, px_m, fingertip_z[v, u]) for u in range(80)]
            for v in range(50)
        ]
        assert 0.1 < whole.mean() < 0.9  # both answers occur
        assert (whole == np.array(each)).all()


def test_searching_only_around_a_target_changes_no_answer_there():
    # The target one of the boxes; a tall one 9.3 cm away is under the palm over its right part.
    heights = boxes((120, 200), 30, (4, 20), seed=1)
    heights[50:70, 90:110] = 0.04
    heights[55:65, 172:180] = 0.12
    target = np.zeros(heights.shape, bool)
    target[50:70, 90:110] = True
    camera, widths_m = SimpleNamespace(heights_m=lambda depth: heights), (0.02, 0.05, 0.08)
    everywhere = clear_for_widths(heights, camera, 0.0015, widths_m, 0.01)
    around = clear_for_widths(heights, camera, 0.0015, widths_m, 0.01, where=target)
    assert everywhere[:, target].any() and not everywhere[:, target].all()  # both answers on the target
    assert np.array_equal(around, everywhere & target)
