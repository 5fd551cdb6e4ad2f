"""The job store on Redis: one hash per job, a stream of status events, a set of cancel flags.

Each batch of status changes is one Lua script run (check each transition, write, log), so
senders and workers on different machines never interleave a check and a write. The batch
travels as one JSON argument, with each event's text and info field already encoded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import redis

from plugyard.sdk.tasks import JobStatus

from ._store import CANCEL_MEMORY, Job, Update, allowed_before, encode, event_members

__all__ = ["RedisJobStore"]

JOB_TTL = 7 * 86_400

_APPLY = """
-- KEYS[1] is the event stream, KEYS[i] (i > 1) the hash of update i - 1. ARGV[1] is the ttl,
-- ARGV[2] a JSON array with one entry per update: name, status, allowed-from (",a,b,"),
-- progress (true/false), time, the event's JSON without its status and opening brace, and
-- the info fields as a flat list of name and JSON text. The batch's events go in one stream
-- entry, a JSON array.
local ttl = ARGV[1]
local batch = cjson.decode(ARGV[2])
local events = {}
for i, u in ipairs(batch) do
  local key = KEYS[i + 1]
  local new, progress = u[2], u[4]
  local cur = redis.call('HGET', key, 'status') or 'inactive'
  local ok = true
  if progress then
    if cur ~= 'running' and cur ~= 'canceling' then ok = false end
    new = cur
  elseif not string.find(u[3], ',' .. cur .. ',', 1, true) then
    if new == 'success' and cur == 'canceling' then new = 'canceled' else ok = false end
  end
  if ok then
    local fields = {'name', u[1], 'status', new, 'updated', u[5]}
    local info = u[7]
    for j = 1, #info, 2 do
      fields[#fields + 1] = 'i:' .. info[j]
      fields[#fields + 1] = info[j + 1]
    end
    redis.call('HSET', key, unpack(fields))
    redis.call('EXPIRE', key, ttl)
    local shown = new
    if progress then shown = 'progress' end
    events[#events + 1] = '{"status":"' .. shown .. '",' .. u[6]
  end
end
if #events > 0 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', '10000', '*', 'd',
    '[' .. table.concat(events, ',') .. ']')
end
return #events
"""


class RedisJobStore:
    """Job status on a Redis server, shared by every machine that uses the same database."""

    def __init__(self, url: str, *, prefix: str = "plugyard:") -> None:
        self.url = url
        self.prefix = prefix
        self.client: Any = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self._script = self.client.register_script(_APPLY)
        self._events = f"{prefix}events"
        self._flags = f"{prefix}cancels"
        self._deadlines = f"{prefix}cancel-deadlines"
        self._allowed = {status: f",{','.join(allowed_before(status))}," for status in JobStatus}

    def _key(self, task_id: str) -> str:
        return f"{self.prefix}job:{task_id}"

    def apply(self, updates: Sequence[Update]) -> None:
        for first in range(0, len(updates), 500):
            chunk = updates[first : first + 500]
            keys = [self._events, *(self._key(u.task_id) for u in chunk)]
            batch = [
                [
                    u.name,
                    u.status.value,
                    self._allowed[u.status],
                    u.progress,
                    repr(u.time),
                    _event_tail(u),
                    [part for field, value in u.info.items() for part in (field, encode(value))],
                ]
                for u in chunk
            ]
            # Few, large arguments: redis-py encodes each argument in Python.
            self._script(keys=keys, args=[JOB_TTL, encode(batch)])

    def get(self, task_id: str) -> Job | None:
        raw = self.client.hgetall(self._key(task_id))
        return _job(task_id, raw) if raw else None

    def request_cancel(self, task_id: str, name: str, deadline: float) -> Job | None:
        before = self.get(task_id)
        now = time.time()
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self._key(task_id), mapping={"cancel_at": now, "cancel_deadline": deadline})
        pipe.hsetnx(self._key(task_id), "name", name)
        pipe.hsetnx(self._key(task_id), "status", "inactive")
        pipe.hsetnx(self._key(task_id), "updated", now)
        pipe.expire(self._key(task_id), JOB_TTL)
        pipe.zadd(self._flags, {task_id: now})
        pipe.zadd(self._deadlines, {task_id: deadline})
        pipe.zremrangebyscore(self._flags, "-inf", now - CANCEL_MEMORY)
        pipe.execute()
        return before

    def cancel_flags(self) -> set[str]:
        found = self.client.zrangebyscore(self._flags, time.time() - CANCEL_MEMORY, "+inf")
        return {item.decode() for item in found}

    def overdue_cancels(self, now: float) -> list[Job]:
        overdue = []
        for raw_id in self.client.zrangebyscore(self._deadlines, "-inf", now):
            task_id = raw_id.decode()
            job = self.get(task_id)
            if job is None or job.status is not JobStatus.CANCELING:
                self.client.zrem(self._deadlines, task_id)
            else:
                overdue.append(job)
        return overdue

    def running_jobs(self) -> list[Job]:
        found = []
        start = len(self.prefix) + 4
        for key in self.client.scan_iter(match=f"{self.prefix}job:*", count=1000):
            status = self.client.hget(key, "status")
            if status in (b"running", b"canceling"):
                job = self.get(key.decode()[start:])
                if job is not None and job.status in (JobStatus.RUNNING, JobStatus.CANCELING):
                    found.append(job)
        return found

    def last_event(self) -> str:
        newest = self.client.xrevrange(self._events, count=1)
        return newest[0][0].decode() if newest else "0-0"

    def events_after(self, cursor: str, wait: float) -> tuple[str, list[dict[str, Any]]]:
        block = int(wait * 1000) if wait > 0 else None  # BLOCK 0 would wait forever
        found = self.client.xread({self._events: cursor}, count=100, block=block)
        if not found:
            return cursor, []
        entries = found[0][1]
        events: list[dict[str, Any]] = []
        for _, fields in entries:
            logged = json.loads(fields[b"d"])  # a batch's array, or one event (older streams)
            events.extend(logged if isinstance(logged, list) else [logged])
        return entries[-1][0].decode(), events

    def close(self) -> None:
        self.client.close()


def _event_tail(update: Update) -> str:
    """An update's event as JSON without its opening brace and ``status`` (the script puts
    them in front, once it knows the status)."""
    info = update.info
    if "status" in info:
        info = {key: value for key, value in info.items() if key != "status"}
    head = f"{encode(info)[1:-1]}," if info else ""
    return f"{head}{event_members(update)}}}"


def _job(task_id: str, raw: dict[bytes, bytes]) -> Job:
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    info = {k[2:]: json.loads(v) for k, v in fields.items() if k.startswith("i:")}
    deadline = fields.get("cancel_deadline")
    return Job(
        task_id,
        fields.get("name", ""),
        JobStatus(fields.get("status", "inactive")),
        info,
        float(fields.get("updated", 0)),
        "cancel_at" in fields,
        float(deadline) if deadline else None,
    )
