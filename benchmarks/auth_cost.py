"""What authentication costs on the hot path: µs per ``authenticate`` call.

    .venv/bin/python benchmarks/auth_cost.py [--calls 200000]

Compares a store key with a warm cache (the common case: HMAC of the secret, one dict lookup, an
expiry check) with the master key (one constant-time compare), and the cold path (a cache miss:
one indexed query on SQLite) for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from modelrail.auth.key_auth import KeyAuthenticator
from modelrail.auth.key_secret import KeyHasher
from modelrail.auth.master_key import MasterKeyAuthenticator
from modelrail.store.db import Database, default_url
from modelrail.store.keys import KeyStore
from modelrail.store.views import KeyCreate, TeamCreate

MASTER = "mr-master-bench-0123456789abcdefghij"


async def per_call_us(auth: object, credential: str, calls: int) -> float:
    fn = auth.authenticate  # type: ignore[attr-defined]
    for _ in range(1000):
        await fn(credential)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            await fn(credential)
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = KeyStore(Database(default_url(Path(tmp))), KeyHasher("bench-pepper-0123456789"))
        team = await store.create_team(TeamCreate(name="bench"), actor="bench")
        key = await store.create_key(KeyCreate(name="bench", team=team.id, models=["a-*"]), actor="bench")
        auth = KeyAuthenticator(store, master_key=MASTER)
        await auth.authenticate(key.secret)
        master_only = MasterKeyAuthenticator(MASTER)

        warm = await per_call_us(auth, key.secret, calls)
        master = await per_call_us(auth, MASTER, calls)
        baseline = await per_call_us(master_only, MASTER, calls)

        cold_calls = 200
        start = time.perf_counter()
        for _ in range(cold_calls):
            auth.invalidate()
            await auth.authenticate(key.secret)
        cold = (time.perf_counter() - start) / cold_calls * 1e6
        await auth.close()
        await store.db.close()

    print(f"store key, warm cache       {warm:8.2f} µs/call")
    print(f"master key (KeyAuthenticator){master:7.2f} µs/call")
    print(f"master key (MasterKeyAuth.) {baseline:8.2f} µs/call")
    print(f"store key, cold (SQLite)    {cold:8.1f} µs/call  (generation poll + indexed lookup)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().calls))
