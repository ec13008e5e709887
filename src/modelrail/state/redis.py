"""The Redis backend: one limit for every worker and replica.

Check-and-reserve is one Lua script, so it is atomic on the server; nothing is read, compared and
written from Python in separate round trips. Needs the ``redis`` extra (redis-py asyncio).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelrail.state.base import Check, Denied
from modelrail.state.redis_errors import redis_errors

if TYPE_CHECKING:
    from redis.asyncio import Redis

# The numbers travel as one comma-separated ARGV string rather than one argument each: redis-py
# encodes every argument on its own, and with 9 counters that was a third of the client's CPU.
# Amounts reach INCRBY as the strings sent, so stored sums are exact at any size; comparisons and
# returned values pass through Lua numbers (doubles), exact to 2^53 nano-dollars (about $9M).
_SPLIT = """
local function split(s)
  local out = {}
  for v in string.gmatch(s, '[^,]+') do out[#out + 1] = v end
  return out
end
"""

# KEYS: counters. ARGV[1]: per key "amount,limit or -1,ttl in ms or -1", all joined by commas.
# Returns {0, v1, v2, ...} on success or {index, current, pttl} when check ``index`` (1-based) refuses.
_RESERVE = (
    _SPLIT
    + """
local a = split(ARGV[1])
local n = #KEYS
for i = 1, n do
  local limit = tonumber(a[3 * i - 1])
  if limit >= 0 then
    local cur = tonumber(redis.call('GET', KEYS[i]) or '0')
    if cur + tonumber(a[3 * i - 2]) > limit then
      return {i, cur, redis.call('PTTL', KEYS[i])}
    end
  end
end
local out = {0}
for i = 1, n do
  out[i + 1] = redis.call('INCRBY', KEYS[i], a[3 * i - 2])
  local ttl = tonumber(a[3 * i])
  if ttl > 0 and redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return out
"""
)

# The same without checks: corrections and plain counting. ARGV[1]: per key "amount,ttl".
_ADJUST = (
    _SPLIT
    + """
local a = split(ARGV[1])
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('INCRBY', KEYS[i], a[2 * i - 1])
  local ttl = tonumber(a[2 * i])
  if ttl > 0 and redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return out
"""
)


def _ms(ttl: float | None) -> int:
    return -1 if ttl is None else max(1, int(ttl * 1000))


class RedisState:
    def __init__(self, url: str, prefix: str = "modelrail:", client: Redis | None = None) -> None:
        try:
            from redis.asyncio import Redis
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("state.backend 'redis' needs the redis package: pip install 'modelrail[redis]'") from exc
        self.prefix = prefix
        self._redis: Redis = client or Redis.from_url(url, decode_responses=True)
        self._reserve: Any = self._redis.register_script(_RESERVE)
        self._adjust: Any = self._redis.register_script(_ADJUST)

    async def reserve(self, checks: Sequence[Check]) -> list[int] | Denied:
        keys = [self.prefix + c.key for c in checks]
        packed = ",".join([f"{c.amount},{-1 if c.limit is None else c.limit},{_ms(c.ttl)}" for c in checks])
        with redis_errors():
            out = await self._reserve(keys=keys, args=[packed])
        if int(out[0]) == 0:
            return [int(v) for v in out[1:]]
        pttl = int(out[2])
        return Denied(int(out[0]) - 1, int(out[1]), pttl / 1000 if pttl >= 0 else None)

    async def adjust(self, deltas: Sequence[Check]) -> list[int]:
        if not deltas:
            return []
        packed = ",".join([f"{d.amount},{_ms(d.ttl)}" for d in deltas])
        with redis_errors():
            out = await self._adjust(keys=[self.prefix + d.key for d in deltas], args=[packed])
        return [int(v) for v in out]

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        return (await self.adjust([Check(key, amount, None, ttl)]))[0]

    async def get(self, key: str) -> str | None:
        with redis_errors():
            value = await self._redis.get(self.prefix + key)
        return None if value is None else str(value)

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        with redis_errors():
            await self._redis.set(self.prefix + key, value, px=None if ttl is None else _ms(ttl))

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        with redis_errors():
            done = await self._redis.set(self.prefix + key, value, nx=True, px=None if ttl is None else _ms(ttl))
        return bool(done)

    async def delete_prefix(self, prefix: str) -> int:
        count = 0
        with redis_errors():
            async for key in self._redis.scan_iter(match=self.prefix + prefix + "*", count=500):
                count += int(await self._redis.delete(key))
        return count

    async def close(self) -> None:
        await self._redis.aclose()
