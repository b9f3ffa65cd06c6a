"""Deliver template.yaml's events to the handlers, as Lambda would, on one machine.

S3 events: SeaweedFS has no bucket notifications we can rely on, so the router polls each
bucket prefix the template names and sends the exact event AWS would for every object it
has not yet handled. Handlers move or delete a package when they are done, so an object
still there after a restart is simply delivered again (handlers are idempotent): nothing a
publisher was told is stored is ever lost between a PUT and its ingest.

Failures are retried with growing delays, like Lambda's asynchronous retries, but never
dropped: the delay stops growing at a few minutes and the router keeps trying, logging the
traceback every time.

Schedules (ScheduleV2 / Schedule) fire from one timer thread that sleeps until the next due
time, so an idle archive uses no CPU. Api events are collected into `Router.routes` for the
signed API server to dispatch through `Router.invoke`.
"""

from __future__ import annotations

import calendar
import heapq
import importlib
import itertools
import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

from strongroom.local.template import (
    ApiEvent,
    FunctionSpec,
    S3Event,
    ScheduleEvent,
    Template,
    TemplateError,
)

log = logging.getLogger("strongroom.local.router")

ACCOUNT = "000000000000"  # the account id Lambda's ARNs carry locally


# --- what a handler receives --------------------------------------------------------------


class LambdaContext:
    """The attributes of Lambda's context object that handlers and powertools read."""

    def __init__(self, fn: FunctionSpec, region: str):
        self.function_name = fn.logical_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{fn.logical_id}"
        self.memory_limit_in_mb = fn.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{fn.logical_id}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + fn.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _iso_ms(when: datetime) -> str:
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


_sequence = itertools.count()


def s3_event(
    *,
    bucket: str,
    key: str,
    size: int,
    etag: str,
    version_id: str | None,
    region: str,
    configuration_id: str,
    event_time: datetime | None = None,
    principal: str = "strongroom-local",
) -> dict:
    """The notification S3 sends to Lambda for an ObjectCreated:Put (event version 2.1)."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag.strip('"')}
    if version_id and version_id != "null":
        obj["versionId"] = version_id
    # S3's sequencer is an opaque hex string that grows for later events on the same key.
    obj["sequencer"] = f"{time.time_ns():016X}{next(_sequence) % 0xFF:02X}"
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": _iso_ms(event_time or datetime.now(UTC)),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": principal},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": configuration_id,
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": principal},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }


def schedule_event(fn: FunctionSpec, ev: ScheduleEvent, region: str, when: datetime) -> dict:
    """What the scheduler delivers. EventBridge Scheduler (ScheduleV2) passes the target's
    Input through as the event, `{}` when there is none; an EventBridge rule (Schedule)
    sends its Input, or else the 'Scheduled Event' envelope."""
    if ev.input is not None:
        try:
            return json.loads(ev.input)
        except json.JSONDecodeError as e:
            raise TemplateError(f"{fn.logical_id}.{ev.name}: Input is not JSON: {e}") from None
    if ev.kind == "ScheduleV2":
        return {}
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT}:rule/{fn.logical_id}-{ev.name}"],
        "detail": {},
    }


# --- schedule expressions -------------------------------------------------------------------

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


def _cron_field(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The values one AWS cron field allows; None for * and ? (anything)."""
    if text in ("*", "?"):
        return None
    if any(c in text for c in "LW#"):
        raise TemplateError(f"cron field {text!r}: L, W and # are not supported by the local scheduler")
    allowed: set[int] = set()
    for part in text.split(","):
        rng, _, step = part.partition("/")
        num = lambda s: names[s.upper()] if names and s.upper() in names else int(s)
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            a, b = (num(x) for x in rng.split("-", 1))
        else:
            a = num(rng)
            b = hi if step else a
        allowed.update(range(a, b + 1, int(step) if step else 1))
    return allowed


