"""The outcome vocabulary and the records: one name per outcome, the flags each implies, the columns."""

from graspbench.outcomes import MOTION_COLUMNS, MULTI_PICKS, PICK_CLASSES, AttemptRecord, Outcome, PickRecord, flags


def test_every_outcome_implies_its_flags():
    assert flags("success") == {"success": True, "collision": False, "multi_pick": False}
    assert flags("collision") == {"success": False, "collision": True, "multi_pick": False}
    assert flags("multi_pick")["multi_pick"] and flags("fail_multipick")["multi_pick"]
    for outcome in ("no_contact", "slipped", "sim_error", "fail_not_picked", "released", "no_attempt"):
        assert not any(flags(outcome).values()), outcome
    assert Outcome("sim_error") is Outcome.SIM_ERROR and Outcome.SUCCESS == "success"
    assert set(MULTI_PICKS) == {Outcome.MULTI_PICK, Outcome.FAIL_MULTIPICK}
    assert [o.value for o in PICK_CLASSES] == ["success", "fail_multipick", "fail_not_picked"]


def test_the_records_own_their_columns_in_the_order_written():
    assert AttemptRecord.columns() == [
        "env",
        "agent",
        "seed",
        "episode",
        "attempt",
        "outcome",
        "success",
        "collision",
        "multi_pick",
        "removed",
        "objects_left",
        "objects_at_start",
        "level",
        "top_level",
        "planning_ms",
        "sim_time_s",
        "u",
        "v",
        "angle_rad",
        "opening_px",
        "depth_m",
        "quality",
        "on_object",
        "first_contact",
        "object_name",
    ]
    assert AttemptRecord.columns()[-len(AttemptRecord.GRASP_COLUMNS) - 1 : -1] == list(AttemptRecord.GRASP_COLUMNS)
    assert PickRecord.columns() == [
        "env",
        "split",
        "agent",
        "seed",
        "episode",
        "pick",
        "target_name",
        "outcome",
        "success",
        "collision",
        "multi_pick",
        "removed",
        "objects_left",
        "objects_at_start",
        "planning_ms",
        "sim_time_s",
        *MOTION_COLUMNS,
        "probes",
        "retries",
        "u",
        "v",
        "opening_px",
        "width_m",
    ]
