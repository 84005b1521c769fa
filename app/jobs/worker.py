"""The worker: the outbox relay, the jobs, and what happens around each attempt.

- The relay moves committed outbox rows onto the queue every JOBS_OUTBOX_POLL_S, each as
  a job keyed by its row (SAQ keeps one incomplete job per key).
- A job runs at least once. One that sends something is idempotent: it holds its outbox
  row's lock while it sends and marks the row done in the same transaction, so a retry
  of a sent mail finds it done. Only a worker killed between the SMTP server's "250 OK"
  and that commit sends a mail twice, with the same Message-ID.
- A failed attempt is retried after an exponential, jittered, capped backoff; after
  JOBS_ATTEMPTS the row is a dead letter (`outbox.failed_at`, with its error), listed by
  `python -m app.jobs dead` and put back by `python -m app.jobs retry`.
- A worker that dies mid-job stops its heartbeat: another worker's sweep puts the job
  back on the queue. On SIGTERM a worker takes no new job, gives running ones
  JOBS_SHUTDOWN_GRACE_S to finish, then cancels them back onto the queue.
"""

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from redis.exceptions import RedisError
from saq import CronJob, Queue, Status, Worker
from saq.types import Context, PartialTimersDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.exports.files import DRAWN, ExportRow, view, writer
from app.jobs.queue import attempt_options, job_queue, outcomes_key
from app.mail.letters import TEMPLATES, Letter
from app.mail.smtp import Mailer
from app.routes.queries import route_matrices
from app.routes.schemas import RouteDetails, route_path
from app.settings import Settings
from db import account_tokens, accounts, exports, outbox
from db.account_tokens import account_token, account_token_key
from db.accounts import Account
from db.engine import Timeouts, make_engine
from db.letters import provider_card
from db.models import Export, ExportStatus, OutboxEntry, OutboxJob, Role, TokenPurpose
from db.roads.matrix import KeptDrives
from geo.log_throttle import ThrottledWarning
from geo.travel import DistanceMatrix

logger = logging.getLogger(__name__)

# Exports read for minutes; a mail job holds its row while the SMTP server answers.
WORKER_TIMEOUTS = Timeouts(statement_ms=600_000, lock_ms=30_000, idle_in_transaction_ms=120_000)
LINK_BASE_WITHOUT_SETTING = "http://127.0.0.1:8000"
WORKER_APPLICATION_NAME = "equinet-geo worker"
"""How the worker's connections show in pg_stat_activity."""


