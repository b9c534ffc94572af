"""Gripper physics on hand-built scenes."""

import numpy as np

from graspbench.outcomes import Outcome
from graspbench.sim.gripper import Gripper


def place(scene, model, x, y=0.0):
    return scene.add(model, [x, y, model.extents_m[2] / 2], [0, 0, 0, 1])


def grasp_top(scene, gripper, x, y, top_z, yaw=0.0, opening_m=0.07):
    """Fingertips 1 cm below the top surface at (x, y)."""
    return gripper.execute([x, y, top_z - 0.01], yaw, opening_m, scene.bodies)


def test_small_box_is_grasped_and_lifted(world, table_scene, box):
    body = place(table_scene, box([0.04, 0.04, 0.04]), 0.0)
    table_scene.settle()
    result = grasp_top(table_scene, Gripper(world), 0.0, 0.0, 0.04)
    assert result.outcome is Outcome.SUCCESS
    assert result.lifted_ids == [body]
    assert (
        world.pose(body)[0][2] > 0.02 + 0.005
    )  # still up where the hand left it: held for good once clear of the table
    assert 0.035 < result.opening_after_close_m < 0.045  # fingers stopped on the 4 cm faces


def test_box_wider_than_the_opening_cannot_be_grasped(world, table_scene, box):
    place(table_scene, box([0.12, 0.12, 0.04]), 0.0)
    table_scene.settle()
    result = grasp_top(table_scene, Gripper(world), 0.0, 0.0, 0.04, opening_m=0.08)
    assert result.outcome is Outcome.COLLISION  # the fingers land on its top
    assert result.lifted_ids == []


def test_grasp_beside_an_object_closes_on_nothing(world, table_scene, box):
    body = place(table_scene, box([0.04, 0.04, 0.04]), 0.0)
    table_scene.settle()
    result = grasp_top(table_scene, Gripper(world), 0.1, 0.0, 0.04)
    assert result.outcome is Outcome.NO_CONTACT
    assert result.opening_after_close_m < 0.002
    assert np.allclose(world.pose(body)[0][:2], [0, 0], atol=1e-3)


def test_finger_landing_on_a_neighbour_is_a_collision(world, table_scene, box):
    place(table_scene, box([0.04, 0.04, 0.04], "target"), 0.0)
    neighbour = place(table_scene, box([0.04, 0.04, 0.04], "neighbour"), 0.045)
    table_scene.settle()
    # Closing axis along x: the right finger (0.035 to 0.047 m) comes down on the neighbour.
    result = grasp_top(table_scene, Gripper(world), 0.0, 0.0, 0.04, yaw=0.0, opening_m=0.07)
    assert result.outcome is Outcome.COLLISION
    assert result.touched_ids == [neighbour]
    # Turned by 90 degrees the same grasp is free and succeeds.
    assert grasp_top(table_scene, Gripper(world), 0.0, 0.0, 0.04, yaw=np.pi / 2).outcome is Outcome.SUCCESS


def test_two_objects_lifted_together_are_a_multi_pick(world, table_scene, box):
    place(table_scene, box([0.03, 0.04, 0.04], "a"), -0.016)
    place(table_scene, box([0.03, 0.04, 0.04], "b"), 0.016)
    table_scene.settle()
    result = grasp_top(table_scene, Gripper(world), 0.0, 0.0, 0.04, opening_m=0.078)
    assert result.outcome is Outcome.MULTI_PICK
    assert len(result.lifted_ids) == 2


def executed_and_fully_lifted(box, friction):
    """The same hand-built scene twice, in fresh worlds: once executed (which may stop the lift
    at its early verdict), once lifted all the way up with the outcome read at the top, as
    ``execute`` did before it had an early verdict."""
    from graspbench.sim.scenes import Scene
    from graspbench.sim.world import World

    results = []
    for full_lift in (False, True):
        world = World()
        scene = Scene(world, "single", workspace_m=0.3)
        body = place(scene, box([0.04, 0.04, 0.04]), 0.0)
        scene.settle()
        world.client.changeDynamics(body, -1, lateralFriction=friction)
        gripper = Gripper(world)
        if not full_lift:
            results.append(grasp_top(scene, gripper, 0.0, 0.0, 0.04))
        else:
            bottom_z = world.pose(body)[0][2]
            assert gripper.approach_and_close([0.0, 0.0, 0.03], 0.0, 0.07) == []
            gripper.lift_to(0.03 + gripper.spec.lift_m)
            lifted = world.pose(body)[0][2] - bottom_z > gripper.spec.lift_m / 2
            results.append(Outcome.SUCCESS if lifted and body in gripper.touching() else Outcome.SLIPPED)
        world.close()
    return results


def test_early_verdict_on_a_held_object_agrees_with_the_full_lift(box):
    early, full = executed_and_fully_lifted(box, friction=1.0)
    assert early.outcome is full is Outcome.SUCCESS
    # The verdict came well before the top: with the full lift this attempt takes over 200 steps.
    assert early.steps < 150


def test_an_object_that_slips_gets_no_early_verdict(box):
    # Friction 0.001 against the fingers' 1.0: the 20 g box slides out as the hand goes up.
    early, full = executed_and_fully_lifted(box, friction=0.001)
    assert early.outcome is full is Outcome.SLIPPED
    assert early.lifted_ids == []
