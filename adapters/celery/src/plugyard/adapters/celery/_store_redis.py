"""The job store on Redis: one hash per job, a stream of status events, a set of cancel flags.

Every status change is one Lua script run (check the transition, write, log), so senders and
workers on different machines never interleave a check and a write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import redis

from plugyard.sdk.tasks import JobStatus

from ._store import CANCEL_MEMORY, Job, Update, allowed_before

__all__ = ["RedisJobStore"]

JOB_TTL = 7 * 86_400

_APPLY = """
-- KEYS[1] is the event stream, KEYS[i + 1] the hash of update i.
-- ARGV: ttl, then 7 values per update: id, name, status, allowed-from, info, progress, event.
local ttl = ARGV[1]
local n = (#ARGV - 1) / 7
for i = 0, n - 1 do
  local a = 2 + i * 7
  local key = KEYS[i + 2]
  local cur = redis.call('HGET', key, 'status')
  if not cur then cur = 'inactive' end
  local new = ARGV[a + 2]
  local ok = true
  if ARGV[a + 5] == '1' then
    if cur ~= 'running' and cur ~= 'canceling' then ok = false end
    new = cur
  elseif not string.find(',' .. ARGV[a + 3] .. ',', ',' .. cur .. ',', 1, true) then
    if new == 'success' and cur == 'canceling' then new = 'canceled' else ok = false end
  end
  if ok then
    local ev = cjson.decode(ARGV[a + 6])
    redis.call('HSET', key, 'name', ARGV[a + 1], 'status', new, 'updated', ev['time'])
    local info = cjson.decode(ARGV[a + 4])
    for k, v in pairs(info) do redis.call('HSET', key, 'i:' .. k, cjson.encode(v)) end
    redis.call('EXPIRE', key, ttl)
    if ARGV[a + 5] == '1' then ev['status'] = 'progress' else ev['status'] = new end
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', '50000', '*', 'd', cjson.encode(ev))
  end
end
return n
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
        self._allowed = {status: ",".join(allowed_before(status)) for status in JobStatus}

    def _key(self, task_id: str) -> str:
        return f"{self.prefix}job:{task_id}"

    def apply(self, updates: Sequence[Update]) -> None:
        for first in range(0, len(updates), 200):
            chunk = updates[first : first + 200]
            keys = [self._events, *(self._key(u.task_id) for u in chunk)]
            args: list[Any] = [JOB_TTL]
            for u in chunk:
                event = {**u.info, "id": u.task_id, "name": u.name, "time": u.time}
                args += [
                    u.task_id,
                    u.name,
                    str(u.status),
                    self._allowed[u.status],
                    json.dumps(u.info, default=str) if u.info else "{}",
                    "1" if u.progress else "0",
                    json.dumps(event, default=str),
                ]
            self._script(keys=keys, args=args)

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

    def last_event(self) -> str:
        newest = self.client.xrevrange(self._events, count=1)
        return newest[0][0].decode() if newest else "0-0"

    def events_after(self, cursor: str, wait: float) -> tuple[str, list[dict[str, Any]]]:
        found = self.client.xread({self._events: cursor}, count=1000, block=int(wait * 1000))
        if not found:
            return cursor, []
        entries = found[0][1]
        return entries[-1][0].decode(), [json.loads(fields[b"d"]) for _, fields in entries]

    def close(self) -> None:
        self.client.close()


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
