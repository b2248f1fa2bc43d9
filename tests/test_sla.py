"""Working-day (día hábil) arithmetic for service-level targets."""

from datetime import UTC, date, datetime

import pytest

from portal import sla


@pytest.mark.parametrize(("year", "easter"), [(2024, date(2024, 3, 31)),
                                              (2025, date(2025, 4, 20)),
                                              (2026, date(2026, 4, 5)),
                                              (2027, date(2027, 3, 28))])
def test_easter(year, easter):
    assert sla.easter_sunday(year) == easter


def test_national_holidays_include_good_friday_and_the_fixed_ones():
    holidays = sla.spanish_national_holidays(2026)
    assert date(2026, 4, 3) in holidays  # Viernes Santo
    assert date(2026, 10, 12) in holidays and date(2026, 12, 8) in holidays
    assert date(2026, 4, 2) not in holidays  # Jueves Santo is regional, not national


@pytest.mark.parametrize(("start", "days", "due"), [
    (date(2026, 11, 20), 2, date(2026, 11, 24)),  # Friday + 2 → Tuesday (weekend skipped)
    (date(2026, 11, 21), 1, date(2026, 11, 23)),  # Saturday + 1 → Monday
    (date(2026, 12, 4), 2, date(2026, 12, 9)),    # Fri 4 Dec: skips 6 (Sun) and 8 (holiday)
    (date(2026, 12, 23), 3, date(2026, 12, 29)),  # across Christmas
    (date(2026, 12, 30), 2, date(2027, 1, 4)),    # across the year end and 1 January
    (date(2026, 4, 1), 2, date(2026, 4, 6)),      # across Good Friday
    (date(2026, 11, 23), 0, date(2026, 11, 23)),
])
def test_add_working_days(start, days, due):
    assert sla.Calendar().add_working_days(start, days) == due


def test_deployment_holidays_are_skipped():
    local = sla.Calendar([date(2026, 11, 24)])  # a local festivity
    assert local.add_working_days(date(2026, 11, 23), 1) == date(2026, 11, 25)
    assert local.working_days_between(date(2026, 11, 23), date(2026, 11, 27)) == 3


def test_working_days_between_is_signed():
    calendar = sla.Calendar()
    assert calendar.working_days_between(date(2026, 11, 20), date(2026, 11, 24)) == 2
    assert calendar.working_days_between(date(2026, 11, 24), date(2026, 11, 20)) == -2


def test_due_at_is_the_end_of_the_local_day(app):
    # Friday 20 November 2026, 21:30 in Madrid (20:30 UTC): due the end of Tuesday 24.
    start = datetime(2026, 11, 20, 20, 30, tzinfo=UTC)
    due = sla.due_at(start, 2, calendar_days=False, calendar=sla.Calendar())
    assert due == datetime(2026, 11, 24, 22, 59, 59, tzinfo=UTC)  # 23:59:59 CET


def test_calendar_day_targets_count_weekends(app):
    start = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert sla.due_at(start, 3, calendar_days=True).date() == date(2026, 11, 23)


def test_pause_over_a_weekend_costs_nothing(app):
    due = datetime(2026, 11, 26, 22, 59, 59, tzinfo=UTC)  # Thursday 26, end of day
    paused = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # Friday
    resumed = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday
    # One working day (Monday) passed while waiting: the target moves to Friday 27.
    moved = sla.extend_for_pause(due, paused, resumed, calendar_days=False,
                                 calendar=sla.Calendar())
    assert moved == datetime(2026, 11, 27, 22, 59, 59, tzinfo=UTC)


def test_pause_across_a_national_holiday_and_year_end(app):
    due = datetime(2027, 1, 8, 22, 59, 59, tzinfo=UTC)  # Friday 8 January
    paused = datetime(2026, 12, 30, 10, 0, tzinfo=UTC)
    resumed = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)
    # Working days lost: 31 Dec, 4 Jan, 5 Jan (1 Jan is a holiday) → 3.
    moved = sla.extend_for_pause(due, paused, resumed, calendar_days=False,
                                 calendar=sla.Calendar())
    assert moved.date() == date(2027, 1, 13)


def test_calendar_day_pause_moves_by_the_time_itself(app):
    due = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    paused = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    resumed = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
    assert sla.extend_for_pause(due, paused, resumed, calendar_days=True) == datetime(
        2026, 12, 2, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2026, 11, 20, 9, 0, tzinfo=UTC), ("due", 2)),      # Friday → Tuesday
    (datetime(2026, 11, 24, 9, 0, tzinfo=UTC), ("today", 0)),
    (datetime(2026, 11, 25, 9, 0, tzinfo=UTC), ("overdue", 1)),
    (datetime(2026, 11, 30, 9, 0, tzinfo=UTC), ("overdue", 4)),  # Mon 30: 25,26,27,30
])
def test_describe_due_dates_in_working_days(app, now, expected):
    due = datetime(2026, 11, 24, 22, 59, 59, tzinfo=UTC)
    assert sla.describe(due, now, calendar_days=False, calendar=sla.Calendar()) == expected


def test_fast_working_day_count_agrees_with_counting_day_by_day():
    from datetime import timedelta

    calendar = sla.Calendar([date(2026, 5, 15), date(2027, 9, 8)])
    start = date(2025, 12, 20)
    for span in range(0, 800, 7):
        for shift in range(7):
            end = start + timedelta(days=span + shift)
            slow = sum(1 for offset in range(1, (end - start).days + 1)
                       if calendar.is_working_day(start + timedelta(days=offset)))
            assert calendar.working_days_between(start, end) == slow
