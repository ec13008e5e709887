"""Files and folders only the server's own user may read: the data dir, SQLite databases, keys.

The data dir holds the master key, the key pepper, the SQLite database (keys' hashes, the ledger)
and the ledger's journal (every request's usage). Folders modelrail creates are 0700 and files
0600; a folder that already exists is left as it is (it may be shared, like ``/tmp``), but files of
modelrail's own are tightened whatever their folder.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
# SQLite makes these beside a database in WAL mode, with the database file's own mode.
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """``path`` and any missing parents, created 0700 (whatever the process's umask)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=DIR_MODE)
        os.chmod(d, DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty, 0600, if missing; else make it 0600 if this process owns it.

    An existing file is never opened: closing any descriptor of a SQLite database releases every
    lock this process holds on it (POSIX advisory locks belong to the process), under another
    connection's feet.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    _tighten(path)


def private_sqlite(database: str) -> None:
    """Before SQLite opens ``database``: its folder and file private, and the side files it made."""
    path = Path(database).expanduser()
    private_dir(path.parent)
    private_file(path)
    for suffix in _SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            _tighten(side)


def _tighten(path: Path) -> None:
    st = path.stat()
    if st.st_uid == os.getuid() and st.st_mode & 0o777 != FILE_MODE:
        os.chmod(path, FILE_MODE)
