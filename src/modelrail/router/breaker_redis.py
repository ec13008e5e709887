"""Breaker state in Redis, so every replica opens and closes a deployment's breaker together.

Each operation is one Lua script, run atomically by Redis, mirroring
:func:`modelrail.router.breaker.allow` and :func:`~modelrail.router.breaker.transition`.
One hash per deployment under ``key_prefix``; it expires when unused for a while.
"""

from __future__ import annotations

from typing import Any

from modelrail.router.breaker import BreakerState, State
from modelrail.router.config import BreakerSettings
from modelrail.state.redis_errors import redis_errors

_LOAD = """
local h = redis.call('HGETALL', KEYS[1])
local s = {state='closed', ws=tonumber(ARGV[1]), calls=0, fails=0, ['until']=0, probes=0, opened=0}
for i = 1, #h, 2 do
  local k = h[i]
  if k == 'state' then s.state = h[i+1] else s[k] = tonumber(h[i+1]) end
end
"""

_SAVE = """
redis.call('HSET', KEYS[1], 'state', s.state, 'ws', tostring(s.ws), 'calls', s.calls, 'fails', s.fails,
  'until', tostring(s['until']), 'probes', s.probes, 'opened', s.opened)
redis.call('EXPIRE', KEYS[1], ttl)
"""

# ARGV: now, cooldown, half_open_probes, ttl
_ALLOW = (
    _LOAD
    + """
local now, cooldown, max_probes, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ok = 1
if s.state ~= 'closed' then
  if now < s['until'] then
    if s.state == 'half_open' and s.probes < max_probes then s.probes = s.probes + 1 else ok = 0 end
  else
    s.state = 'half_open'; s.probes = 1; s['until'] = now + cooldown
  end
  if ok == 1 then
"""
    + _SAVE
    + """
  end
end
return ok
"""
)

# ARGV: now, ok, window, min_requests, min_failures, error_rate, cooldown, ttl
_RECORD = (
    _LOAD
    + """
local now, ok = tonumber(ARGV[1]), tonumber(ARGV[2])
local window, min_req, min_fail = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local rate, cooldown, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local function open()
  s.state = 'open'; s['until'] = now + cooldown; s.probes = 0; s.calls = 0; s.fails = 0
  s.opened = s.opened + 1
end
if s.state == 'half_open' then
  if ok == 1 then
    s.state = 'closed'; s.calls = 0; s.fails = 0; s.ws = now; s.probes = 0
  else
    open()
  end
elseif s.state == 'closed' then
  if now - s.ws >= window then s.ws = now; s.calls = 0; s.fails = 0 end
  s.calls = s.calls + 1
  if ok == 0 then
    s.fails = s.fails + 1
    if s.calls >= min_req and s.fails >= min_fail and s.fails >= rate * s.calls then open() end
  end
else
  return s.state
end
"""
    + _SAVE
    + """
return s.state
"""
)


class RedisBreakerStore:
    def __init__(self, settings: BreakerSettings, client: Any = None) -> None:
        import redis.asyncio as aioredis

        self.settings = settings
        self._client: Any = client or aioredis.Redis.from_url(
            settings.redis_url or "redis://127.0.0.1:6379/0", socket_timeout=0.5
        )
        self._allow = self._client.register_script(_ALLOW)
        self._record = self._client.register_script(_RECORD)
        # Forget a breaker untouched for a while: long enough to outlive any window or cooldown.
        self._ttl = int(max(settings.window, settings.cooldown) * 4) + 60

    def _key(self, key: str) -> str:
        return self.settings.key_prefix + key

    async def allow(self, key: str, now: float) -> bool:
        s = self.settings
        with redis_errors("The breaker store (Redis)"):
            result = await self._allow(
                keys=[self._key(key)], args=[repr(now), s.cooldown, s.half_open_probes, self._ttl]
            )
        return bool(int(result))

    async def record(self, key: str, ok: bool, now: float) -> State:
        s = self.settings
        args: list[str | int | float] = [
            repr(now),
            int(ok),
            s.window,
            s.min_requests,
            s.min_failures,
            s.error_rate,
            s.cooldown,
            self._ttl,
        ]
        with redis_errors("The breaker store (Redis)"):
            result = await self._record(keys=[self._key(key)], args=args)
        state = result.decode() if isinstance(result, bytes) else str(result)
        return state  # type: ignore[return-value]

    async def snapshot(self, key: str, now: float) -> BreakerState:
        with redis_errors("The breaker store (Redis)"):
            raw = await self._client.hgetall(self._key(key))
        data = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        if not data:
            return BreakerState(window_start=now)
        return BreakerState(
            state=data.get("state", "closed"),  # type: ignore[arg-type]
            window_start=float(data.get("ws", now)),
            calls=int(float(data.get("calls", 0))),
            failures=int(float(data.get("fails", 0))),
            until=float(data.get("until", 0)),
            probes=int(float(data.get("probes", 0))),
            opened=int(float(data.get("opened", 0))),
        )

    async def reset(self, key: str) -> None:
        with redis_errors("The breaker store (Redis)"):
            await self._client.delete(self._key(key))

    async def close(self) -> None:
        await self._client.aclose()
