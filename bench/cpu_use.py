"""Where a run's CPU time went, per request: the API's processes (a granian server and its
workers), PostgreSQL's, Redis's, the load generator's (wrk or pgbench once it has exited,
or this process's asyncpg client) and the whole machine's, read from /proc (Linux) before
and after the run."""

import os
import resource
from collections import defaultdict
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[str, float]]:
    """Every process: its name and the CPU seconds it and its children that exited have
    used."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat_file:
                stat = stat_file.read()
        except OSError:  # it exited meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # user and system, its own and its reaped children's (backends that have exited)
        seconds = sum(int(ticks) for ticks in fields[11:15]) / _TICKS_PER_S
        found[int(entry.name)] = (name, seconds)
    return found


def _serving_on(port: int) -> set[int]:
    """The granian processes that serve on `port`: the server and its workers, each of
    which names the address in its title."""
    found = set()
    for entry in os.scandir("/proc"):
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as command:
                title = command.read()
        except OSError:
            continue
        if entry.name.isdigit() and title.startswith(b"granian") and f":{port} ".encode() in title:
            found.add(int(entry.name))
    if not found:
        raise LookupError(f"nothing serves on port {port}")
    return found


def _machine_busy_s() -> float:
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / _TICKS_PER_S


class CpuUse:
    """CPU seconds by group, for the API served on `port`."""

    def __init__(self, port: int) -> None:
        self._api = _serving_on(port)

    def snapshot(self) -> dict[str, float]:
        processes = _processes()
        used: dict[str, float] = defaultdict(float)
        for pid, (name, seconds) in processes.items():
            if pid in self._api:
                used["API"] += seconds
            elif name == "postgres":
                used["PostgreSQL"] += seconds
            elif name.startswith("redis-server"):
                used["Redis"] += seconds
        for who in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF):  # wrk, pgbench; asyncpg
            usage = resource.getrusage(who)
            used["load"] += usage.ru_utime + usage.ru_stime
        used["machine"] = _machine_busy_s()
        return used

    def per_request(
        self, run: Callable[[], T], requests: Callable[[T], int]
    ) -> tuple[T, dict[str, float]]:
        """What `run` returns, and the ms of CPU each group used per request it made."""
        before = self.snapshot()
        result = run()
        after = self.snapshot()
        count = max(1, requests(result))
        return result, {
            group: round((after[group] - before[group]) * 1000 / count, 3) for group in after
        }
