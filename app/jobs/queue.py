"""The queue the worker takes jobs from, and what the API's /metrics reads of it."""

from typing import Any, NamedTuple

from redis.asyncio import Redis
from saq import Queue

from app.settings import Jobs
from db.models import OutboxJob

# How long one attempt may run before it is taken for stuck and retried.
ATTEMPT_TIMEOUT_S = {OutboxJob.send_mail: 120, OutboxJob.run_export: 3600}


def job_queue(url: str, jobs: Jobs) -> Queue:
    """The queue on the state Redis (REDIS_URL, noeviction: a queued job is never evicted)."""
    return Queue.from_url(url, name=jobs.queue)


def attempt_options(job: OutboxJob, jobs: Jobs) -> dict[str, Any]:
    """Retries with exponential backoff (jittered, capped), a heartbeat, a timeout."""
    return {
        "retries": jobs.attempts,
        "retry_delay": jobs.retry_delay_s,
        "retry_backoff": jobs.max_retry_delay_s,
        "heartbeat": jobs.heartbeat_s,
        "timeout": ATTEMPT_TIMEOUT_S[job],
    }


def _saq_key(queue_name: str, part: str) -> str:
    """SAQ's key layout (RedisQueue.namespace)."""
    return f"saq:{queue_name}:{part}"


def outcomes_key(queue_name: str) -> str:
    """A hash of counters, `function:outcome` → attempts that ended so."""
    return _saq_key(queue_name, "outcomes")


class QueueSample(NamedTuple):
    queued: int
    active: int
    scheduled: int
    """Waiting for a later time: retries after their backoff."""
    outcomes: dict[tuple[str, str], int]


async def queue_sample(redis: Redis, queue_name: str) -> QueueSample:
    """The queue's lengths and its counters, in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.llen(_saq_key(queue_name, "queued"))
        pipe.llen(_saq_key(queue_name, "active"))
        pipe.zcard(_saq_key(queue_name, "schedule"))
        pipe.hgetall(outcomes_key(queue_name))
        queued, active, scheduled, counters = await pipe.execute()
    outcomes = {}
    for field, count in counters.items():
        function, _, outcome = field.decode().partition(":")
        outcomes[function, outcome] = int(count)
    return QueueSample(queued, active, scheduled, outcomes)