@dataclass
class JobRunner:
    """What the jobs need, made once per worker."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    mailer: Mailer
    redis: Redis
    matrices: Callable[[AsyncSession], DistanceMatrix]
    """The API's travel, for the streets of a route drawn in an export."""

    # --- mail ---

    async def send_mail(self, _: Context, *, outbox_id: int) -> str:
        async with self.sessions() as session, session.begin():
            entry = await outbox.locked_entry(session, outbox_id)
            if entry is None or entry.done_at is not None:
                return "sent already"
            letter = await self._letter(session, entry)
            if letter is not None:
                domain = self.settings.mail_from.rpartition("@")[2].rstrip(">") or "localhost"
                message = letter.message(self.settings.mail_from, f"<outbox-{entry.id}@{domain}>")
                await self.mailer.send(message)
            await outbox.finished(session, entry.id)
        return "sent" if letter is not None else "nobody to send to"

    @asynccontextmanager
    async def _committed(self) -> AsyncIterator[AsyncSession]:
        """A transaction of its own, committed before the mail goes out: a link followed the
        moment it arrives finds its token."""
        async with self.sessions() as session, session.begin():
            yield session

    def _link(self, path: str, token: str) -> str:
        base = self.settings.public_base_url.rstrip("/") or LINK_BASE_WITHOUT_SETTING
        return f"{base}/{path}?token={token}"

    async def _letter(self, session: AsyncSession, entry: OutboxEntry) -> Letter | None:
        """The letter the row asks for; None when there is nobody to send it to (an email
        with no account, a deleted account, an address verified meanwhile)."""
        template, payload = entry.payload["template"], entry.payload
        if template == "password_reset":
            return await self._reset_letter(session, entry)
        account = await accounts.account(session, payload["user_id"])
        if account is None or template not in TEMPLATES:
            return None
        if template == "verify_email":
            return await self._verification_letter(account)
        facts = await self._notification_facts(session, payload["data"])
        return Letter(account.email, account.language, template, facts)

    async def _reset_letter(self, session: AsyncSession, entry: OutboxEntry) -> Letter | None:
        """A link to a new password, its token made from the request's row and valid from
        the request on; none for an email without an account."""
        user = await accounts.live_user_by_email(session, entry.payload["email"])
        if user is None:
            return None
        key = account_token_key(self.settings.secret_key)
        token = account_token(key, TokenPurpose.password_reset, str(entry.id))
        minutes = self.settings.password_reset_ttl_min
        expires_at = entry.created_at + timedelta(minutes=minutes)
        async with self._committed() as own:
            await account_tokens.keep(own, user.id, TokenPurpose.password_reset, token, expires_at)
        facts = {"email": user.email, "valid_minutes": minutes}
        link = self._link("reset-password", token)
        return Letter(user.email, user.language, "password_reset", facts, link)

    async def _verification_letter(self, account: Account) -> Letter | None:
        """The address's verification link, good for VERIFY_EMAIL_TTL_H from now; none once
        the address is verified."""
        if account.email_verified:
            return None
        key = account_token_key(self.settings.secret_key)
        hours = self.settings.verify_email_ttl_h
        expires_at = datetime.now(UTC) + timedelta(hours=hours)
        async with self._committed() as own:
            token = await account_tokens.keep_verification(
                own, key, account.id, account.email, expires_at
            )
        facts = {"email": account.email, "valid_hours": hours}
        link = self._link("verify-email", token)
        return Letter(account.email, account.language, "verify_email", facts, link)

    async def _notification_facts(
        self, session: AsyncSession, data: dict[str, Any]
    ) -> dict[str, object]:
        """The notification's payload with its times on the provider's clock."""
        card = await provider_card(session, data["provider_id"]) if "provider_id" in data else None
        zone = ZoneInfo(card.timezone if card else "UTC")
        facts: dict[str, object] = {"business_name": "", **data}
        if card is not None:
            facts["business_name"] = card.business_name
        for name in ("start", "end", "eta"):
            if isinstance(data.get(name), str):
                moment = datetime.fromisoformat(data[name]).astimezone(zone)
                facts[name] = f"{moment:%Y-%m-%d %H:%M}"
                facts[f"{name}_time"] = f"{moment:%H:%M}"
        return facts

    # --- exports ---

    async def run_export(self, context: Context, *, outbox_id: int) -> str:
        async with self.sessions() as session:
            entry = await session.get(OutboxEntry, outbox_id)
            export_id = uuid.UUID(entry.payload["export_id"]) if entry else None
            export = export_id and await exports.export_of_job(session, export_id)
            if not export or export.status in (ExportStatus.done, ExportStatus.expired):
                await outbox.finished(session, outbox_id)
                await session.commit()
                return "done already"
            role = await exports.user_role(session, export.user_id) or Role.customer
            await exports.start(session, export.id)
            await session.commit()
        folder = Path(self.settings.exports.dir)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        final = folder / f"{export.id}.{export.format}"
        part = final.with_suffix(".part")
        rows = await self._write(context, export, role, part)
        await asyncio.to_thread(os.replace, part, final)
        async with self.sessions() as session:
            ttl = timedelta(hours=self.settings.exports.ttl_h)
            await exports.set_state(
                session,
                export.id,
                status=ExportStatus.done,
                progress=1.0,
                rows=rows,
                size_bytes=final.stat().st_size,
                finished_at=datetime.now(UTC),
                expires_at=datetime.now(UTC) + ttl,
            )
            await outbox.finished(session, outbox_id)
            await session.commit()
        return f"{rows} rows"

    async def _write(self, context: Context, export: Export, role: Role, path: Path) -> int:
        """Writes the export's rows, as one snapshot shows them, to `path`, telling progress
        as it goes."""
        statement = exports.rows_statement(exports.Wanted.of(export), role)
        async with self.sessions() as reading:
            snapshot = await exports.snapshot(reading, statement)
            total = await snapshot.count()
            out = writer(export.kind, export.format, export.excel_bom)
            done = 0
            with path.open("w", encoding="utf-8", newline="") as file:
                file.write(out.head())
                async for chunk in snapshot.chunks(self.settings.exports.chunk_rows):
                    rows = [ExportRow(*row) for row in chunk]
                    if export.format in DRAWN:
                        rows = await self._along_streets(reading, rows)
                    file.write(out.rows(rows))
                    done += len(chunk)
                    await self._progress(context, export.id, done / max(total, 1))
                file.write(out.tail())
            await reading.rollback()
        return done

    async def _along_streets(
        self, session: AsyncSession, rows: Sequence[ExportRow]
    ) -> list[ExportRow]:
        """The routes' rows with the streets of their legs, read in the export's snapshot."""
        matrix = self.matrices(session)
        drawn = []
        for row in rows:
            route = view(row)
            assert isinstance(route, RouteDetails)  # only routes are drawn
            drawn.append(row._replace(streets=await matrix.streets(route_path(route))))
        return drawn

    async def _progress(self, context: Context, export_id: uuid.UUID, progress: float) -> None:
        async with self.sessions() as session:
            await exports.set_state(session, export_id, progress=min(progress, 1.0))
            await session.commit()
        await context["job"].update(progress=progress)  # also the job's heartbeat

    async def expire_exports(self, _: Context) -> int:
        """Deletes the files of exports past their time."""
        async with self.sessions() as session:
            gone = await exports.expired(session)
            await session.commit()
        for export in gone:
            path = Path(self.settings.exports.dir) / f"{export.id}.{export.format}"
            path.unlink(missing_ok=True)
        return len(gone)

    # --- around each attempt ---

    async def after_attempt(self, context: Context) -> None:
        """Counts how the attempt ended; after the last failed one, the dead letter."""
        job = context.get("job")
        if job is None:
            return
        outcome = {Status.COMPLETE: "done", Status.FAILED: "dead", Status.QUEUED: "retried"}.get(
            job.status, job.status.value
        )
        try:
            await self.redis.hincrby(
                outcomes_key(self.settings.jobs.queue), f"{job.function}:{outcome}"
            )
        except RedisError:
            logger.warning("job outcome not counted: Redis unavailable")
        outbox_id = (job.kwargs or {}).get("outbox_id")
        if outbox_id is None or job.status not in (Status.FAILED, Status.QUEUED):
            return
        error = (job.error or "").strip().splitlines()[-1:] or ["failed"]
        last = job.status is Status.FAILED
        async with self.sessions() as session:
            await outbox.attempt_failed(session, outbox_id, error[0], last=last)
            if last and job.function == OutboxJob.run_export:
                await self._export_failed(session, outbox_id, error[0])
            await session.commit()
        log = logger.error if last else logger.warning
        log(
            "job %s (outbox %s) attempt %s failed: %s",
            job.function,
            outbox_id,
            job.attempts,
            error[0],
        )

    async def _export_failed(self, session: AsyncSession, outbox_id: int, error: str) -> None:
        entry = await session.get(OutboxEntry, outbox_id)
        if entry is not None:
            export_id = uuid.UUID(entry.payload["export_id"])
            await exports.set_state(session, export_id, status=ExportStatus.failed, error=error)


