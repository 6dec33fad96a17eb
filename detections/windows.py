"""Where Sigma correlation windows live: Redis (production) or the database (embedded mode).

Both are shared by every process using them and survive a restart; each applies one
observation atomically per window (detections.correlation.WindowStore), so two workers adding
to the same window never lose an entry nor both fire. Windows expire by themselves: a Redis
key has a TTL of the rule's timespan plus a grace, refreshed on each observation; a database
row past the same deadline counts as empty and ``expire_correlation_windows`` (schedule it)
deletes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
import redis
from redis.exceptions import NoScriptError
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from detections.correlation import (
    OP_NAMES,
    WINDOW_GRACE,
    Burst,
    CorrelationRule,
    Observation,
    WindowKey,
    WindowState,
    WindowStore,
    window_ttl,
)
from detections.models import CorrelationWindow
from soc.core.db import Database, utcnow
from soc.core.settings import Settings

REDIS_PREFIX = "soc:corr"


def build_window_store(settings: Settings, db: Database) -> WindowStore:
    """Redis in production mode (the workers' broker: every worker and API process shares
    it), else the database (embedded mode)."""
    if settings.mode == "production":
        return RedisWindowStore(
            redis.Redis.from_url(
                settings.redis_url,
                socket_timeout=10,
                socket_connect_timeout=5,
                health_check_interval=30,
            )
        )
    return DatabaseWindowStore(db)


def expire_correlation_windows(windows: WindowStore, now: datetime | None = None) -> int:
    """Delete windows untouched for longer than their TTL; returns how many (the beat runs it;
    Redis keys expire by themselves, so there it has nothing to do)."""
    return windows.expire(now if now is not None else utcnow())


def group_key(group: tuple[str, ...]) -> str:
    return hashlib.sha256(orjson.dumps(list(group))).hexdigest()


# --- the database -------------------------------------------------------------------------


class DatabaseWindowStore:
    """One row per window, locked while it is updated (SELECT ... FOR UPDATE on PostgreSQL;
    SQLite write transactions are serialised). With the caller's session the window changes
    commit, or roll back, with the alerts they raise."""

    def __init__(self, db: Database, grace: timedelta = WINDOW_GRACE) -> None:
        self.db = db
        self.grace = grace

    def observe(
        self, observations: Sequence[Observation], session: Session | None = None
    ) -> list[Burst | None]:
        if not observations:
            return []
        if session is not None:
            return self._observe(session, observations)
        with self.db.session() as own:
            return self._observe(own, observations)

    def expire(self, now: datetime) -> int:
        with self.db.session() as session:
            result = session.execute(
                delete(CorrelationWindow).where(CorrelationWindow.expires_at < now)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def _observe(self, session: Session, observations: Sequence[Observation]) -> list[Burst | None]:
        by_window: dict[WindowKey, list[int]] = {}
        for i, obs in enumerate(observations):
            by_window.setdefault(obs.key, []).append(i)
        out: list[Burst | None] = [None] * len(observations)
        now = utcnow()
        for key in sorted(by_window):  # one lock order for every worker: no deadlock
            indexes = by_window[key]
            first = observations[indexes[0]]
            row_id, state = self._lock(session, first, now)
            for i in indexes:
                out[i] = state.step(observations[i].rule, observations[i].entry)
            session.execute(
                update(CorrelationWindow)
                .where(CorrelationWindow.id == row_id)
                .values(
                    state=state.to_json(),
                    updated_at=now,
                    expires_at=now + window_ttl(first.rule, self.grace),
                )
            )
        return out

    def _lock(self, session: Session, obs: Observation, now: datetime) -> tuple[int, WindowState]:
        """The window's row, locked for this transaction (created if missing)."""
        gkey = group_key(obs.group)
        query = (
            select(CorrelationWindow.id, CorrelationWindow.state, CorrelationWindow.expires_at)
            .where(
                CorrelationWindow.tenant_id == obs.tenant_id,
                CorrelationWindow.rule_id == obs.rule.id,
                CorrelationWindow.group_key == gkey,
            )
            .with_for_update()
        )
        row = session.execute(query).one_or_none()
        if row is None:
            insert = _insert_for(session)
            session.execute(
                insert(CorrelationWindow)
                .values(
                    tenant_id=obs.tenant_id,
                    rule_id=obs.rule.id,
                    group_key=gkey,
                    group_values=orjson.dumps(list(obs.group)).decode(),
                    state="{}",
                    updated_at=now,
                    expires_at=now,
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "rule_id", "group_key"])
            )
            row = session.execute(query).one()
        live = row.expires_at >= now
        return row.id, WindowState.from_json(row.state) if live else WindowState()


def _insert_for(session: Session) -> Callable[..., Any]:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"correlation windows on {name}")


# --- Redis --------------------------------------------------------------------------------

