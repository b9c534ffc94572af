"""The grasp depth decided per grasp (issue 26): rigid fingers slip off a curved object when they
close above its equator, and the free-space rule sends them as deep as the depth image allows."""

import numpy as np

from graspbench.clearance import MAX_GRASP_DEPTH_M, fingertip_z, height_map
from graspbench.sim.gripper import Gripper, Outcome

PX_M = 0.001  # hand-built height maps: 1 mm per pixel, the grasp at (100, 100), closing along u


def depth_of(heights, opening_px=80.0, grasp_depth_m=0.01, max_depth_m=MAX_GRASP_DEPTH_M):
    top = heights[100, 100]
    return top - fingertip_z(
        height_map(heights),
        100.0,
        100.0,
        0.0,
        opening_px,
        PX_M,
        top,
        grasp_depth_m,
        max_depth_m,
        lowest_fingertip_z_m=0.003,
    )


def lying_cylinder(radius_m=0.033):
    """A can lying along v: its height profile across u."""
    heights = np.zeros((200, 200))
    u = np.arange(200) - 100
    inside = np.abs(u) * PX_M < radius_m
    heights[:, inside] = radius_m + np.sqrt(radius_m**2 - (u[inside] * PX_M) ** 2)
    return heights


def test_a_lying_can_is_grasped_below_its_equator():
    # Free space beside it all the way down: the fingertips go the whole rule's depth, 4 cm below
    # its 6.6 cm top, under the 3.3 cm equator where the pads meet the can square on.
    assert np.isclose(depth_of(lying_cylinder()), MAX_GRASP_DEPTH_M)
    assert np.isclose(depth_of(lying_cylinder(), max_depth_m=None), 0.01)  # the fixed rule


def test_a_thin_plate_is_grasped_at_the_fingertips_floor():
    heights = np.zeros((200, 200))
    heights[90:110, 80:120] = 0.006
    assert np.isclose(depth_of(heights), 0.006 - 0.003)  # not 4 cm: the fingertips stop 3 mm above the table


def test_a_finger_beside_a_low_neighbour_stops_above_it():
    # A 5 cm box with a 2 cm block where the right finger comes down: the fingertips stop 3 mm
    # above the block, deeper than the fixed 1 cm but not on the block.
    heights = np.zeros((200, 200))
    heights[80:120, 75:126] = 0.05
    heights[80:120, 130:160] = 0.02
    assert np.isclose(depth_of(heights, opening_px=60.0), 0.05 - 0.023)


def test_a_blocked_finger_keeps_the_fixed_depth():
    # A neighbour taller than the fingertips at 1 cm: the rule never goes shallower than the fixed
    # depth (the free-space check, not the depth rule, turns such a grasp down).
    heights = np.zeros((200, 200))
    heights[80:120, 75:126] = 0.05
    heights[80:120, 130:160] = 0.048
    assert np.isclose(depth_of(heights, opening_px=60.0), 0.01)


def test_rigid_fingers_slip_off_a_lying_can_above_its_equator_and_hold_it_below(world):
    # Coulomb friction 0.8 (the fingers' 1.0 times the can's 0.8): the grip holds only where the
    # surface normal is within atan(0.8) = 39 degrees of the closing axis, below 2.1 cm above the
    # can's axis; 1 cm below its top the fingertips meet it 2.3 cm above.
    c = world.client
    radius_m, outcomes = 0.033, {}
    for depth_m in (0.01, MAX_GRASP_DEPTH_M):
        world.reset()
        c.createMultiBody(0, c.createCollisionShape(c.GEOM_PLANE))
        can = c.createMultiBody(
            0.35,
            c.createCollisionShape(c.GEOM_CYLINDER, radius=radius_m, height=0.12),
            basePosition=[0, 0, radius_m],
            baseOrientation=c.getQuaternionFromEuler([np.pi / 2, 0, 0]),
        )
        c.changeDynamics(can, -1, lateralFriction=0.8)
        world.step(120)
        outcomes[depth_m] = Gripper(world).execute([0, 0, 2 * radius_m - depth_m], 0.0, 0.08, [can]).outcome
    assert outcomes == {0.01: Outcome.SLIPPED, MAX_GRASP_DEPTH_M: Outcome.SUCCESS}
