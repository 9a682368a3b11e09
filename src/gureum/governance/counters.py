"""The counters behind rate limits and budgets, with one interface and two backends: Redis
(shared by every replica; each operation is one atomic Lua script, so one round trip) and
in-process (a single instance without `redis_url`; each operation runs without awaiting, so it
is atomic under asyncio).

Rate limits are GCRA (a token bucket kept as one "theoretical arrival time" per key): `limit`
units per `period`, bursts up to `limit`, exact `remaining` and `reset` for the OpenAI-style
headers, and adjustable after the fact (a request's real token count refunds or charges the
difference).

Budgets are a hash per (subject, period): `spent` (settled) and `reserved` (in flight) in integer
micro-units of currency, and one field per reservation so settling is idempotent. Reservations
carry an expiry (a sorted set beside the hash): if a replica dies mid-request, its hold is
released when the expiry passes instead of blocking the budget for the rest of the period. A
missing budget hash means "not seeded": the caller sums the ledger for the period and seeds it.

`reserve` checks every rate limit and every budget of a request and commits all or nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

UNITS = 1_000_000  # budget amounts are integer micro-units of currency (exact in Lua's doubles to 9e9 units)


@dataclass(frozen=True, slots=True)
class RateSpec:
    key: str
    limit: int
    period_ms: int
    cost: int  # units this request takes now (1 request, or estimated tokens)


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    key: str
    limit: int  # micro-units
    amount: int  # micro-units reserved for this request (its worst case)
    hard: bool
    ttl_ms: int  # keep the counter this long (to the end of the period plus a margin)


@dataclass(slots=True)
class RateState:
    remaining: int
    reset_ms: int  # until the bucket is full again


@dataclass(slots=True)
class Verdict:
    """`ok`, or which spec refused: `rate` (retry after `retry_ms`), `budget`, or `seed` (budget
    `index` has no counter yet: seed it from the ledger and try again)."""

    kind: str
    index: int = -1
    retry_ms: int = 0
    rates: list[RateState] = field(default_factory=list)
    budgets: list[tuple[int, int]] = field(default_factory=list)  # (spent, reserved) before this request


class Counters(Protocol):
    async def reserve(
        self, request_id: str, rates: Sequence[RateSpec], budgets: Sequence[BudgetSpec], hold_ms: int
    ) -> Verdict:
        """Check all, then take all (rate costs, budget reservations held for `hold_ms`) or nothing."""

    async def seed(self, budget: BudgetSpec, spent: int) -> None:
        """Create a budget counter with `spent` already used, unless it exists."""

    async def renew(self, request_id: str, budgets: Sequence[BudgetSpec], hold_ms: int) -> None:
        """Keep this request's reservations held for `hold_ms` more (a long stream lives longer
        than a hold); a hold already released is not taken again."""

    async def settle(
        self, request_id: str, budgets: Sequence[tuple[BudgetSpec, int]], tokens: Sequence[tuple[RateSpec, int]]
    ) -> None:
        """Release this request's reservations and add what it really cost; correct token
        buckets by the difference between the real and the reserved token count."""

    async def aclose(self) -> None: ...


class CounterUnavailable(Exception):
    """The shared counter store could not be reached."""


# --------------------------------------------------------------------------------------------
# In-process
# --------------------------------------------------------------------------------------------


@dataclass
class _Budget:
    spent: int = 0
    reserved: int = 0
    holds: dict[str, tuple[int, float]] = field(default_factory=dict)  # request id -> (amount, expires)
    expires: float = 0.0


class MemoryCounters:
    """One process's counters. Every method body runs without awaiting: asyncio-atomic."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._tat: dict[str, tuple[float, float]] = {}  # key -> (tat ms, expires ms)
        self._budgets: dict[str, _Budget] = {}

    def _now(self) -> float:
        return self.clock() * 1000.0

    def _budget(self, key: str, now: float) -> _Budget | None:
        b = self._budgets.get(key)
        if b is not None and b.expires <= now:
            del self._budgets[key]
            return None
        return b

    async def reserve(
        self, request_id: str, rates: Sequence[RateSpec], budgets: Sequence[BudgetSpec], hold_ms: int
    ) -> Verdict:
        now = self._now()
        found: list[_Budget] = []
        for j, spec in enumerate(budgets):
            b = self._budget(spec.key, now)
            if b is None:
                return Verdict("seed", j)
            found.append(b)
        new_tats: list[float] = []
        states: list[RateState] = []
        for i, r in enumerate(rates):
            interval = r.period_ms / r.limit
            tat = max(self._tat.get(r.key, (now, 0.0))[0], now)
            new_tat = tat + r.cost * interval
            if new_tat - r.period_ms > now:
                return Verdict("rate", i, retry_ms=math.ceil(new_tat - r.period_ms - now))
            new_tats.append(new_tat)
            states.append(RateState(int((r.period_ms - (new_tat - now)) // interval), math.ceil(new_tat - now)))
        before: list[tuple[int, int]] = []
        for j, (spec, b) in enumerate(zip(budgets, found, strict=True)):
            for rid, (amount, exp) in list(b.holds.items()):
                if exp <= now:
                    b.reserved -= amount
                    del b.holds[rid]
            if spec.hard and b.spent + b.reserved + spec.amount > spec.limit:
                return Verdict("budget", j, budgets=[(b.spent, b.reserved)])
            before.append((b.spent, b.reserved))
        for r, t in zip(rates, new_tats, strict=True):
            self._tat[r.key] = (t, t + 1000.0)
        for spec, b in zip(budgets, found, strict=True):
            prev = b.holds.get(request_id)
            if prev is not None:
                b.reserved -= prev[0]
            b.holds[request_id] = (spec.amount, now + hold_ms)
            b.reserved += spec.amount
            b.expires = max(b.expires, now + spec.ttl_ms)
        if len(self._tat) > 100_000:
            self._tat = {k: v for k, v in self._tat.items() if v[1] > now}
        if len(self._budgets) > 100_000:
            self._budgets = {k: v for k, v in self._budgets.items() if v.expires > now}
        return Verdict("ok", rates=states, budgets=before)

    async def seed(self, budget: BudgetSpec, spent: int) -> None:
        now = self._now()
        if self._budget(budget.key, now) is None:
            self._budgets[budget.key] = _Budget(spent=spent, expires=now + budget.ttl_ms)

    async def renew(self, request_id: str, budgets: Sequence[BudgetSpec], hold_ms: int) -> None:
        now = self._now()
        for spec in budgets:
            b = self._budget(spec.key, now)
            hold = b.holds.get(request_id) if b is not None else None
            if b is not None and hold is not None and hold[1] > now:
                b.holds[request_id] = (hold[0], now + hold_ms)

    async def settle(
        self, request_id: str, budgets: Sequence[tuple[BudgetSpec, int]], tokens: Sequence[tuple[RateSpec, int]]
    ) -> None:
        now = self._now()
        for spec, actual in budgets:
            b = self._budget(spec.key, now)
            if b is None:
                continue  # expired: the ledger has it for the next seed
            hold = b.holds.pop(request_id, None)
            if hold is not None:
                b.reserved -= hold[0]
            b.spent += actual
        for r, delta in tokens:
            cur = self._tat.get(r.key)
            if cur is None or delta == 0:
                continue
            t = max(cur[0] + delta * r.period_ms / r.limit, now)
            self._tat[r.key] = (t, t + 1000.0)

    def peek(self, key: str) -> tuple[int, int] | None:
        """(spent, reserved) of a budget counter, for tests and tools."""
        b = self._budget(key, self._now())
        return None if b is None else (b.spent, b.reserved)

    async def aclose(self) -> None:
        return None


# --------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------

# KEYS: rate keys (nr), then per budget: hash, holds zset.
# ARGV: nr, nb, request id, hold ms, then per rate: limit, period ms, cost; per budget: limit,
# amount, hard (1/0), ttl ms.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nr, nb = tonumber(ARGV[1]), tonumber(ARGV[2])
local rid, hold = ARGV[3], tonumber(ARGV[4])
for j = 1, nb do
  if redis.call('EXISTS', KEYS[nr + 2 * j - 1]) == 0 then return {'seed', j} end
end
local out = {'ok', 0, 0}
local tats = {}
local a = 5
for i = 1, nr do
  local limit, period, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local interval = period / limit
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + cost * interval
  if new_tat - period > now then
    return {'rate', i, math.ceil(new_tat - period - now)}
  end
  tats[i] = new_tat
  table.insert(out, math.floor((period - (new_tat - now)) / interval))
  table.insert(out, math.ceil(new_tat - now))
end
local specs = {}
for j = 1, nb do
  local hk, zk = KEYS[nr + 2 * j - 1], KEYS[nr + 2 * j]
  local limit, amount, hard, ttl = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), ARGV[a + 2] == '1', ARGV[a + 3]
  a = a + 4
  local old = redis.call('ZRANGEBYSCORE', zk, '-inf', now, 'LIMIT', 0, 100)
  for _, m in ipairs(old) do
    local amt = redis.call('HGET', hk, 'r:' .. m)
    if amt then
      redis.call('HINCRBY', hk, 'reserved', 0 - tonumber(amt))
      redis.call('HDEL', hk, 'r:' .. m)
    end
    redis.call('ZREM', zk, m)
  end
  local spent = tonumber(redis.call('HGET', hk, 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', hk, 'reserved') or '0')
  if hard and spent + reserved + amount > limit then
    return {'budget', j, 0, spent, reserved}
  end
  specs[j] = {hk, zk, amount, ttl}
  table.insert(out, spent)
  table.insert(out, reserved)
end
for i = 1, nr do
  redis.call('SET', KEYS[i], string.format('%.3f', tats[i]), 'PX', math.ceil(tats[i] - now) + 1000)
end
for j = 1, nb do
  local s = specs[j]
  local prev = redis.call('HGET', s[1], 'r:' .. rid)
  if prev then redis.call('HINCRBY', s[1], 'reserved', 0 - tonumber(prev)) end
  redis.call('HSET', s[1], 'r:' .. rid, s[3])
  redis.call('HINCRBY', s[1], 'reserved', s[3])
  redis.call('ZADD', s[2], now + hold, rid)
  redis.call('PEXPIRE', s[1], s[4])
  redis.call('PEXPIRE', s[2], s[4])
end
return out
"""

# Releasing a hold subtracts with `0 - x`, never `-x`: Lua renders -0 as "-0", which HINCRBY
# refuses as not an integer (a free call reserves 0).

# KEYS: budget hash; ARGV: spent, ttl ms.
_SEED = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'spent', ARGV[1], 'reserved', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""

# KEYS: per budget: hash, holds zset. ARGV: request id, hold ms. Only a hold not yet expired
# (and so not released by a sweep) is extended.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for j = 1, #KEYS / 2 do
  local zk = KEYS[2 * j]
  local exp = redis.call('ZSCORE', zk, ARGV[1])
  if exp and tonumber(exp) > now then redis.call('ZADD', zk, 'XX', now + tonumber(ARGV[2]), ARGV[1]) end
end
return 1
"""

# KEYS: per budget hash, holds zset; then token bucket keys.
# ARGV: nb, nt, request id, per budget: actual; per bucket: delta, limit, period ms.
_SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nb, nt, rid = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local a = 4
for j = 1, nb do
  local hk, zk = KEYS[2 * j - 1], KEYS[2 * j]
  local actual = ARGV[a]
  a = a + 1
  if redis.call('EXISTS', hk) == 1 then
    local amt = redis.call('HGET', hk, 'r:' .. rid)
    if amt then
      redis.call('HINCRBY', hk, 'reserved', 0 - tonumber(amt))
      redis.call('HDEL', hk, 'r:' .. rid)
    end
    if actual ~= '0' then redis.call('HINCRBY', hk, 'spent', actual) end
  end
  redis.call('ZREM', zk, rid)
end
for i = 1, nt do
  local k = KEYS[2 * nb + i]
  local delta, limit, period = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local tat = redis.call('GET', k)
  if tat and delta ~= 0 then
    local new_tat = math.max(tonumber(tat) + delta * period / limit, now)
    redis.call('SET', k, string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1000)
  end
end
return 1
"""


class RedisCounters:
    """Counters in Redis, shared by every replica. Key names carry the tenant as a hash tag
    (`{t:acme}`), so all keys one request touches live in one Redis Cluster slot."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._reserve = client.register_script(_RESERVE)
        self._seed = client.register_script(_SEED)
        self._settle = client.register_script(_SETTLE)
        self._renew = client.register_script(_RENEW)

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        import redis.exceptions

        try:
            return await script(keys=keys, args=args)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise CounterUnavailable(str(exc)) from exc

    async def reserve(
        self, request_id: str, rates: Sequence[RateSpec], budgets: Sequence[BudgetSpec], hold_ms: int
    ) -> Verdict:
        keys = [r.key for r in rates]
        args: list[Any] = [len(rates), len(budgets), request_id, hold_ms]
        for r in rates:
            args += [r.limit, r.period_ms, r.cost]
        for b in budgets:
            keys += [b.key, b.key + ":holds"]
            args += [b.limit, b.amount, 1 if b.hard else 0, b.ttl_ms]
        res = await self._run(self._reserve, keys, args)
        kind = res[0].decode() if isinstance(res[0], bytes) else res[0]
        if kind == "seed":
            return Verdict("seed", int(res[1]) - 1)
        if kind == "rate":
            return Verdict("rate", int(res[1]) - 1, retry_ms=int(res[2]))
        if kind == "budget":
            return Verdict("budget", int(res[1]) - 1, budgets=[(int(res[3]), int(res[4]))])
        vals = [int(v) for v in res[3:]]
        states = [RateState(vals[2 * i], vals[2 * i + 1]) for i in range(len(rates))]
        off = 2 * len(rates)
        before = [(vals[off + 2 * j], vals[off + 2 * j + 1]) for j in range(len(budgets))]
        return Verdict("ok", rates=states, budgets=before)

    async def seed(self, budget: BudgetSpec, spent: int) -> None:
        await self._run(self._seed, [budget.key], [spent, budget.ttl_ms])

    async def renew(self, request_id: str, budgets: Sequence[BudgetSpec], hold_ms: int) -> None:
        keys = [k for b in budgets for k in (b.key, b.key + ":holds")]
        await self._run(self._renew, keys, [request_id, hold_ms])

    async def settle(
        self, request_id: str, budgets: Sequence[tuple[BudgetSpec, int]], tokens: Sequence[tuple[RateSpec, int]]
    ) -> None:
        keys: list[str] = []
        args: list[Any] = [len(budgets), len(tokens), request_id]
        for b, actual in budgets:
            keys += [b.key, b.key + ":holds"]
            args.append(actual)
        for r, delta in tokens:
            keys.append(r.key)
            args += [delta, r.limit, r.period_ms]
        await self._run(self._settle, keys, args)

    async def peek(self, key: str) -> tuple[int, int] | None:
        raw = await self.client.hmget(key, "spent", "reserved")
        if raw[0] is None:
            return None
        return int(raw[0]), int(raw[1] or 0)

    async def aclose(self) -> None:
        return None  # the client belongs to the platform


__all__ = [
    "UNITS",
    "BudgetSpec",
    "CounterUnavailable",
    "Counters",
    "MemoryCounters",
    "RateSpec",
    "RateState",
    "RedisCounters",
    "Verdict",
]
