"""The usage ledger: one record per request, written off the hot path, never lost.

``record`` (on the request path) only builds a dict and appends it to two queues. A journal thread
makes every record durable on local disk within ``fsync_interval_ms``; an asyncio task inserts
batches into the database. At start-up, journal segments left by a crashed worker are replayed
into the database idempotently (ON CONFLICT DO NOTHING on ``record_id``); at shutdown everything
pending is flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from modelrail.context import RequestContext
from modelrail.private_files import private_sqlite
from modelrail.usage.config import LedgerSettings
from modelrail.usage.journal import Journal, orphans
from modelrail.usage.ledger_table import metadata, usage_ledger
from modelrail.usage.meter import Meter

log = logging.getLogger("modelrail.ledger")
usage_log = logging.getLogger("modelrail.usage")

_MAX_BACKOFF = 5.0


class Ledger:
    """The :class:`~modelrail.stages.UsageSink` that keeps the ledger."""

    def __init__(self, settings: LedgerSettings, meter: Meter, url: str, journal_dir: Path) -> None:
        self.settings = settings
        self.meter = meter
        self.url = url
        self.journal = Journal(journal_dir, settings.fsync_interval_ms / 1000)
        self._pending: deque[tuple[int, dict[str, Any]]] = deque()
        self._seq = 0
        # Record ids: 20 random hex digits per ledger instance, then a counter; unique across workers
        # and restarts without a uuid4 (a syscall) per request.
        self._id_prefix = uuid.uuid4().hex[:20]
        self._engine: AsyncEngine | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake: asyncio.Event | None = None
        # One flush at a time: the writer task and a report's flush() would otherwise insert the
        # same batch and both pop it, dropping records never inserted from the queue.
        self._flush_lock = asyncio.Lock()
        self._sqlite = _SqliteRows()

    # -- the request path ----------------------------------------------------------------------

    def record(self, ctx: RequestContext) -> None:
        cost = self.meter.cost(ctx)
        usage = ctx.usage
        assert usage is not None  # meter.cost fills it in
        now = time.time()
        row = {
            "record_id": f"{self._id_prefix}{self._seq + 1:012x}",
            "request_id": ctx.request_id,
            "created_at": ctx.created_at,
            "finished_at": now,
            "key_id": ctx.principal.key_id,
            "key_display": ctx.principal.display,
            "team_id": ctx.principal.team_id,
            "endpoint": ctx.endpoint,
            "model": ctx.alias,
            "deployment": ctx.deployment,
            "stream": ctx.stream,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cached_tokens": usage.cached_tokens,
            "estimated": usage.estimated,
            "cost_usd": cost,
            "status": ctx.status,
            "error_code": ctx.error_code,
            "latency_ms": round(ctx.elapsed() * 1000, 3),
            "ttft_ms": None if ctx.ttft is None else round(ctx.ttft * 1000, 3),
            "cache_hit": ctx.response_headers.get("x-modelrail-cache") == "hit",
            "attempts": ctx.attempts,
        }
        if usage_log.isEnabledFor(logging.INFO):
            usage_log.info(
                "usage key=%s model=%s deployment=%s status=%s prompt=%s completion=%s cost_usd=%.8f latency_ms=%.1f",
                row["key_id"], ctx.alias, ctx.deployment, ctx.status, usage.prompt_tokens, usage.completion_tokens,
                cost, row["latency_ms"],
            )  # fmt: skip
        self._seq += 1
        self.journal.append(self._seq, row)
        self._pending.append((self._seq, row))
        if self._wake is not None and len(self._pending) >= self.settings.batch_size:
            self._wake.set()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._engine = _engine(self.url)
        await self._create_table()
        replayed = await self.replay()
        if replayed:
            log.info("ledger: replayed %d record(s) from the journal", replayed)
        self.journal.start()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="modelrail-ledger")

    async def _create_table(self) -> None:
        """Where migrations made the table this does nothing; on a database of the ledger's own it
        makes it. Workers starting together may race to create it: the loser finds it made."""
        assert self._engine is not None
        try:
            async with self._engine.begin() as conn:
                await conn.run_sync(metadata.create_all, checkfirst=True)
        except DBAPIError:
            async with self._engine.connect() as conn:
                exists = await conn.run_sync(lambda c: inspect(c).has_table(usage_ledger.name))
            if not exists:
                raise

    async def replay(self) -> int:
        """Insert every record of crashed workers' journal segments; delete each segment once inserted."""
        total = 0
        with orphans(self.journal.directory) as found:
            for path, rows in found:
                for i in range(0, len(rows), self.settings.batch_size):
                    await self._insert(rows[i : i + self.settings.batch_size])
                total += len(rows)
                path.unlink(missing_ok=True)
        return total

    async def close(self) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._engine is None:
            return
        await self._flush(final=True)
        await asyncio.to_thread(self.journal.stop)
        await self._engine.dispose()
        self._engine = None

    async def flush(self) -> None:
        """Insert what is pending now (a report wants this worker's latest records)."""
        if self._engine is not None:
            await self._flush(final=False)

    # -- the database writer ---------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None
        interval = self.settings.flush_interval_ms / 1000
        backoff = interval
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), backoff)
            self._wake.clear()
            ok = await self._flush(final=False)
            backoff = interval if ok else min(_MAX_BACKOFF, backoff * 2)

    async def _flush(self, final: bool) -> bool:
        """Insert pending records in batches, oldest first. Records stay queued until committed."""
        async with self._flush_lock:
            return await self._flush_locked()

    async def _flush_locked(self) -> bool:
        while self._pending:
            batch = [self._pending[i] for i in range(min(self.settings.batch_size, len(self._pending)))]
            try:
                await self._insert([row for _, row in batch])
            except Exception:
                # The journal still has them: a later flush (or the next start-up) inserts them.
                log.exception("ledger: database insert of %d record(s) failed", len(batch))
                return False
            for _ in batch:
                self._pending.popleft()
            self.journal.committed_seq = batch[-1][0]
        return True

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        assert self._engine is not None
        if self._engine.dialect.name == "sqlite":
            # Straight to the driver's executemany: SQLAlchemy's per-row parameter processing cost
            # about twice what SQLite itself spends inserting the row.
            async with self._engine.begin() as conn:
                await conn.exec_driver_sql(_SQLITE_INSERT, [self._sqlite.row(r) for r in rows])
            return
        values = [_db_row(r) for r in rows]
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(usage_ledger).on_conflict_do_nothing(index_elements=["record_id"])
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(usage_ledger).on_conflict_do_nothing(index_elements=["record_id"])
        async with self._engine.begin() as conn:
            await conn.execute(stmt, values)

    @property
    def engine(self) -> AsyncEngine | None:
        return self._engine


