"""The ledger: one record per admitted request, flushed at shutdown, journal replayed idempotently."""

from __future__ import annotations

import asyncio

import orjson

from modelrail.auth.principal import Principal
from modelrail.settings import settings_from_dict
from modelrail.stages_build import build_stages
from tests.conftest import running
from tests.metering_support import build_app, chat, ledger_rows, settings_dict

FAKE = [{"name": "fake-chat", "provider": "fake", "reply": "one two three"}]


async def test_every_request_has_one_record_after_shutdown(tmp_path):
    app = build_app(tmp_path, FAKE, Principal(key_id="k1", name="one", team_id="t1", display="mr-k1"))
    async with running(app) as client:
        responses = await asyncio.gather(*(client.post("/v1/chat/completions", json=chat()) for _ in range(40)))
        streamed = await client.post("/v1/chat/completions", json=chat(stream=True))
        assert streamed.status_code == 200
    ids = {r.headers["x-request-id"] for r in responses} | {streamed.headers["x-request-id"]}
    rows = await ledger_rows(tmp_path / "ledger.db")
    assert len(rows) == 41
    assert {r["request_id"] for r in rows} == ids
    row = next(r for r in rows if r["request_id"] == streamed.headers["x-request-id"])
    assert row["stream"] and not row["estimated"] and row["completion_tokens"] == 3
    assert row["key_id"] == "k1" and row["team_id"] == "t1" and row["key_display"] == "mr-k1"
    assert row["model"] == "fake-chat" and row["deployment"] == "fake-chat#0" and row["status"] == 200
    assert row["latency_ms"] > 0 and row["ttft_ms"] is not None
    # Everything reached the database, so no journal segment is left behind.
    assert not list((tmp_path / "journal").glob("*.jsonl"))


async def test_failed_upstream_is_recorded_with_its_status(tmp_path):
    models = [{"name": "fake-chat", "provider": "fake", "fail_rate": 1.0, "fail_status": 500}]
    app = build_app(tmp_path, models, Principal(key_id="k1", name="one"), router={"retry": {"max_retries": 0}})
    async with running(app) as client:
        r = await client.post("/v1/chat/completions", json=chat())
        assert r.status_code >= 500
    rows = await ledger_rows(tmp_path / "ledger.db")
    assert [(row["status"], row["cost_usd"], row["completion_tokens"]) for row in rows] == [(r.status_code, 0.0, 0)]


async def test_journal_replay_is_idempotent(tmp_path):
    """Records journaled by a crashed worker are inserted at start-up, once, however often replayed."""
    settings = settings_from_dict(settings_dict(tmp_path, FAKE), env={})
    journal = tmp_path / "journal"
    journal.mkdir()
    rows = [
        {
            "record_id": f"rec{i:04d}", "request_id": f"req-{i}", "created_at": 1_790_000_000.0 + i,
            "finished_at": 1_790_000_000.5 + i, "key_id": "k", "key_display": "", "team_id": None,
            "endpoint": "chat", "model": "fake-chat", "deployment": "fake-chat#0", "stream": False,
            "prompt_tokens": 5, "completion_tokens": 3, "cached_tokens": 0, "estimated": False,
            "cost_usd": 0.0, "status": 200, "error_code": None, "latency_ms": 1.0, "ttft_ms": None,
            "cache_hit": False, "attempts": 1,
        }
        for i in range(25)
    ]  # fmt: skip
    data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    # Two copies of the same records (a segment replayed before, then left behind) and a torn last line.
    (journal / "journal-1-1.jsonl").write_bytes(data)
    (journal / "journal-1-2.jsonl").write_bytes(data + b'{"record_id": "torn')
    stages = build_stages(settings, {})
    await stages.start()
    await stages.close()
    stored = await ledger_rows(tmp_path / "ledger.db")
    assert sorted(r["record_id"] for r in stored) == [r["record_id"] for r in rows]
    assert not list(journal.glob("*.jsonl"))
    # Start again with a fresh copy: nothing doubles.
    (journal / "journal-2-1.jsonl").write_bytes(data)
    stages = build_stages(settings, {})
    await stages.start()
    await stages.close()
    assert len(await ledger_rows(tmp_path / "ledger.db")) == 25


