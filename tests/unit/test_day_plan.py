"""geo.day_plan against brute force: the break's place, insertion's position, the plan's
feasibility; and the local clock across a change of the clocks."""

import itertools
import random
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from db.working_days import LocalClock
from geo.day_plan import (
    Day,
    Fixed,
    Reason,
    Rest,
    Step,
    Visit,
    cheapest_insertion,
    plan_day,
    timeline,
    why_left_out,
    working_day,
)
from geo.vroom_solver import vroom_steps

HOUR = 3600


def _random_day(rng: random.Random, visits: int) -> Day:
    nodes = visits + 3
    spots = [(rng.uniform(0, 40), rng.uniform(0, 40)) for _ in range(nodes)]
    drives = [
        [round(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5 * 60) for b in spots] for a in spots
    ]
    orders = []
    for node in range(2, 2 + visits):
        opens = rng.randint(8, 15) * HOUR
        window = (
            (opens, opens + rng.randint(1, 4) * HOUR)
            if rng.random() < 0.5
            else (8 * HOUR, 17 * HOUR)
        )
        orders.append(Visit(node, rng.choice([30, 45, 60]) * 60, window))
    booking = Fixed(13 * HOUR, 14 * HOUR, nodes - 1)
    return working_day(
        drives,
        [(8 * HOUR, 17 * HOUR)],
        [booking],
        orders,
        Rest(30 * 60, (11 * HOUR, 13 * HOUR + 1800)),
        end=0,
    )


def _walk(day: Day, steps: list[Step], rest_at: tuple[int, bool] | None) -> int | None:
    """A plain walk with the break forced before step `rest_at[0]` (after its drive if
    rest_at[1]); the finish, or None if a rule breaks."""
    here, clock = 0, day.shift[0]
    rest = day.rest
    for index, step in enumerate([*steps, None]):
        node = day.end if step is None else step.node
        drive = 0 if node is None else day.drives[here][node]
        if rest is not None and rest_at is not None and rest_at[0] == index:
            if rest_at[1]:
                clock += drive
                drive = 0
            start = max(clock, rest.window[0])
            if start + rest.length_s > rest.window[1]:
                return None
            clock = start + rest.length_s
        clock += drive
        if step is None:
            return clock if clock <= day.shift[1] else None
        if isinstance(step, Visit):
            start = max(clock, step.window[0])
            if start > step.window[1]:
                return None
            clock = start + step.service_s
        else:
            if clock > step.start_s:
                return None
            clock = step.end_s
        here = here if node is None else node
    return None


def _brute_finish(day: Day, steps: list[Step]) -> int | None:
    """The earliest finish over every place to take the break (or none, when the day is
    over before the break must start)."""
    finishes = []
    for index, after in itertools.product(range(len(steps) + 1), (False, True)):
        finish = _walk(day, steps, (index, after))
        if finish is not None:
            finishes.append(finish)
    if day.rest is not None:
        bare = _walk(day, steps, None)
        if bare is not None and bare <= day.rest.window[1] - day.rest.length_s:
            finishes.append(bare)
    return min(finishes, default=None)


@pytest.mark.parametrize("seed", range(40))
def test_the_timeline_takes_the_break_where_a_brute_force_finds_the_earliest_finish(
    seed: int,
) -> None:
    rng = random.Random(seed)
    day = _random_day(rng, 5)
    visits = list(day.visits)
    rng.shuffle(visits)
    steps: list[Step] = sorted([*visits[:3], *day.fixed], key=lambda s: rng.random())
    driven = timeline(day, steps)
    brute = _brute_finish(day, steps)
    assert (driven is None) == (brute is None)
    if driven is not None:
        assert driven.finish_s == brute


@pytest.mark.parametrize("seed", range(20))
def test_insertion_is_the_cheapest_position_a_brute_force_finds(seed: int) -> None:
    rng = random.Random(100 + seed)
    day = _random_day(rng, 4)
    base = plan_day(Day(day.drives, day.shift, day.fixed, day.visits[:3], day.rest, day.end))
    assert base is not None
    steps = [timed.step for timed in base.timeline.steps]
    new = day.visits[3]
    placed = cheapest_insertion(day, steps, new)
    feasible = [
        driven.drive_s
        for at in range(len(steps) + 1)
        if (driven := timeline(day, [*steps[:at], new, *steps[at:]])) is not None
    ]
    assert (placed is None) == (not feasible)
    if placed is not None:
        assert placed.timeline.drive_s == min(feasible)


@pytest.mark.parametrize("seed", range(15))
def test_a_plan_by_vroom_holds_on_the_timeline_and_keeps_as_many_as_insertion(seed: int) -> None:
    rng = random.Random(200 + seed)
    day = _random_day(rng, 12)
    planned = plan_day(day, vroom_steps)
    alone = plan_day(day)
    assert planned is not None
    assert alone is not None
    steps = [timed.step for timed in planned.timeline.steps]
    assert timeline(day, steps) is not None
    assert all(fixed in steps for fixed in day.fixed)
    assert len(planned.timeline.visits()) >= len(alone.timeline.visits())


def test_reasons_are_found_by_trying_the_order_alone() -> None:
    drives = [[0, 600, 600 * 30], [600, 0, 600 * 30], [600 * 30, 600 * 30, 0]]
    shift = [(8 * HOUR, 17 * HOUR)]
    booking = Fixed(9 * HOUR, 12 * HOUR, 1)
    day = working_day(drives, shift, [booking], [], None)
    assert why_left_out(day, Visit(1, 1800, (6 * HOUR, 7 * HOUR))) is Reason.outside_window
    assert why_left_out(day, Visit(1, 1800, (9 * HOUR, 11 * HOUR))) is Reason.conflicts_with_booking
    assert why_left_out(day, Visit(1, 10 * HOUR, (8 * HOUR, 17 * HOUR))) is Reason.after_shift
    assert why_left_out(day, Visit(2, 1800, (8 * HOUR, 17 * HOUR))) is Reason.too_far


def test_closed_hours_are_the_break_when_long_enough() -> None:
    drives = [[0]]
    lunch_closed = working_day(
        drives,
        [(8 * HOUR, 12 * HOUR), (13 * HOUR, 17 * HOUR)],
        [],
        [],
        Rest(1800, (11 * HOUR, 13 * HOUR + 1800)),
    )
    assert lunch_closed.rest is None
    assert lunch_closed.fixed == [Fixed(12 * HOUR, 13 * HOUR, None)]
    short_gap = working_day(
        drives,
        [(8 * HOUR, 12 * HOUR), (12 * HOUR + 600, 17 * HOUR)],
        [],
        [],
        Rest(1800, (11 * HOUR, 13 * HOUR + 1800)),
    )
    assert short_gap.rest is not None


@pytest.mark.parametrize(
    ("day", "hours_before_eight"),
    [(date(2027, 3, 28), 7), (date(2027, 10, 31), 9), (date(2027, 6, 1), 8)],
)
def test_the_local_clock_counts_real_seconds_across_a_change(
    day: date, hours_before_eight: int
) -> None:
    clock = LocalClock(day, "Europe/Stockholm")
    assert clock.seconds(time(8)) == hours_before_eight * HOUR
    assert clock.instant(hours_before_eight * HOUR) == datetime.combine(
        day, time(8), ZoneInfo("Europe/Stockholm")
    )
