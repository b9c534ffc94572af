"""Grasp geometry and the rectangle metric, on examples worked by hand."""

import numpy as np
import pytest

from graspbench.grasp import Grasp, GraspRectangle, wrap_angle
from graspbench.sim.camera import Camera


def test_iou_of_hand_made_rectangles():
    a = GraspRectangle(50, 50, 0.0, 40, 20)
    assert a.iou(a) == pytest.approx(1.0)
    assert a.iou(GraspRectangle(70, 50, 0.0, 40, 20)) == pytest.approx(400 / 1200)  # half overlap
    assert a.iou(GraspRectangle(200, 50, 0.0, 40, 20)) == 0.0
    # A 20x20 square turned by 90 degrees is the same square.
    assert GraspRectangle(0, 0, 0.0, 20, 20).iou(GraspRectangle(0, 0, np.pi / 2, 20, 20)) == pytest.approx(1.0)
    # A cross: 40x10 and 10x40 centred together share 100 px^2 of 700 px^2.
    assert GraspRectangle(0, 0, 0.0, 40, 10).iou(GraspRectangle(0, 0, np.pi / 2, 40, 10)) == pytest.approx(100 / 700)


def test_match_wraps_the_angle_at_plus_minus_90_degrees():
    a = GraspRectangle(50, 50, np.radians(89), 40, 20)
    assert a.matches(GraspRectangle(50, 50, np.radians(-89), 40, 20))  # 2 degrees apart modulo pi
    assert not a.matches(GraspRectangle(50, 50, np.radians(45), 40, 20))  # 44 degrees apart
    assert wrap_angle(np.pi) == pytest.approx(0.0)


def test_rectangle_axis_follows_the_angle_convention():
    # angle measured from +u towards -v: at +90 degrees the closing axis is vertical in the image.
    corners = Grasp(10, 10, np.pi / 2, opening_px=20).rectangle(jaw_size_px=4).corners()
    assert np.ptp(corners[:, 1]) == pytest.approx(20)
    assert np.ptp(corners[:, 0]) == pytest.approx(4)


def test_pixel_world_round_trip_and_top_down_axes():
    camera = Camera.top_down(224, 224, height_m=0.5, field_m=0.3)
    point = camera.pixel_to_world(30.0, 150.0, 0.45)
    u, v, depth = camera.world_to_pixel(point)
    assert (u, v, depth) == pytest.approx((30.0, 150.0, 0.45))
    right, down = camera.pixel_to_world(200, 112, 0.5), camera.pixel_to_world(112, 200, 0.5)
    assert right[0] > 0.1 and down[1] < -0.1  # u grows with world x, v against world y
    assert camera.pixel_to_world(111.5, 111.5, 0.5) == pytest.approx([0, 0, 0])
    assert camera.depth_at_height(111.5, 111.5, 0.1) == pytest.approx(0.4)