async def test_a_live_workers_journal_is_not_replayed(tmp_path):
    """A segment another live worker holds (flock) is left to it."""
    settings = settings_from_dict(settings_dict(tmp_path, FAKE), env={})
    live = build_stages(settings, {})
    await live.start()
    live.usage.journal.append(1, {"record_id": "x"})
    await asyncio.sleep(0.1)
    held = list((tmp_path / "journal").glob("*.jsonl"))
    assert len(held) == 1
    other = build_stages(settings, {})
    await other.start()
    assert held[0].exists()
    await other.close()
    live.usage.journal.committed_seq = 1
    await live.close()


async def test_concurrent_flushes_insert_each_record_once(tmp_path):
    """A report's flush() racing the writer task must neither drop queued records nor fail."""
    app = build_app(tmp_path, FAKE, Principal(key_id="k1", name="one"), ledger={"flush_interval_ms": 1})
    ledger = app.state.runtime.gateway.usage
    async with running(app) as client:
        for _ in range(5):
            await asyncio.gather(*(client.post("/v1/chat/completions", json=chat()) for _ in range(20)))
            # Several flushes at once, while the writer task (woken every millisecond) flushes too.
            await asyncio.gather(*(ledger.flush() for _ in range(4)))
        assert not ledger._pending
    rows = await ledger_rows(tmp_path / "ledger.db")
    assert len(rows) == 100
    assert len({r["request_id"] for r in rows}) == 100


async def test_sqlite_rows_read_back_as_sqlalchemy_wrote_them(tmp_path):
    """SQLite inserts go straight to the driver; what they store must read and compare as the
    table's SQLAlchemy types expect (datetimes in its text format, booleans, the day)."""
    import sqlite3
    from datetime import UTC, datetime

    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from modelrail.usage.ledger_table import usage_ledger

    settings = settings_from_dict(settings_dict(tmp_path, FAKE), env={})
    stages = build_stages(settings, {})
    await stages.start()
    created = 1_790_000_000.123456
    row = {
        "record_id": "rec-sql", "request_id": "req-sql", "created_at": created, "finished_at": created + 0.25,
        "key_id": "k", "key_display": None, "team_id": "t", "endpoint": "chat", "model": "fake-chat",
        "deployment": "fake-chat#0", "stream": True, "prompt_tokens": 5, "completion_tokens": 3,
        "cached_tokens": 1, "estimated": False, "cost_usd": 0.5, "status": 200, "error_code": None,
        "latency_ms": 1.0, "ttft_ms": 0.5, "cache_hit": True, "attempts": 2,
    }  # fmt: skip
    await stages.usage._insert([row, row])  # the second is a duplicate record id: ignored
    await stages.close()
    [stored] = await ledger_rows(tmp_path / "ledger.db")
    expected = datetime.fromtimestamp(created, UTC).replace(tzinfo=None)
    assert stored["created_at"] == expected
    assert stored["finished_at"] == datetime.fromtimestamp(created + 0.25, UTC).replace(tzinfo=None)
    assert stored["day"] == expected.strftime("%Y-%m-%d")
    assert (stored["stream"], stored["estimated"], stored["cache_hit"]) == (True, False, True)
    assert stored["key_display"] == "" and stored["attempts"] == 2 and stored["cost_usd"] == 0.5
    # The stored text is exactly what SQLAlchemy's own SQLite DateTime would have written, so
    # range queries that bind a datetime compare correctly.
    bind = usage_ledger.c.created_at.type.dialect_impl(sqlite_dialect.dialect()).bind_processor(
        sqlite_dialect.dialect()
    )
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        (raw,) = conn.execute("SELECT created_at FROM usage_ledger").fetchone()
    assert raw == bind(datetime.fromtimestamp(created, UTC))


def test_sqlite_times_are_datetimes_text_to_the_microsecond():
    """The per-second shortcut writes what ``datetime.fromtimestamp(...).isoformat`` writes,
    rounding included, for times in any order (its cache is per second)."""
    import random
    from datetime import UTC, datetime

    from modelrail.usage.ledger import _SqliteRows

    rows = _SqliteRows()
    rng = random.Random(7)
    base = 1_790_000_000.0
    times = [base + rng.uniform(-5, 5) for _ in range(2000)]
    times += [base + 0.9999995, base + 0.9999994, base + 0.0000005, base + 0.0000015, base, base + 86399.9999996]
    times += [rng.uniform(0, 4_000_000_000) for _ in range(500)]
    for t in times:
        want = datetime.fromtimestamp(t, UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        assert rows.time(t) == want, t
