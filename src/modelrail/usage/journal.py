"""The append-only local journal that makes the ledger crash-safe.

Each record is written (``write``, not fsync) to the open segment as a JSON line when it is
appended, before the request's response leaves: a killed process (``kill -9``) loses no record
whose response a client received, since what was written is in the kernel's page cache. A thread
(not the event loop, which may be busy under load) fsyncs at least every ``interval`` seconds,
which bounds what a machine crash can lose, and rotates segments; a closed segment is deleted once
the database holds every record in it. A live writer holds an exclusive ``flock`` on its open
segment, so at start-up any segment that can be locked belongs to no live worker (it crashed) and
is replayed.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from modelrail.private_files import private_dir

log = logging.getLogger("modelrail.ledger")

SUFFIX = ".jsonl"
_ROTATE_BYTES = 8 * 1024 * 1024
_ROTATE_SECONDS = 5.0


@dataclass(slots=True)
class _Segment:
    path: Path
    fd: int
    opened: float
    size: int = 0
    last_seq: int = 0
    synced_seq: int = 0


class Journal:
    def __init__(self, directory: Path, interval: float) -> None:
        self.directory = directory
        self.interval = interval
        # Held by appends (the event loop) and by rotation (the thread): never across an fsync.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._current: _Segment | None = None
        self._closed: list[_Segment] = []
        # The highest sequence number the database has committed (every record up to it).
        self.committed_seq = 0
        self.written_seq = 0

    def start(self) -> None:
        private_dir(self.directory)
        self._thread = threading.Thread(target=self._run, name="modelrail-journal", daemon=True)
        self._thread.start()

    def append(self, seq: int, row: dict[str, Any]) -> None:
        """Write the record now: one ``write`` of one line, so a killed process never tears it."""
        data = orjson.dumps(row) + b"\n"
        with self._lock:
            seg = self._current
            if seg is None:
                seg = self._current = self._open(time.monotonic())
            os.write(seg.fd, data)
            seg.size += len(data)
            seg.last_seq = seq
            self.written_seq = seq

    def stop(self) -> None:
        """Write what is pending, then end the thread (blocking: call from a worker thread)."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._write()
        self._collect(final=True)

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval)
            try:
                self._write()
                self._collect(final=False)
            except OSError:
                log.exception("ledger journal write failed; retrying")
                time.sleep(self.interval)

    def _write(self) -> None:
        """Make what was written durable, and rotate the segment when it is big or old enough."""
        retired: _Segment | None = None
        with self._lock:
            seg = self._current
            if seg is None:
                return
            now = time.monotonic()
            if seg.size >= _ROTATE_BYTES or now - seg.opened >= _ROTATE_SECONDS:
                retired, self._current = seg, None
        if retired is not None:
            os.fsync(retired.fd)
            os.close(retired.fd)  # closing releases the flock; the file stays until the database has it
            self._closed.append(retired)
        elif seg.synced_seq < seg.last_seq:
            synced = seg.last_seq
            os.fsync(seg.fd)
            seg.synced_seq = synced

    def _open(self, now: float) -> _Segment:
        path = self.directory / f"journal-{os.getpid()}-{time.time_ns()}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return _Segment(path, fd, now)

    def _collect(self, final: bool) -> None:
        committed = self.committed_seq
        keep = []
        for seg in self._closed:
            if seg.last_seq <= committed:
                seg.path.unlink(missing_ok=True)
            else:
                keep.append(seg)
        self._closed = keep
        if not final:
            return
        with self._lock:
            cur, self._current = self._current, None
        if cur is not None:
            os.fsync(cur.fd)
            os.close(cur.fd)
            if cur.last_seq <= committed:
                cur.path.unlink(missing_ok=True)


@contextlib.contextmanager
def orphans(directory: Path) -> Iterator[list[tuple[Path, list[dict[str, Any]]]]]:
    """Segments no live worker holds, with their records, locked while the caller replays them.

    A torn last line (the process died mid-write) is skipped: it was never fsynced whole.
    """
    found: list[tuple[Path, list[dict[str, Any]]]] = []
    fds: list[int] = []
    try:
        for path in sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            fds.append(fd)
            rows = []
            for line in path.read_bytes().splitlines():
                try:
                    rows.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    continue
            found.append((path, rows))
        yield found
    finally:
        for fd in fds:
            os.close(fd)