@dataclass(frozen=True)
class Cron:
    minutes: set | None
    hours: set | None
    days: set | None
    months: set | None
    weekdays: set | None  # AWS numbering: 1 = Sunday
    years: set | None

    @classmethod
    def parse(cls, body: str) -> Cron:
        fields = body.split()
        if len(fields) != 6:
            raise TemplateError(f"cron({body}) needs six fields: minutes hours day-of-month month day-of-week year")
        return cls(
            _cron_field(fields[0], 0, 59),
            _cron_field(fields[1], 0, 23),
            _cron_field(fields[2], 1, 31),
            _cron_field(fields[3], 1, 12, _MONTHS),
            _cron_field(fields[4], 1, 7, _DAYS),
            _cron_field(fields[5], 1970, 2199),
        )

    def next_after(self, after: datetime) -> datetime:
        """The first minute strictly after `after` (UTC) that matches; jumps by whole
        years, months, days and hours when a coarser field doesn't match."""
        t = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        ok = lambda allowed, v: allowed is None or v in allowed  # noqa: E731
        for _ in range(200_000):
            if not ok(self.years, t.year):
                t = datetime(t.year + 1, 1, 1, tzinfo=UTC)
            elif not ok(self.months, t.month):
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not (ok(self.days, t.day) and ok(self.weekdays, (t.weekday() + 1) % 7 + 1)):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif not ok(self.hours, t.hour):
                t = t.replace(minute=0) + timedelta(hours=1)
            elif not ok(self.minutes, t.minute):
                t += timedelta(minutes=1)
            else:
                return t
        raise TemplateError("cron expression never fires")


def next_fire(expression: str, after: datetime) -> datetime | None:
    """When rate(...) or cron(...) next fires after `after`; None for at(...) in the past."""
    m = re.fullmatch(r"rate\(\s*(\d+)\s+(\w+)\s*\)", expression)
    if m:
        unit = m.group(2).lower()
        if unit not in _UNITS:
            raise TemplateError(f"{expression}: the unit must be minute(s), hour(s) or day(s)")
        return after + timedelta(seconds=int(m.group(1)) * _UNITS[unit])
    m = re.fullmatch(r"cron\((.*)\)", expression)
    if m:
        return Cron.parse(m.group(1)).next_after(after)
    m = re.fullmatch(r"at\((.*)\)", expression)
    if m:
        when = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC)
        return when if when > after else None
    raise TemplateError(f"schedule expression {expression!r}: expected rate(...), cron(...) or at(...)")


# --- the router ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiRoute:
    """One Api event: the signed API server looks requests up here and calls Router.invoke."""

    method: str
    path: str
    function: FunctionSpec
    event_name: str


