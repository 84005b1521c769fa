"""An independent check of a planned day: every arrival, wait, break and departure
recomputed from the drives, and every rule the plan must keep asserted.

It shares nothing with the planner but the haversine: times come from the route's JSON,
drives from the distance at the deployment's speed rounded up to the second, or from
the test's own shortest paths on the roads (tests.support.roads).
"""

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.settings import RoutePlanning
from geo.distance import Point, haversine_m

PLANNING = RoutePlanning()
STOCKHOLM = ZoneInfo("Europe/Stockholm")


@dataclass(frozen=True)
class Busy:
    """Something that takes the provider's time at a place."""

    start: datetime
    end: datetime
    place: Point
    what: str


def great_circle(a: Point, b: Point) -> tuple[float, float]:
    """Seconds and metres at the deployment's speed."""
    metres = haversine_m(a, b)
    return metres / 1000 / PLANNING.speed_kmh * 3600, metres


@dataclass(frozen=True)
class DayRulesSeen:
    day: date
    opens: time = time(8)
    closes: time = time(17)
    break_minutes: int = 30
    break_window: tuple[time, time] = (time(11), time(13, 30))
    commitments: list[Busy] = field(default_factory=list)
    """Other than the route's own visits: bookings, other routes' visits."""
    travel: Callable[[Point, Point], tuple[float, float]] = great_circle
    """Seconds and metres from a place to another."""
    zone: ZoneInfo = STOCKHOLM
    """The provider's clock."""

    def local(self, at: time) -> datetime:
        return datetime.combine(self.day, at, self.zone)

    def drive(self, a: Point, b: Point) -> timedelta:
        return timedelta(seconds=math.ceil(self.travel(a, b)[0]))

    def metres(self, a: Point, b: Point) -> float:
        return self.travel(a, b)[1]


def _point(body: dict[str, Any]) -> Point:
    return Point(body["latitude"], body["longitude"])


def check_day(
    route: dict[str, Any], rules: DayRulesSeen, orders: dict[int, dict[str, Any]]
) -> None:
    """Assert the route keeps the clock: legs measured from wherever the provider was
    before; every visit reached in time from the item before (its drive, and the break
    if taken between); inside its order's window and the shift; clear of every
    commitment; the break inside its window, of its length, in a gap long enough; the
    day back at its end by closing."""
    start = _point(route["start"])
    visits = [
        Busy(
            datetime.fromisoformat(stop["eta"]),
            datetime.fromisoformat(stop["eta"]) + timedelta(minutes=stop["service_minutes"]),
            _point(stop),
            f"stop {stop['route_order_id']}",
        )
        for stop in route["stops"]
    ]
    day_start = rules.local(rules.opens)
    items = sorted(
        [*visits, *(c for c in rules.commitments if c.end > day_start)], key=lambda b: b.start
    )
    for earlier, later in itertools.pairwise(items):
        assert earlier.end <= later.start, f"{earlier.what} overlaps {later.what}"
    rest = route["break"]
    if rest is None and rules.break_minutes:
        ended = datetime.fromisoformat(route["finish"])
        last_start = rules.local(rules.break_window[1]) - timedelta(minutes=rules.break_minutes)
        assert ended <= last_start, "the day has no break"
    rest_span = None
    if rest is not None:
        rest_span = (datetime.fromisoformat(rest["start"]), datetime.fromisoformat(rest["end"]))
        assert rest_span[1] - rest_span[0] == timedelta(minutes=rules.break_minutes)
        assert rules.local(rules.break_window[0]) <= rest_span[0]
        assert rest_span[1] <= rules.local(rules.break_window[1])
    here, clock, what = start, day_start, "the start"
    for item in items:
        needed = rules.drive(here, item.place)
        if rest_span and clock <= rest_span[0] and rest_span[1] <= item.start:
            needed += rest_span[1] - rest_span[0]
        assert clock + needed <= item.start + timedelta(seconds=1), (
            f"{item.what} is reached too late from {what}"
        )
        here, clock, what = item.place, item.end, item.what
    places = {stop["route_order_id"]: _point(stop) for stop in route["stops"]}
    previous = start
    for item in items:
        if item.what.startswith("stop "):
            order_id = int(item.what.split()[1])
            [stop] = [s for s in route["stops"] if s["route_order_id"] == order_id]
            assert stop["leg_distance_m"] == pytest.approx(rules.metres(previous, item.place))
            _check_window(stop, orders.get(order_id, {}), rules)
        previous = item.place
    _check_end(route, rules, here, clock, rest_span, places)


def _check_window(stop: dict[str, Any], order: dict[str, Any], rules: DayRulesSeen) -> None:
    eta = datetime.fromisoformat(stop["eta"]).astimezone(rules.zone)
    end = eta + timedelta(minutes=stop["service_minutes"])
    assert rules.local(rules.opens) <= eta
    assert end <= rules.local(rules.closes)
    if order.get("arrive_after"):
        assert eta.time() >= time.fromisoformat(order["arrive_after"]), stop
    if order.get("arrive_before"):
        assert eta.time() <= time.fromisoformat(order["arrive_before"]), stop


def _check_end(
    route: dict[str, Any],
    rules: DayRulesSeen,
    here: Point,
    clock: datetime,
    rest_span: tuple[datetime, datetime] | None,
    places: dict[int, Point],
) -> None:
    finish = datetime.fromisoformat(route["finish"])
    closes = rules.local(rules.closes)
    if route["end"] is None:
        assert finish <= closes
        return
    end = _point(route["end"])
    assert route["end"]["distance_m"] == pytest.approx(rules.metres(here, end))
    needed = rules.drive(here, end)
    if rest_span and clock <= rest_span[0]:
        needed += rest_span[1] - rest_span[0]
    assert clock + needed <= finish + timedelta(seconds=1)
    assert finish <= closes
    legs = sum(stop["leg_distance_m"] for stop in route["stops"])
    assert route["total_distance_m"] >= legs + route["end"]["distance_m"] - 1e-6
    assert places  # a planned day has stops
