"""A provider's day on the clock: which orders fit it, in what order, and when.

Times are whole seconds from one instant (the caller's: the start of the local day), so
a clock change inside the day is the caller's arithmetic, not this module's. Places are
nodes of a matrix of driving times in seconds; node 0 is where the day starts.

A plan is a sequence of steps, visits to orders and fixed commitments (bookings, other
routes' visits, hours the provider is closed), which `timeline` drives: leave the start
when the shift begins, drive to each step, wait when early, refuse a visit that cannot
start inside its window or a fixed step that would be reached late, and end by the end
of the shift. The break is not a step: the timeline takes it where it delays the day
least, before or after one of the drives, inside its window. So a plan is judged by its
order alone, whichever solver proposed it. A day over before the break must start (the
end of its window less its length) takes none.
"""

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from geo.routes import visiting_order

Drives = Sequence[Sequence[int]]


@dataclass(frozen=True, slots=True)
class Visit:
    """An order to visit: where, for how long, and the window its visit starts in."""

    node: int
    service_s: int
    window: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Fixed:
    """Time the plan works around. `node` None: hours the provider is closed, spent
    nowhere in particular (no drive to or from them)."""

    start_s: int
    end_s: int
    node: int | None


@dataclass(frozen=True, slots=True)
class Rest:
    """The day's break: `length_s` long, starting no earlier than the window's start and
    ending by its end."""

    length_s: int
    window: tuple[int, int]


Step = Visit | Fixed


@dataclass(frozen=True)
class Day:
    drives: Drives
    shift: tuple[int, int]
    fixed: Sequence[Fixed]
    """In time order, not overlapping."""
    visits: Sequence[Visit]
    rest: Rest | None
    end: int | None = 0
    """The node the day ends at; None: wherever its last step is."""


def working_day(
    drives: Drives,
    opening: Sequence[tuple[int, int]],
    commitments: Sequence[Fixed],
    visits: Sequence[Visit],
    rest: Rest | None,
    end: int | None = 0,
) -> Day:
    """The day of a provider open during `opening` (in time order), around its
    commitments (with places, in time order, not overlapping).

    The shift runs from the first opening to the last closing; it starts earlier if the
    first commitment in it can't be reached from the start by then, and ends later if
    the end can't be reached from the last one (a commitment is kept as made). Hours
    between the intervals are closed: no visit, no drive. The break is dropped if a
    closed stretch inside its window is long enough already, or if the commitments leave
    no room for it.
    """
    span = (opening[0][0], opening[-1][1])
    kept = [fixed for fixed in commitments if fixed.start_s < span[1] and fixed.end_s > span[0]]
    shift = span
    if kept and kept[0].node is not None:
        shift = (min(shift[0], kept[0].start_s - drives[0][kept[0].node]), shift[1])
    if kept and kept[-1].node is not None:
        back = 0 if end is None else drives[kept[-1].node][end]
        shift = (shift[0], max(shift[1], kept[-1].end_s + back))
    gaps = [(a[1], b[0]) for a, b in itertools.pairwise(opening) if a[1] < b[0]]
    closed = [Fixed(*piece, None) for gap in gaps for piece in _minus(gap, kept)]
    fixed = sorted([*kept, *closed], key=lambda step: step.start_s)
    day = Day(drives, shift, fixed, visits, _needed(rest, gaps), end)
    if day.rest is not None and timeline(day, fixed) is None:
        return replace(day, rest=None)
    return day


def _minus(gap: tuple[int, int], taken: Sequence[Fixed]) -> list[tuple[int, int]]:
    """The parts of `gap` no commitment takes."""
    pieces, at = [], gap[0]
    for fixed in taken:
        if fixed.end_s <= at or fixed.start_s >= gap[1]:
            continue
        if fixed.start_s > at:
            pieces.append((at, fixed.start_s))
        at = max(at, fixed.end_s)
    if at < gap[1]:
        pieces.append((at, gap[1]))
    return pieces


def _needed(rest: Rest | None, gaps: Sequence[tuple[int, int]]) -> Rest | None:
    """The break, unless it has no room in its window or closed hours give it already."""
    if rest is None or rest.length_s <= 0 or rest.window[1] - rest.window[0] < rest.length_s:
        return None
    for start, end in gaps:
        if min(end, rest.window[1]) - max(start, rest.window[0]) >= rest.length_s:
            return None
    return rest


@dataclass(frozen=True, slots=True)
class Timed:
    step: Step
    arrival_s: int
    start_s: int
    end_s: int
    drive_s: int
    """From the step before (or the start)."""


@dataclass(frozen=True)
class Timeline:
    steps: list[Timed]
    rest_start_s: int | None
    finish_s: int
    """When the day is over: at the end node, or after the last step of an open day."""
    end_drive_s: int
    """From the last step to the end node."""

    @property
    def drive_s(self) -> int:
        return sum(timed.drive_s for timed in self.steps) + self.end_drive_s

    def visits(self) -> list[Visit]:
        return [timed.step for timed in self.steps if isinstance(timed.step, Visit)]


