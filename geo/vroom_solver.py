"""A day proposed by VROOM (pyvroom), the field's open-source reference for routes with
time windows and breaks; `geo.day_plan` checks what it proposes.

One vehicle drives the shift. Each order is a job with its window. A fixed commitment
with a place is a job that must start at its time, with a priority far above any
order's, so it is kept before any order is; closed hours are breaks at their time. The
day's break is a break with its window. VROOM keeps as many orders as fit (equal
priorities), then drives least.
"""

from collections.abc import Sequence

import vroom

from geo.day_plan import Day, Fixed, Step

_FIXED_PRIORITY = 100
"""VROOM's highest; orders have 1, and a day never holds 100 of them."""
_EXPLORATION = 5
"""VROOM's most thorough search. Its lower levels are quicker but, on the benchmark's days
of 50 orders with windows, keep fewer orders (level 1: fewer in 3 to 6 days of 10)."""
_REST_ID = 0


def vroom_steps(day: Day) -> Sequence[Step]:
    """The day's steps in the order VROOM plans them (its break left out: the timeline
    places the break)."""
    problem = vroom.Input()
    problem.set_durations_matrix(
        profile="car", matrix_input=[list(map(int, row)) for row in day.drives]
    )
    breaks, closed = _breaks(day)
    problem.add_vehicle(
        vroom.Vehicle(
            1, start=0, end=day.end, time_window=vroom.TimeWindow(*day.shift), breaks=breaks
        )
    )
    jobs: dict[int, Step] = {}
    for visit in day.visits:
        jobs[len(jobs) + 1] = visit
        problem.add_job(
            vroom.Job(
                len(jobs),
                location=visit.node,
                default_service=visit.service_s,
                time_windows=[vroom.TimeWindow(*visit.window)],
                priority=1,
            )
        )
    for fixed in day.fixed:
        if fixed.node is not None:
            jobs[len(jobs) + 1] = fixed
            problem.add_job(
                vroom.Job(
                    len(jobs),
                    location=fixed.node,
                    default_service=fixed.end_s - fixed.start_s,
                    time_windows=[vroom.TimeWindow(fixed.start_s, fixed.start_s)],
                    priority=_FIXED_PRIORITY,
                )
            )
    solution = problem.solve(exploration_level=_EXPLORATION, nb_threads=1)
    steps: list[Step] = []
    for kind, step_id in zip(solution.routes["type"], solution.routes["id"], strict=True):
        if kind == "job":
            steps.append(jobs[int(step_id)])
        elif kind == "break" and int(step_id) != _REST_ID:
            steps.append(closed[int(step_id)])
    return steps


def _breaks(day: Day) -> tuple[list[vroom.Break], dict[int, Fixed]]:
    """VROOM's breaks: the day's break, and the closed hours at their times."""
    breaks: list[vroom.Break] = []
    closed: dict[int, Fixed] = {}
    if day.rest is not None:
        latest_start = day.rest.window[1] - day.rest.length_s
        window = vroom.TimeWindow(day.rest.window[0], latest_start)
        breaks.append(vroom.Break(_REST_ID, time_windows=[window], service=day.rest.length_s))
    for fixed in day.fixed:
        if fixed.node is None:
            closed[len(closed) + 1] = fixed
            at = vroom.TimeWindow(fixed.start_s, fixed.start_s)
            breaks.append(
                vroom.Break(len(closed), time_windows=[at], service=fixed.end_s - fixed.start_s)
            )
    return breaks, closed
