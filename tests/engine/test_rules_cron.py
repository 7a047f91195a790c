"""Schedules: cron expressions read as Vixie cron reads them, ticking on the wall clock of
Europe/Helsinki, across both changes of its offset (known answers, no stores)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from kokemus.domain import cron
from kokemus.domain.rules import OnSchedule, Rule

HKI = "Europe/Helsinki"


def walls(expression: str, after: datetime, until: datetime,
          zone: str = HKI) -> list[tuple[str, str]]:
    """(wall time, UTC moment) of each tick, as text."""
    return [(t.id, t.at.strftime("%Y-%m-%dT%H:%M")) for t in
            cron.ticks(cron.parse(expression), zone, after, until)]


def test_fields_lists_ranges_steps_and_names() -> None:
    c = cron.parse("*/15 9-17/4 1,15 jan-mar,dec mon-fri")
    assert c.minutes == {0, 15, 30, 45}
    assert c.hours == {9, 13, 17}
    assert c.days == {1, 15}
    assert c.months == {1, 2, 3, 12}
    assert c.weekdays == {1, 2, 3, 4, 5}
    assert cron.parse("0 0 * * 7").weekdays == {0}  # 7 is Sunday, as 0
    assert cron.parse("5/20 * * * *").minutes == {5, 25, 45}
    assert cron.parse("@daily") == cron.parse("0 0 * * *").__class__(
        "@daily", frozenset({0}), frozenset({0}), frozenset(range(1, 32)),
        frozenset(range(1, 13)), frozenset(range(7)), True, True)


@pytest.mark.parametrize(("text", "message"), [
    ("* * * *", "five fields"),
    ("60 * * * *", "minute: 60 is outside 0-59"),
    ("* 24 * * *", "hour: 24 is outside 0-23"),
    ("* * 0 * *", "day of month: 0 is outside 1-31"),
    ("* * * 13 *", "month: 13 is outside 1-12"),
    ("* * * * 8", "day of week: 8 is outside 0-7"),
    ("*/0 * * * *", "step"),
    ("5-1 * * * *", "runs backwards"),
    ("a * * * *", "minute: 'a' is not a number"),
    ("1,,2 * * * *", "empty item"),
])
def test_bad_expressions_say_which_field(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cron.parse(text)


def test_a_bad_expression_is_refused_by_the_workspace_model() -> None:
    with pytest.raises(ValidationError, match="hour: 25 is outside"):
        OnSchedule(on="schedule", cron="0 25 * * *")
    # written in YAML, `on` arrives as the boolean true (YAML 1.1): still a trigger
    rule = Rule.model_validate({"id": "r", "name": "r", "when": {True: "schedule",
                                                               "cron": "0 9 * * *"},
                                "actions": [{"do": "stop_sequence", "sequence": "s"}]})
    assert isinstance(rule.when, OnSchedule)


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    c = cron.parse("0 12 13 * fri")  # the 13th, and every Friday (Vixie cron)
    assert c.matches(datetime(2026, 6, 13, 12, 0))  # a Saturday, the 13th
    assert c.matches(datetime(2026, 6, 5, 12, 0))  # a Friday, the 5th
    assert not c.matches(datetime(2026, 6, 6, 12, 0))
    only_13 = cron.parse("0 12 13 * *")
    assert not only_13.matches(datetime(2026, 6, 5, 12, 0))


def test_wall_clock_time_whatever_the_offset() -> None:
    # 9:00 in Helsinki is 06:00 UTC in summer (+3) and 07:00 UTC in winter (+2)
    summer = walls("0 9 * * *", datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2,
                                                                            tzinfo=UTC))
    winter = walls("0 9 * * *", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2,
                                                                            tzinfo=UTC))
    assert summer == [("2026-06-01T09:00", "2026-06-01T06:00")]
    assert winter == [("2026-01-01T09:00", "2026-01-01T07:00")]


def test_spring_forward_a_missing_wall_time_ticks_once_after_the_gap() -> None:
    # 29 March 2026: 03:00 EET becomes 04:00 EEST at 01:00 UTC; 03:00-03:59 never happen
    day = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
    assert walls("30 3 * * *", day, day + timedelta(hours=6)) == [
        ("2026-03-29T03:30", "2026-03-29T01:00")]  # at 04:00 local, once
    assert walls("*/20 3 * * *", day, day + timedelta(hours=6)) == [
        ("2026-03-29T03:00", "2026-03-29T01:00"), ("2026-03-29T03:20", "2026-03-29T01:00"),
        ("2026-03-29T03:40", "2026-03-29T01:00")]
    assert walls("0 4 * * *", day, day + timedelta(hours=6)) == [
        ("2026-03-29T04:00", "2026-03-29T01:00")]
    # hourly: 02:00 (00:00 UTC), the missing 03:00 and 04:00 both at 01:00 UTC, then 05:00
    assert walls("0 * * * *", day + timedelta(hours=1), day + timedelta(hours=4)) == [
        ("2026-03-29T02:00", "2026-03-29T00:00"), ("2026-03-29T03:00", "2026-03-29T01:00"),
        ("2026-03-29T04:00", "2026-03-29T01:00"), ("2026-03-29T05:00", "2026-03-29T02:00")]


def test_fall_back_a_repeated_wall_time_ticks_at_its_first_occurrence() -> None:
    # 25 October 2026: 04:00 EEST becomes 03:00 EET at 01:00 UTC; 03:00-03:59 happen twice
    day = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)
    assert walls("30 3 * * *", day, day + timedelta(hours=8)) == [
        ("2026-10-25T03:30", "2026-10-25T00:30")]
    assert walls("0 * * * *", day + timedelta(hours=1), day + timedelta(hours=6)) == [
        ("2026-10-25T02:00", "2026-10-24T23:00"), ("2026-10-25T03:00", "2026-10-25T00:00"),
        ("2026-10-25T04:00", "2026-10-25T02:00"), ("2026-10-25T05:00", "2026-10-25T03:00")]


def test_latest_counts_the_ticks_it_passes_over() -> None:
    tick, passed = cron.latest(cron.parse("*/10 * * * *"), HKI,
                               datetime(2026, 6, 1, 6, 0, tzinfo=UTC),
                               datetime(2026, 6, 1, 7, 0, tzinfo=UTC))
    assert tick is not None and tick.id == "2026-06-01T10:00"
    assert passed == 5  # 09:10 ... 09:50; 09:00 is not after `after`
    assert cron.latest(cron.parse("0 0 1 1 *"), HKI, datetime(2026, 6, 1, tzinfo=UTC),
                       datetime(2026, 6, 2, tzinfo=UTC)) == (None, 0)