def _db_row(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    created = datetime.fromtimestamp(float(row["created_at"]), UTC)
    out["created_at"] = created
    out["finished_at"] = datetime.fromtimestamp(float(row["finished_at"]), UTC)
    out["day"] = created.strftime("%Y-%m-%d")
    out["key_display"] = row.get("key_display") or ""
    return out


_COLUMNS = tuple(c.name for c in usage_ledger.columns if c.name != "id")
# Columns a record stores as it is, taken in one C call; the four before them are made here.
_AS_IS = tuple(c for c in _COLUMNS if c not in ("created_at", "finished_at", "day", "key_display"))
_SQLITE_ORDER = ("created_at", "finished_at", "day", "key_display", *_AS_IS)
_take_as_is = operator.itemgetter(*_AS_IS)
# Built from the table's own column names, once; values are bound as parameters.
_PLACEHOLDERS = ", ".join("?" * len(_SQLITE_ORDER))
_SQLITE_INSERT = (
    f"INSERT INTO {usage_ledger.name} ({', '.join(_SQLITE_ORDER)}) VALUES ({_PLACEHOLDERS}) "  # noqa: S608
    "ON CONFLICT (record_id) DO NOTHING"
)


class _SqliteRows:
    """Rows in the form SQLAlchemy's SQLite types store them, so its reads and comparisons hold:
    datetimes as UTC text without an offset, to the microsecond. The text up to the second is
    made once per second (a datetime per timestamp cost more than the rest of the row)."""

    def __init__(self) -> None:
        self._second: int | None = None
        self._prefix = ""

    def time(self, timestamp: Any) -> str:
        t = float(timestamp)
        if t < 0:
            return datetime.fromtimestamp(t, UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        # Rounded as datetime.fromtimestamp rounds: the fraction (exact), to the microsecond, half to even.
        second = int(t)
        micros = round((t - second) * 1e6)
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{micros:06d}"

    def row(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """The values in ``_SQLITE_ORDER``."""
        try:
            as_is = _take_as_is(row)
        except KeyError:  # a journal written by another version may lack a column
            as_is = tuple(row.get(name) for name in _AS_IS)
        created = self.time(row["created_at"])
        return (created, self.time(row["finished_at"]), created[:10], row.get("key_display") or "", *as_is)


def _engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_sqlite(parsed.database)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL: readers in other workers go on while one writes; busy timeout: wait for the lock, don't fail.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
