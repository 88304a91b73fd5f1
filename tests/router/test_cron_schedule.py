"""Cron schedules: the next tick in a timezone, validation, and what a tick runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from router import errors
from router.requests import RunCreate, RunCreateStateful
from router.services import crons


def test_next_tick_is_strictly_after_and_in_utc() -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert crons.next_run_after("0 * * * *", None, at) == datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    assert crons.next_run_after("* * * * * */5", None, at) == datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


def test_timezone_follows_daylight_saving() -> None:
    winter = crons.next_run_after("0 9 * * *", "America/New_York", datetime(2026, 1, 10, tzinfo=UTC))
    summer = crons.next_run_after("0 9 * * *", "America/New_York", datetime(2026, 7, 10, tzinfo=UTC))
    assert (winter.hour, summer.hour) == (14, 13)


def test_invalid_schedule_and_timezone_name_the_field() -> None:
    with pytest.raises(errors.UnprocessableError, match="schedule"):
        crons.check_schedule("61 * * * *")
    with pytest.raises(errors.UnprocessableError, match="timezone"):
        crons.zone("Nowhere/Town")


def test_a_tick_runs_the_payload() -> None:
    payload = {
        "schedule": "* * * * *",
        "assistant_id": "a",
        "input": {"x": 1},
        "enabled": True,
        "multitask_strategy": "interrupt",
        "config": {"configurable": {"cron_id": "c"}},
    }
    stateless = crons.run_body({"payload": payload, "thread_id": None, "on_run_completed": "keep"})  # type: ignore[arg-type]  # a Record stand-in
    assert type(stateless) is RunCreate
    assert stateless.on_completion == "keep"
    assert stateless.input == {"x": 1}
    threaded = crons.run_body({"payload": payload, "thread_id": "t", "on_run_completed": None})  # type: ignore[arg-type]  # a Record stand-in
    assert isinstance(threaded, RunCreateStateful)
    assert threaded.multitask_strategy == "interrupt"