_NEVER = 1 << 62


@dataclass(frozen=True, slots=True)
class _RestAt:
    """Where the break is taken: before step `index` (len(steps): before the end), after
    driving to it or before."""

    index: int
    after_drive: bool


def timeline(day: Day, steps: Sequence[Step]) -> Timeline | None:
    """The steps driven in this order, with the break where it delays the day least; None
    if no such day keeps every window, fixed time and the shift."""
    if day.rest is None:
        return _walk(day, steps, None)
    rest_at = _best_rest(day, steps, day.rest)
    return None if rest_at is None else _walk(day, steps, rest_at)


def _drive(day: Day, here: int, step: Step) -> tuple[int, int]:
    """The drive to a step and where the provider then is."""
    if step.node is None:
        return 0, here
    return day.drives[here][step.node], step.node


def _serve(step: Step, arrival: int) -> tuple[int, int] | None:
    """When the step starts and ends if reached at `arrival`; None if that is too late."""
    if isinstance(step, Visit):
        start = max(arrival, step.window[0])
        return None if start > step.window[1] else (start, start + step.service_s)
    return None if arrival > step.start_s else (step.start_s, step.end_s)


def _rested(rest: Rest, clock: int) -> int | None:
    """When a break begun as soon as possible after `clock` ends; None if it can't."""
    start = max(clock, rest.window[0])
    return None if start + rest.length_s > rest.window[1] else start + rest.length_s


def _best_rest(day: Day, steps: Sequence[Step], rest: Rest) -> _RestAt | None:
    """Where to take the break: a walk keeping two clocks, the earliest without a break
    yet and the earliest with one (an earlier clock is never worse, as waiting is
    allowed), so one pass finds the best of every place to take it."""
    here, unrested, rested, rest_at = 0, day.shift[0], _NEVER, None
    for index, step in enumerate([*steps, None]):
        if step is None:
            drive, there = (0, here) if day.end is None else (day.drives[here][day.end], day.end)
        else:
            drive, there = _drive(day, here, step)
        # Between equal arrivals the latest break wins: it moves no visit before it.
        arrivals: list[tuple[int, _RestAt | None]] = []
        after = _rested(rest, unrested + drive)
        if after is not None:
            arrivals.append((after, _RestAt(index, after_drive=True)))
        before = _rested(rest, unrested)
        if before is not None:
            arrivals.append((before + drive, _RestAt(index, after_drive=False)))
        arrivals.append((rested + drive, rest_at))
        arrival, best_at = min(arrivals, key=lambda pair: pair[0])
        if step is None:
            if unrested + drive <= rest.window[1] - rest.length_s:
                return _RestAt(-1, after_drive=False)  # over before the break must start
            return best_at if arrival <= day.shift[1] else None
        unrested_served = _serve(step, unrested + drive)
        rested_served = None if arrival >= _NEVER else _serve(step, arrival)
        unrested = _NEVER if unrested_served is None else unrested_served[1]
        rested, rest_at = (_NEVER, None) if rested_served is None else (rested_served[1], best_at)
        here = there
        if unrested >= _NEVER and rested >= _NEVER:
            return None
    return None  # pragma: no cover (the loop returns at the end)


def _walk(day: Day, steps: Sequence[Step], rest_at: _RestAt | None) -> Timeline | None:
    here, clock, rest_start = 0, day.shift[0], None
    timed: list[Timed] = []
    for index, step in enumerate([*steps, None]):
        if step is None:
            drive, there = (0, here) if day.end is None else (day.drives[here][day.end], day.end)
        else:
            drive, there = _drive(day, here, step)
        arrival = clock + drive
        if day.rest and rest_at and rest_at.index == index:
            rest_start = max(arrival if rest_at.after_drive else clock, day.rest.window[0])
            rested = rest_start + day.rest.length_s
            arrival = rested if rest_at.after_drive else rested + drive
        if step is None:
            if arrival > day.shift[1]:
                return None
            return Timeline(timed, rest_start, arrival, drive)
        served = _serve(step, arrival)
        if served is None:
            return None
        timed.append(Timed(step, arrival, *served, drive))
        clock, here = served[1], there
    return None  # pragma: no cover (the loop returns at the end)


@dataclass(frozen=True, slots=True)
class Placed:
    """A sequence with one more visit in it, and the timeline it makes."""

    steps: list[Step]
    timeline: Timeline


def cheapest_insertion(
    day: Day, steps: Sequence[Step], visit: Visit, first: int = 0
) -> Placed | None:
    """The visit inserted where the day drives least (between equals, where it finishes
    first, then the earliest position), at or after position `first`; None if it fits
    nowhere."""
    best: Placed | None = None
    for position in range(first, len(steps) + 1):
        candidate = [*steps[:position], visit, *steps[position:]]
        driven = timeline(day, candidate)
        if driven is not None and (
            best is None
            or (driven.drive_s, driven.finish_s) < (best.timeline.drive_s, best.timeline.finish_s)
        ):
            best = Placed(candidate, driven)
    return best