# One window = three keys sharing a hash tag (same cluster slot):
#   KEYS[1] entries: sorted set, member JSON [event id, ref, value], score event time
#   KEYS[2] hash: '^n' newest event time; 'e:<event id>' trigger of the burst it fired in;
#           'b:<trigger>' that burst (JSON [member, score, ...])
#   KEYS[3] bursts: sorted set of triggers, score the burst's last event time
# ARGV: time, member, event id, timespan (s), ttl (ms), type, op, count, refs (JSON)
OBSERVE_LUA = """
local t = tonumber(ARGV[1])
local newest = tonumber(redis.call('HGET', KEYS[2], '^n') or ARGV[1])
if t >= newest then
  newest = t
  redis.call('HSET', KEYS[2], '^n', ARGV[1])
end
local cutoff = newest - tonumber(ARGV[4])
local cut = '(' .. string.format('%.17g', cutoff)
local function refresh()
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
end
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cut)
for _, trigger in ipairs(old) do
  local burst = redis.call('HGET', KEYS[2], 'b:' .. trigger)
  if burst then
    local flat = cjson.decode(burst)
    for i = 1, #flat, 2 do redis.call('HDEL', KEYS[2], 'e:' .. cjson.decode(flat[i])[1]) end
    redis.call('HDEL', KEYS[2], 'b:' .. trigger)
  end
end
if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', cut) end
local fired = redis.call('HGET', KEYS[2], 'e:' .. ARGV[3])
if fired then
  refresh()
  if fired == ARGV[3] then return {'fired', redis.call('HGET', KEYS[2], 'b:' .. fired)} end
  return false
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cut)
if t < cutoff or redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2]) == 0 then
  refresh()
  return false
end
local kind, n = ARGV[6], 0
if kind == 'event_count' then
  n = redis.call('ZCARD', KEYS[1])
else
  local members = redis.call('ZRANGE', KEYS[1], 0, -1)
  local refs = cjson.decode(ARGV[9])
  local seen, pos = {}, 1
  for _, m in ipairs(members) do
    local e = cjson.decode(m)
    if kind == 'value_count' then
      if e[3] ~= cjson.null and not seen[e[3]] then seen[e[3]] = true; n = n + 1 end
    elseif kind == 'temporal' then
      seen[e[2]] = true
    elseif pos <= #refs and e[2] == refs[pos] then
      pos = pos + 1
    end
  end
  if kind == 'temporal' then
    n = 1
    for _, r in ipairs(refs) do if not seen[r] then n = 0 end end
  elseif kind == 'temporal_ordered' then
    n = (pos > #refs) and 1 or 0
  end
end
local op, ref = ARGV[7], tonumber(ARGV[8])
if not ((op == 'gt' and n > ref) or (op == 'gte' and n >= ref) or (op == 'eq' and n == ref)) then
  refresh()
  return false
end
local flat = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local burst = cjson.encode(flat)
redis.call('DEL', KEYS[1])
for i = 1, #flat, 2 do redis.call('HSET', KEYS[2], 'e:' .. cjson.decode(flat[i])[1], ARGV[3]) end
redis.call('HSET', KEYS[2], 'b:' .. ARGV[3], burst)
redis.call('ZADD', KEYS[3], flat[#flat], ARGV[3])
refresh()
return {'fired', burst}
"""


class RedisWindowStore:
    """Windows as Redis keys per tenant, correlation rule and group, updated by one Lua
    script (atomic); a batch of observations is one pipelined round trip."""

    def __init__(
        self,
        client: redis.Redis[bytes],
        grace: timedelta = WINDOW_GRACE,
        prefix: str = REDIS_PREFIX,
    ) -> None:
        self.client = client
        self.grace = grace
        self.prefix = prefix
        self._sha = hashlib.sha1(OBSERVE_LUA.encode()).hexdigest()
        self._rule_args: dict[str, list[bytes]] = {}

    def keys(self, obs: Observation) -> list[str]:
        tag = f"{self.prefix}:{{{obs.tenant_id}:{obs.rule.id}:{group_key(obs.group)[:32]}}}"
        return [f"{tag}:w", f"{tag}:f", f"{tag}:b"]

    def observe(
        self, observations: Sequence[Observation], session: Session | None = None
    ) -> list[Burst | None]:
        if not observations:
            return []
        try:
            replies = self._run(observations)
            missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
            if missing:  # first use, or Redis lost its script cache: load, run those again
                self.client.script_load(OBSERVE_LUA)  # type: ignore[no-untyped-call]
                again = self._run([observations[i] for i in missing])
                for i, reply in zip(missing, again, strict=True):
                    replies[i] = reply
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # an OSError: the detection task retries with backoff
            raise ConnectionError(f"correlation windows: Redis unavailable ({exc})") from exc
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [
            _burst(obs.entry.event_id, reply)
            for obs, reply in zip(observations, replies, strict=True)
        ]

    def expire(self, now: datetime) -> int:
        return 0  # every key carries its TTL

    def _run(self, observations: Sequence[Observation]) -> list[Any]:
        """One pipelined round trip: each observation is one atomic run of the script."""
        pipe = self.client.pipeline(transaction=False)
        for obs in observations:
            entry = obs.entry
            pipe.evalsha(
                self._sha,
                3,
                *self.keys(obs),
                repr(entry.time),
                orjson.dumps([entry.event_id, entry.ref, entry.value]),
                entry.event_id,
                *self._args(obs.rule),
            )
        return list(pipe.execute(raise_on_error=False))

    def _args(self, rule: CorrelationRule) -> list[bytes]:
        """The rule's script arguments (encoded once per rule)."""
        cached = self._rule_args.get(rule.id)
        if cached is None:
            temporal = rule.type in ("temporal", "temporal_ordered")
            values = [
                repr(rule.timespan.total_seconds()),
                str(int(window_ttl(rule, self.grace).total_seconds() * 1000)),
                rule.type,
                "gte" if temporal else OP_NAMES[rule.op],
                str(1 if temporal else rule.count),
            ]
            cached = [v.encode() for v in values] + [orjson.dumps(rule.rule_refs)]
            self._rule_args[rule.id] = cached
        return cached


def _burst(trigger: str, reply: Any) -> Burst | None:
    if not reply:
        return None
    flat = orjson.loads(reply[1])  # [member, score, ...] in time order
    ids = [orjson.loads(flat[i])[0] for i in range(0, len(flat), 2)]
    return Burst(trigger, ids, float(flat[1]), float(flat[-1]))