class Router:
    """Polls S3 prefixes, fires schedules, and runs handlers in a small thread pool."""

    def __init__(
        self,
        template: Template,
        s3_client_factory: Callable[[], Any],
        *,
        region: str,
        workers: int = 2,
        poll_interval: float = 0.5,
        retry_base: float = 1.0,
        retry_max: float = 300.0,
    ):
        self.template = template
        self._s3_factory = s3_client_factory
        self.region = region
        self.poll_interval = poll_interval
        self.retry_base = retry_base
        self.retry_max = retry_max
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="handler")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._handlers: dict[str, Callable] = {}
        self._threads: list[threading.Thread] = []
        # S3 delivery state, keyed by (function, bucket, key).
        self._done: dict[tuple, str] = {}  # -> etag handled successfully
        self._inflight: set[tuple] = set()
        self._attempts: dict[tuple, int] = {}
        self._retry_at: dict[tuple, float] = {}
        self._list_failing = False
        # Timers (schedules and their retries): (monotonic due, seq, callable)
        self._timers: list[tuple[float, int, Callable[[], object]]] = []  # (when, tie-break, action)
        self._timer_wake = threading.Condition(self._lock)
        self._seq = itertools.count()

        self.s3_bindings = [(fn, ev) for fn in template.functions for ev in fn.events_of(S3Event)]
        self.schedules = [(fn, ev) for fn in template.functions for ev in fn.events_of(ScheduleEvent)]
        self.routes: list[ApiRoute] = [
            ApiRoute(ev.method, ev.path, fn, ev.name) for fn in template.functions for ev in fn.events_of(ApiEvent)
        ]

    # Handlers

    def handler(self, fn: FunctionSpec) -> Callable:
        """Import the template's Handler ("package.module.function") the first time it is needed."""
        if fn.handler not in self._handlers:
            module, _, attr = fn.handler.rpartition(".")
            try:
                self._handlers[fn.handler] = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as e:
                raise ImportError(
                    f"{fn.logical_id}: cannot import Handler {fn.handler!r} from template.yaml: {e}"
                ) from e
        return self._handlers[fn.handler]

    def invoke(self, fn: FunctionSpec, event: dict) -> Any:
        """Call fn's handler once, synchronously, with a fresh Lambda-like context."""
        context = LambdaContext(fn, self.region)
        started = time.monotonic()
        result = self.handler(fn)(event, context)
        log.info("%s finished in %.2fs (request %s)", fn.logical_id, time.monotonic() - started, context.aws_request_id)
        return result

    def route(self, method: str, path: str) -> ApiRoute | None:
        for r in self.routes:
            if r.path == path and r.method in (method.upper(), "ANY"):
                return r
        return None

    # Life cycle

    def start(self) -> None:
        for fn, ev in self.s3_bindings:
            log.info("routing s3://%s/%s*%s -> %s (%s)", ev.bucket, ev.prefix, ev.suffix, fn.logical_id, fn.handler)
        now = datetime.now(UTC)
        for fn, ev in self.schedules:
            if not ev.enabled:
                log.info("schedule %s.%s is disabled in the template", fn.logical_id, ev.name)
                continue
            self._schedule_next(fn, ev, now)
        for target, name in ((self._poll_loop, "s3-poller"), (self._timer_loop, "scheduler")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        with self._lock:
            self._timer_wake.notify_all()
        for t in self._threads:
            t.join(5)
        self._pool.shutdown(wait=wait, cancel_futures=True)

    # S3

    def _poll_loop(self) -> None:
        s3 = None
        while not self._stop.is_set():
            if self.s3_bindings:
                try:
                    s3 = s3 or self._s3_factory()
                    for fn, ev in self.s3_bindings:
                        self._poll_once(s3, fn, ev)
                    if self._list_failing:
                        log.info("S3 answers again; routing resumed")
                    self._list_failing = False
                except Exception as e:  # the server may be restarting: keep polling
                    if not self._list_failing:
                        log.warning("cannot list the buckets to route events (%s); will keep trying", e)
                    self._list_failing = True
                    s3 = None
            self._stop.wait(self.poll_interval if self.s3_bindings else 3600)

    def _poll_once(self, s3, fn: FunctionSpec, ev: S3Event) -> None:
        seen: set[tuple] = set()
        now = time.monotonic()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ev.bucket, Prefix=ev.prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if ev.suffix and not key.endswith(ev.suffix):
                    continue
                state = (fn.logical_id, ev.bucket, key)
                seen.add(state)
                etag = obj.get("ETag", "").strip('"')
                with self._lock:
                    if self._done.get(state) == etag or state in self._inflight or self._retry_at.get(state, 0) > now:
                        continue
                    self._inflight.add(state)
                self._pool.submit(self._deliver, s3, fn, ev, state, etag)
        with self._lock:  # forget keys that are gone, so memory stays bounded
            mine = lambda s: s[0] == fn.logical_id and s[1] == ev.bucket  # noqa: E731
            for table in (self._done, self._attempts, self._retry_at):
                for state in [s for s in table if mine(s) and s not in seen and s not in self._inflight]:
                    del table[state]

    def _deliver(self, s3, fn: FunctionSpec, ev: S3Event, state: tuple, etag: str) -> None:
        key = state[2]
        try:
            try:
                head = s3.head_object(Bucket=ev.bucket, Key=key)
            except Exception as e:
                if getattr(e, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return  # moved away meanwhile (e.g. by a previous delivery): nothing to do
                raise
            event = s3_event(
                bucket=ev.bucket,
                key=key,
                size=head.get("ContentLength", 0),
                etag=head.get("ETag", etag),
                version_id=head.get("VersionId"),
                region=self.region,
                configuration_id=f"{fn.logical_id}-{ev.name}",
                event_time=head.get("LastModified"),
            )
            log.info("%s <- s3://%s/%s", fn.logical_id, ev.bucket, key)
            self.invoke(fn, event)
        except Exception:
            with self._lock:
                n = self._attempts.get(state, 0) + 1
                self._attempts[state] = n
                delay = min(self.retry_base * 2 ** (n - 1), self.retry_max)
                self._retry_at[state] = time.monotonic() + delay
            log.error(
                "%s failed on s3://%s/%s (attempt %d); the object stays and is delivered again in %.0fs\n%s",
                fn.logical_id,
                ev.bucket,
                key,
                n,
                delay,
                traceback.format_exc(),
            )
        else:
            with self._lock:
                self._done[state] = etag
                self._attempts.pop(state, None)
                self._retry_at.pop(state, None)
        finally:
            with self._lock:
                self._inflight.discard(state)

    # Schedules

    def _at(self, delay_s: float, action: Callable[[], object]) -> None:
        with self._lock:
            heapq.heappush(self._timers, (time.monotonic() + delay_s, next(self._seq), action))
            self._timer_wake.notify_all()

    def _schedule_next(self, fn: FunctionSpec, ev: ScheduleEvent, after: datetime) -> None:
        when = next_fire(ev.expression, after)
        if when is None:
            return
        delay = max(0.0, (when - datetime.now(UTC)).total_seconds())
        log.info("schedule %s.%s (%s) next fires at %s", fn.logical_id, ev.name, ev.expression, _iso_ms(when))
        self._at(delay, lambda: self._fire(fn, ev, when))

    def _fire(self, fn: FunctionSpec, ev: ScheduleEvent, when: datetime) -> None:
        self._schedule_next(fn, ev, when)
        self._pool.submit(self._run_scheduled, fn, ev, when, 0)

    def _run_scheduled(self, fn: FunctionSpec, ev: ScheduleEvent, when: datetime, attempt: int) -> None:
        """Like Lambda's asynchronous invocation: up to two retries, then the run is given
        up (the next scheduled run comes anyway)."""
        try:
            log.info("%s <- schedule %s (%s)", fn.logical_id, ev.name, ev.expression)
            self.invoke(fn, schedule_event(fn, ev, self.region, when))
        except Exception:
            if attempt < 2:
                delay = min(60.0 * 2**attempt, self.retry_max)
                log.error(
                    "%s failed on schedule %s; retrying in %.0fs\n%s",
                    fn.logical_id,
                    ev.name,
                    delay,
                    traceback.format_exc(),
                )
                self._at(delay, lambda: self._pool.submit(self._run_scheduled, fn, ev, when, attempt + 1))
            else:
                log.error(
                    "%s failed on schedule %s three times; waiting for the next run\n%s",
                    fn.logical_id,
                    ev.name,
                    traceback.format_exc(),
                )

    def _timer_loop(self) -> None:
        while True:
            with self._lock:
                while not self._stop.is_set():
                    timeout = self._timers[0][0] - time.monotonic() if self._timers else None
                    if timeout is not None and timeout <= 0:
                        break
                    self._timer_wake.wait(timeout)
                if self._stop.is_set():
                    return
                _, _, action = heapq.heappop(self._timers)
            try:
                action()
            except Exception:
                log.error("scheduler: %s", traceback.format_exc())