@dataclass
class Relay:
    """Moves committed outbox rows onto the queue."""

    engine: AsyncEngine
    queue: Queue
    settings: Settings

    async def once(self) -> int:
        async with self.engine.begin() as connection:
            taken = await outbox.take_waiting(connection)
            for entry in taken:
                await self.queue.enqueue(
                    entry.job.value,
                    key=f"outbox-{entry.id}",
                    outbox_id=entry.id,
                    **attempt_options(entry.job, self.settings.jobs),
                )
        return len(taken)

    async def forever(self) -> None:
        warn = ThrottledWarning(logger)
        while True:
            try:
                moved = await self.once()
            except (SQLAlchemyError, RedisError, OSError) as error:
                warn("outbox relay paused: %s", type(error).__name__)
                moved = 0
            if moved < outbox.RELAYED_AT_ONCE:
                await asyncio.sleep(self.settings.jobs.outbox_poll_s)


def make_worker(settings: Settings, worker_id: str | None = None) -> Worker[Context]:
    """A worker of the settings' queue, with its relay, its jobs and its cron."""
    if not settings.smtp_url:
        raise SystemExit("configuration error: the worker sends mail: set SMTP_URL")
    engine = make_engine(
        settings.database_url,
        pool_size=settings.jobs.concurrency + 2,
        max_overflow=2,
        timeouts=WORKER_TIMEOUTS,
        per_transaction=settings.db_transaction_pooler,
        application_name=WORKER_APPLICATION_NAME,
    )
    queue = job_queue(settings.redis_url, settings.jobs)
    redis = Redis.from_url(settings.redis_url)
    runner = JobRunner(
        settings,
        async_sessionmaker(engine, expire_on_commit=False),
        Mailer(settings.smtp_url),
        redis,
        route_matrices(settings, KeptDrives(engine)),
    )
    relay = Relay(engine, queue, settings)
    relay_task: list[asyncio.Task[None]] = []

    async def startup(_: Context) -> None:
        relay_task.append(asyncio.create_task(relay.forever(), name="outbox relay"))

    async def shutdown(_: Context) -> None:
        for task in relay_task:
            task.cancel()
        await asyncio.gather(*relay_task, return_exceptions=True)
        await engine.dispose()
        await redis.aclose()

    return Worker(
        queue,
        functions=[
            (OutboxJob.send_mail.value, runner.send_mail),
            (OutboxJob.run_export.value, runner.run_export),
        ],
        id=worker_id,
        concurrency=settings.jobs.concurrency,
        cron_jobs=[CronJob(runner.expire_exports, cron=settings.jobs.expiry_cron, timeout=60)],
        startup=startup,
        shutdown=shutdown,
        after_process=runner.after_attempt,
        # Upkeep sleeps are short: a stopping worker waits for them (SAQ gathers them too).
        timers=PartialTimersDict(schedule=1, worker_info=2, sweep=settings.jobs.sweep_s, abort=1),
        # Dequeues wait at most a second, so that a stopping worker is not held by them.
        dequeue_timeout=1.0,
        shutdown_grace_period_s=settings.jobs.shutdown_grace_s,
    )