class Reason(StrEnum):
    """Why an order was left out of a day."""

    outside_window = "outside_window"
    after_shift = "after_shift"
    conflicts_with_booking = "conflicts_with_booking"
    too_far = "too_far"


def why_left_out(day: Day, visit: Visit) -> Reason:
    """Why the visit is not in the day's plan, tried alone:

    - in the shift with no commitments, it misses its window: outside_window; it fits
      without the window, but not in the shift: after_shift; it would not fit even as a
      visit of no length: too_far;
    - it fits alone, but not around the fixed commitments: conflicts_with_booking;
    - it fits around them: the other orders filled the day, after_shift.
    """
    closed = [fixed for fixed in day.fixed if fixed.node is None]
    if cheapest_insertion(day, closed, visit) is None:
        unwindowed = replace(visit, window=day.shift)
        if cheapest_insertion(day, closed, unwindowed) is not None:
            return Reason.outside_window
        if cheapest_insertion(day, closed, replace(unwindowed, service_s=0)) is not None:
            return Reason.after_shift
        return Reason.too_far
    if cheapest_insertion(day, day.fixed, visit) is None:
        return Reason.conflicts_with_booking
    return Reason.after_shift


@dataclass(frozen=True)
class Plan:
    timeline: Timeline
    left_out: list[tuple[Visit, Reason]]


Solver = Callable[[Day], Sequence[Step]]
"""Proposes the steps of a day in order: the day's fixed steps all, of its visits those
it fits. `plan_day` checks the proposal on its own timeline."""


_TOUR_PROPOSAL_UP_TO = 12
"""Days of up to this many orders are also tried in the tour optimizer's order
(geo.routes: the optimum on every benchmark day of up to 12, in about 10 ms), where VROOM
is sometimes up to 1% longer. Longer days are VROOM's: the tour would cost 45 ms at 25
and add nothing on average."""


def plan_day(day: Day, solver: Solver | None = None) -> Plan | None:
    """The best of what `solver` proposes, the visits in the tour optimizer's order
    (short days), and cheapest insertion (when the others leave orders out), each checked
    by `timeline`: the plan keeping most orders, then driving least. None if the fixed
    steps alone do not hold."""
    solvable = replace(day, visits=[v for v in day.visits if v.window[0] <= v.window[1]])
    proposals = []
    if solver is not None and solvable.visits:
        steps = solver(solvable)
        if all(fixed in steps for fixed in day.fixed):
            proposals.append(timeline(day, steps))
    if 1 < len(solvable.visits) <= _TOUR_PROPOSAL_UP_TO:
        proposals.append(_in_tour_order(solvable))
    found = [proposed for proposed in proposals if proposed is not None]
    if not found or min(len(p.visits()) for p in found) < len(solvable.visits):
        inserted = insertion_plan(solvable)
        found += [] if inserted is None else [inserted]
    if not found:
        return None
    best = min(found, key=lambda p: (-len(p.visits()), p.drive_s))
    return _plan(day, best)


def _in_tour_order(day: Day) -> Timeline | None:
    """The visits in the order of the shortest tour through them (no clock), each placed
    around the fixed steps after the one before; None if one does not fit so."""
    nodes = [0, *(visit.node for visit in day.visits)]
    drives = [[day.drives[a][b] for b in nodes] for a in nodes]
    order = visiting_order(drives, return_to_start=day.end == 0)
    driven = in_given_order(day, [day.visits[stop] for stop in order])
    return driven if isinstance(driven, Timeline) else None


def _plan(day: Day, driven: Timeline) -> Plan:
    placed = set(driven.visits())
    left_out = [(visit, why_left_out(day, visit)) for visit in day.visits if visit not in placed]
    return Plan(driven, left_out)


def insertion_plan(day: Day) -> Timeline | None:
    """The fixed steps, then each visit, nearest the start first, at its cheapest feasible
    place; None if the fixed steps alone do not hold."""
    steps: list[Step] = list(day.fixed)
    driven = timeline(day, steps)
    if driven is None:
        return None
    for visit in sorted(day.visits, key=lambda visit: (day.drives[0][visit.node], visit.node)):
        placed = cheapest_insertion(day, steps, visit)
        if placed is not None:
            steps, driven = placed.steps, placed.timeline
    return driven


def in_given_order(day: Day, visits: Sequence[Visit]) -> Timeline | Visit | None:
    """The visits in this order around the fixed steps, each at its cheapest place after
    the one before; the first visit that fits nowhere if one does not; None if the fixed
    steps alone do not hold."""
    steps: list[Step] = list(day.fixed)
    after = 0
    for visit in visits:
        placed = cheapest_insertion(day, steps, visit, first=after)
        if placed is None:
            return visit
        after = placed.steps.index(visit) + 1
        steps = placed.steps
    return timeline(day, steps)
