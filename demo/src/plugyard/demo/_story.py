"""The demo's story: one host, the five example plugins, six steps that are checked, not
assumed, and a summary of what each model did."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from plugyard.adapters.asyncio import AsyncioService
from plugyard.adapters.celery import CeleryService
from plugyard.adapters.lifecycle import LifecycleService
from plugyard.adapters.pod import PodService
from plugyard.host import Config, Host
from plugyard.sdk import Event
from plugyard.sdk.events import MonitoringPoint

from ._setup import EXAMPLES, Layout, Sink, demo_config, free_port, write_toml

__all__ = ["FIBONACCI_26", "Demo", "ModelReport", "Step", "StepFailed"]

FIBONACCI_26 = 121393
TASK = "gwexample.analyses.tasks.fibonacci"
DEPLOYMENT = "web"
DOG = "Alice"
_LOGGED_SEQ = re.compile(r"::\{'seq': (\d+),")


class StepFailed(Exception):
    """A step did not happen; the message says what was missing."""


@dataclass
class Step:
    """One step of the story, as the summary reports it."""

    number: int
    title: str
    status: str = "pending"
    reason: str = ""
    seconds: float = 0.0


@dataclass
class ModelReport:
    """One model's line in the summary table."""

    model: str
    plugin: str
    did: list[str] = field(default_factory=list)
    state: str = "-"
    seconds: float = 0.0


class Demo:
    """Runs the story on a host of its own, stored in ``layout.folder``.

    ``out`` receives every line meant for the user. :meth:`run` returns whether every step
    happened; the host is stopped however the story ends.
    """

    def __init__(
        self,
        layout: Layout,
        examples: Path,
        *,
        web_port: int | None = None,
        timeout: float = 60.0,
        keep_running: bool = False,
        out: Callable[[str], None] = print,
    ) -> None:
        self.layout = layout
        self.examples = examples
        self.web_port = web_port
        self.timeout = timeout
        self.keep_running = keep_running
        self.out = out
        self.host: Host | None = None
        self.sink = Sink()
        self.seen: list[Event] = []
        self.steps: list[Step] = []
        self.models = {
            "lifecycle": ModelReport("lifecycle", f"lifecycle.{DEPLOYMENT} (python_webserver)"),
            "zmq": ModelReport("zmq", "logger (zmq_event_logger:Logger)"),
            "asyncio": ModelReport("asyncio", "request_monitoring, event_sending, teapot"),
            "celery": ModelReport("celery", "gwexample (GWExamplePlugin)"),
            "pod": ModelReport("pod", "pod_dog_plugin:ExamplePlugin"),
        }
        self.web_url = ""
        self.http_url = ""
        self.installed = False
        self.started_at = 0.0

    # -- the story --------------------------------------------------------------------------

    async def run(self) -> bool:
        """Start the host, tell the story, tear down, stop; True if every step happened."""
        self.started_at = time.perf_counter()
        self.sink.start()
        try:
            if await self._start_host():
                story = [
                    ("lifecycle install deploys the web server", self.install),
                    ("host events reach the ZMQ logger and async plugins", self.relay),
                    (f"a Celery task computes fibonacci(26) = {FIBONACCI_26}", self.task),
                    (f"the pod plugin runs as a subprocess, stores Dog {DOG!r}", self.pod),
                    ("the teapot answers 418, the web server page 200", self.http),
                ]
                for number, (title, action) in enumerate(story, start=1):
                    await self._step(number, title, action)
                if self.keep_running:
                    await self._hold()
            await self._step(
                6, "uninstall tears the web server down, the host stops", self.teardown
            )
        finally:
            if self.host is not None and self.host.running:
                await self.host.stop()
            self.sink.stop()
        self._summary()
        return all(step.status == "ok" for step in self.steps) and len(self.steps) == 6

    async def _start_host(self) -> bool:
        layout = self.layout
        config = demo_config(layout, self.examples, self.sink.url)
        write_toml(layout.config, config)
        self.out(f"plugyard demo: everything goes to {layout.folder}")
        began = time.perf_counter()
        try:
            host = self.host = Host(Config.from_file(layout.config))
            host.subscribe("*", self._observe, name="plugyard-demo")
            await host.start()
        except Exception as exc:
            self.steps.append(Step(0, "start the host", "failed", _reason(exc)))
            self.out(f"  x the host did not start: {_reason(exc)}")
            return False
        self.http_url = str(host.advertised.get("http_url", "")).rstrip("/")
        started = [r.name for r in host.plugins if r.state == "started"]
        self.out(
            f"host {host.name!r} started in {time.perf_counter() - began:.2f} s with "
            f"{len(started)} plugins (pid {os.getpid()}, HTTP {self.http_url or 'off'})"
        )
        for record in host.plugins:
            if record.state == "failed":
                self.out(f"  ! {record.name} ({record.model}) failed: {_first_line(record.error)}")
        return True

    def _observe(self, event: Event) -> None:
        """Keep every event; hand each non-``events.*`` one to the monitoring plugins.

        This is what an application embedding the host does: it turns what happens into its
        own declared events (``monitoring_event``), which the asyncio plugins receive.
        """
        self.seen.append(event)
        host = self.host
        if host is None or event.topic.startswith("events.") or not host.running:
            return
        point = MonitoringPoint(
            event.id,
            event.time,
            tags={"topic": event.topic, "source": event.source},
            fields={"seq": event.seq},
        )
        try:
            AsyncioService.of(host).emit("monitoring_event", points=[point])
        except Exception as exc:  # the event type is missing when the asyncio adapter failed
            self.out(f"  ! monitoring_event for #{event.seq} not emitted: {exc}")

    async def install(self) -> str:
        """Step 1: ``install`` on the web server blueprint, progress printed as it happens."""
        host = self._host()
        report = self.models["lifecycle"]
        port = self.web_port or free_port()
        blueprint = self.examples / EXAMPLES["lifecycle"] / "blueprint" / "blueprint.yaml"
        unsubscribe = host.subscribe(f"operation.{DEPLOYMENT}.*", self._progress)
        began = time.perf_counter()
        try:
            await LifecycleService.of(host).open(DEPLOYMENT, blueprint, {"port": port})
            result = await asyncio.wait_for(
                LifecycleService.of(host).run(DEPLOYMENT, "install"), self.timeout
            )
        finally:
            unsubscribe()
        report.seconds += time.perf_counter() - began
        if result.get("status") != "succeeded":
            raise StepFailed(f"install ended {result.get('status')!r}: {result}")
        env = LifecycleService.of(host).envs[DEPLOYMENT]
        outputs = await asyncio.to_thread(env.outputs)
        self.web_url = str(outputs.get("url") or f"http://127.0.0.1:{port}/")
        if not outputs.get("webserver_root"):
            raise StepFailed("install succeeded but the node has no webserver_root property")
        self.installed = True
        report.state = self._state(LifecycleService.of(host).record_name(DEPLOYMENT))
        report.did.append(f"install: {_ops(result)}, serving {self.web_url}")
        return f"installed in {result.get('duration', 0):.2f} s, serving {self.web_url}"

    def _progress(self, event: Event) -> None:
        data = event.data
        where = f"{data.get('node_instance_id', '-')} {data.get('operation', '-')}"
        if event.topic.endswith(".log"):
            self.out(f"      {where}: {data.get('message')}")
        elif "state" in data:
            took = f" in {data['duration']:.2f} s" if "duration" in data else ""
            self.out(f"      {where}: {data['state']}{took}")

    async def relay(self) -> str:
        """Step 2: the install's events reached the logger's file and the monitoring sink."""
        host = self._host()
        events = [e for e in self.seen if e.topic.startswith(_lifecycle_prefixes())]
        if not events:
            raise StepFailed("the install published no workflow or operation events")
        await self._delivered(events, "the install's")
        handle = host.registry.handle("logger")
        process = (handle.describe() if handle is not None else {}).get("process") or {}
        pid = process.get("pid")
        if not isinstance(pid, int) or pid == os.getpid():
            raise StepFailed(f"the ZMQ logger is not running in a process of its own: {process}")
        self.models["zmq"].state = self._state("logger")
        self.models["asyncio"].state = self._state("request_monitoring_plugin_example")
        return (
            f"{len(events)} events: written to {self.layout.event_log.name} by the logger "
            f"(pid {pid}) and posted by the monitoring plugin"
        )

    async def task(self) -> str:
        """Step 3: fibonacci(26) on the embedded worker; its status events flow the same way."""
        host = self._host()
        report = self.models["celery"]
        self._require_started("gwexample")
        if TASK not in CeleryService.of(host).registered():
            raise StepFailed(f"{TASK} is not registered with the worker")
        began = time.perf_counter()
        result = CeleryService.of(host).send(TASK, 26)
        try:
            value = await asyncio.to_thread(result.get, timeout=self.timeout)
        except Exception as exc:
            raise StepFailed(f"task {result.id} failed: {_reason(exc)}") from exc
        took = time.perf_counter() - began
        report.seconds += took
        if value != FIBONACCI_26:
            raise StepFailed(f"fibonacci(26) returned {value!r}, expected {FIBONACCI_26}")
        wanted = {"queued", "running", "success"}
        events = await self._wait_for(
            lambda: [
                e
                for e in self.seen
                if e.topic.startswith(f"task.{TASK}.") and e.data.get("id") == result.id
            ],
            lambda found: wanted <= {e.topic.rsplit(".", 1)[1].lower() for e in found},
            f"task {result.id}'s status events ({', '.join(sorted(wanted))})",
        )
        status = CeleryService.of(host).status(result.id)
        if str(status.get("status", "")).lower() != "success":
            raise StepFailed(f"CeleryService.of(host).status({result.id!r}) says {status}")
        await self._delivered(events, "the task's")
        statuses = " -> ".join(e.topic.rsplit(".", 1)[1] for e in events)
        report.state = self._state("gwexample")
        report.did.append(f"fibonacci(26) = {value} in {took:.2f} s ({statuses})")
        return f"= {value} in {took:.2f} s; {len(events)} status events relayed ({statuses})"

    async def pod(self) -> str:
        """Step 4: a PluginRun launched as a process stores a Dog; its item event goes on."""
        host = self._host()
        report = self.models["pod"]
        began = time.perf_counter()
        unsubscribe = host.subscribe("pod.item.Dog.created", self._forward_item)
        try:
            run = await PodService.of(host).launch(
                {
                    "plugin_module": "pod_dog_plugin",
                    "plugin_name": "ExamplePlugin",
                    "config": json.dumps({"dog_name": DOG}),
                },
                launcher="process",
            )
            run_id = str(run["id"])
            final = await PodService.of(host).wait(run_id, self.timeout)
            if final.get("status") != "done":
                detail = final.get("error") or final.get("message") or ""
                raise StepFailed(
                    f"run {run_id} ended {final.get('status')!r} (exit code "
                    f"{final.get('exit_code')}): {detail}; see plugyard pod logs {run_id}"
                )
            dogs = await asyncio.to_thread(
                PodService.of(host).client().search, {"type": "Dog", "name": DOG}
            )
            if not dogs:
                raise StepFailed(f"run {run_id} is done but the pod holds no Dog named {DOG!r}")
            events = await self._wait_for(
                lambda: [e for e in self.seen if e.data.get("run_id") == run_id],
                lambda found: (
                    any(e.topic == "pod.item.Dog.created" for e in found)
                    and any(e.topic == f"pod.run.{run_id}.done" for e in found)
                ),
                f"run {run_id}'s item and status events",
            )
            await self._delivered(events, "the run's")
            await self._wait_for(
                lambda: [
                    o for o in self.sink.received("events") if o.get("Luna-Request-Id") == run_id
                ],
                bool,
                "the Dog's sending_event at the event-sending plugin's bucket",
            )
        finally:
            unsubscribe()
        took = time.perf_counter() - began
        report.seconds += took
        report.state = f"run {final.get('status')}, exit {final.get('exit_code')}"
        report.did.append(f"run {run_id[:8]} as a process stored Dog {DOG!r} ({dogs[0].id})")
        self.models["asyncio"].did.append("event_sending: the Dog's item event sent on")
        return f"run {run_id[:8]} done in {took:.2f} s; Dog {DOG!r} stored as {dogs[0].id}"

    def _forward_item(self, event: Event) -> None:
        """The application tells the event-sending plugin about the items a run created."""
        host = self._host()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(event.time))
        AsyncioService.of(host).emit(
            "sending_event",
            events=[{"event_id": event.id, "item_type": event.data.get("type"), **event.data}],
            handler_id="pod",
            account_id="plugyard-demo",
            request_id=str(event.data.get("run_id")),
            create_event_time=now,
            end_event_time=now,
        )

    async def http(self) -> str:
        """Step 5: real HTTP requests to the teapot route and to the web server."""
        if not self.http_url:
            raise StepFailed("the host serves no HTTP (the asyncio adapter advertised no http_url)")
        began = time.perf_counter()
        async with httpx.AsyncClient(timeout=5.0) as client:
            teapot = await client.get(f"{self.http_url}/teapot")
            if (teapot.status_code, teapot.text) != (418, "I am teapot"):
                raise StepFailed(f"GET /teapot answered {teapot.status_code} {teapot.text[:80]!r}")
            if not self.installed:
                raise StepFailed("teapot 418, but the web server was never installed (step 1)")
            page = await client.get(self.web_url)
            if page.status_code != 200:
                raise StepFailed(f"GET {self.web_url} answered {page.status_code}")
        self.models["asyncio"].did.append(f"teapot: GET {self.http_url}/teapot -> 418")
        self.models["asyncio"].seconds += time.perf_counter() - began
        self.models["lifecycle"].did.append(f"page: GET {self.web_url} -> 200")
        return f"GET /teapot -> 418 {teapot.text!r}; GET {self.web_url} -> 200"

    async def teardown(self) -> str:
        """Step 6: ``uninstall``, then stop the host and check that everything stopped."""
        host = self.host
        if host is None:
            raise StepFailed("no host to stop")
        notes = []
        failures = []
        if self.installed:
            began = time.perf_counter()
            result = await asyncio.wait_for(
                LifecycleService.of(host).run(DEPLOYMENT, "uninstall"), self.timeout
            )
            self.models["lifecycle"].seconds += time.perf_counter() - began
            port = int(self.web_url.rsplit(":", 1)[1].strip("/"))
            if result.get("status") != "succeeded":
                failures.append(f"uninstall ended {result.get('status')!r}")
            elif not await _closed(port, 5.0):
                failures.append(f"the web server still answers on port {port} after uninstall")
            else:
                notes.append(f"uninstalled ({_ops(result)})")
                self.models["lifecycle"].did.append("uninstall: server stopped, port closed")
        else:
            failures.append("nothing to uninstall: install did not happen")
        logger_pid = self._logger_pid()
        before = {r.name: str(r.state) for r in host.plugins}
        began = time.perf_counter()
        await host.stop()
        stopped_in = time.perf_counter() - began
        after = {r.name: str(r.state) for r in host.plugins}
        ended = ("stopped", "loaded", "disabled")
        bad = {
            n: s
            for n, s in after.items()
            if s not in ended and not (s == "failed" and before.get(n) == "failed")
        }
        if bad:
            failures.append(f"plugins not stopped: {bad}")
        if logger_pid is not None and _alive(logger_pid):
            failures.append(f"the ZMQ logger process {logger_pid} is still alive")
        for model, report in self.models.items():
            names = _plugins_of(model, before)
            if names and report.state != "-" and not report.state.startswith("run "):
                report.state = f"{report.state} -> {after.get(names[0], '?')}"
        if failures:
            raise StepFailed("; ".join(failures))
        count = sum(1 for state in after.values() if state == "stopped")
        notes.append(f"host stopped in {stopped_in:.2f} s, {count} plugins stopped")
        return ", ".join(notes)

    async def _hold(self) -> None:
        """``--keep-running``: leave the host up until Ctrl-C or SIGTERM."""
        config = self.layout.config
        lines = [
            "",
            "The host keeps running. In another terminal try:",
            f"  export PLUGYARD_CONFIG={config}",
            "  plugyard call plugins          # live plugin states, over the ZMQ command socket",
            "  plugyard events                # host events as they happen",
            "  plugyard plugins               # what this configuration loads",
            f"  curl -i {self.http_url}/teapot",
            f"  curl {self.web_url}",
        ]
        console = self._host().advertised.get("console_url")
        if console:
            token_file = self._host().advertised.get("console_token_file")
            lines.append(
                f"  open {console}    # the dashboard (actions need the token in {token_file})"
            )
        lines.append("Press Ctrl-C to tear down and stop.")
        for line in lines:
            self.out(line)
        await self._host().wait_for_stop()
        self.out("")

    # -- helpers ----------------------------------------------------------------------------

    def _host(self) -> Host:
        if self.host is None or not self.host.running:
            raise StepFailed("the host is not running")
        return self.host

    def _state(self, name: str) -> str:
        host = self._host()
        return str(host.registry.get(name).state) if name in host.registry else "missing"

    def _require_started(self, name: str) -> None:
        host = self._host()
        if name not in host.registry:
            raise StepFailed(f"plugin {name!r} was not loaded")
        record = host.registry.get(name)
        if record.state != "started":
            raise StepFailed(f"plugin {name!r} is {record.state}: {_first_line(record.error)}")

    def _logger_pid(self) -> int | None:
        try:
            pid = self._host().processes.get("logger").to_dict().get("pid")
        except (KeyError, StepFailed):
            return None
        return pid if isinstance(pid, int) else None

    async def _step(self, number: int, title: str, action: Callable[[], Any]) -> None:
        step = Step(number, title)
        self.steps.append(step)
        self.out(f"[{number}/6] {title}")
        self._announce(step)
        began = time.perf_counter()
        try:
            said = await action()
        except StepFailed as exc:
            step.status, step.reason = "failed", str(exc)
        except Exception as exc:
            step.status, step.reason = "failed", _reason(exc)
        else:
            step.status = "ok"
            self.out(f"  ok  {said}")
        step.seconds = time.perf_counter() - began
        self._announce(step)
        if step.status == "failed":
            self.out(f"  FAILED  step {number} ({title}): {step.reason}")

    def _announce(self, step: Step) -> None:
        """Each step is a host event too: ``demo.step.N.started``, then ``.ok`` or ``.failed``."""
        host = self.host
        if host is None or not host.running:
            return
        status = "started" if step.status == "pending" else step.status
        host.publish_event(
            f"demo.step.{step.number}.{status}",
            {
                "step": step.number,
                "title": step.title,
                **(
                    {"seconds": round(step.seconds, 3), "reason": step.reason}
                    if status != "started"
                    else {}
                ),
            },
            source="demo",
        )

    async def _wait_for(
        self,
        collect: Callable[[], list[Any]],
        done: Callable[[list[Any]], bool],
        what: str,
    ) -> list[Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            found = collect()
            if done(found):
                return found
            if time.monotonic() > deadline:
                raise StepFailed(f"timed out after {self.timeout:g} s waiting for {what}")
            await asyncio.sleep(0.05)

    def _logged_seqs(self) -> set[int]:
        try:
            text = self.layout.event_log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return set()
        return {int(seq) for seq in _LOGGED_SEQ.findall(text)}

    def _monitored_seqs(self) -> set[int]:
        seqs = set()
        for body in self.sink.received("monitoring"):
            seq = (body.get("fields") or {}).get("seq") if isinstance(body, dict) else None
            if isinstance(seq, int):
                seqs.add(seq)
        return seqs

    async def _delivered(self, events: Iterable[Event], whose: str) -> None:
        """Wait until every event is in the logger's file and at the monitoring bucket."""
        wanted = {e.seq: e.topic for e in events}
        deadline = time.monotonic() + self.timeout
        while True:
            logged = set(wanted) - self._logged_seqs()
            monitored = set(wanted) - self._monitored_seqs()
            if not logged and not monitored:
                return
            if time.monotonic() > deadline:
                problems = []
                if logged:
                    first = wanted[min(logged)]
                    problems.append(
                        f"{len(logged)} of {len(wanted)} of {whose} events never reached the "
                        f"ZMQ logger's file {self.layout.event_log} (first: #{min(logged)} "
                        f"{first})"
                    )
                if monitored:
                    first = wanted[min(monitored)]
                    problems.append(
                        f"{len(monitored)} of {len(wanted)} never reached the monitoring "
                        f"plugin's bucket (first: #{min(monitored)} {first})"
                    )
                raise StepFailed("; ".join(problems))
            await asyncio.sleep(0.05)

    # -- the summary ------------------------------------------------------------------------

    def _summary(self) -> None:
        total = time.perf_counter() - self.started_at
        logged = len(self._logged_seqs())
        monitored = len(self._monitored_seqs())
        self.models["zmq"].did.append(f"wrote {logged} host events to {self.layout.event_log}")
        self.models["asyncio"].did.insert(0, f"monitoring: {monitored} points posted")
        rows = [("MODEL", "PLUGIN", "STATE", "TIME", "WHAT IT DID")]
        for report in self.models.values():
            did = report.did or ["-"]
            seconds = f"{report.seconds:.2f} s" if report.seconds else "-"
            rows.append((report.model, report.plugin, report.state, seconds, did[0]))
            rows += [("", "", "", "", more) for more in did[1:]]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        self.out("")
        for row in rows:
            self.out(
                "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
            )
        self.out("")
        passed = sum(step.status == "ok" for step in self.steps)
        self.out(f"steps: {passed} of 6 happened in {total:.1f} s")
        for step in self.steps:
            if step.status != "ok":
                self.out(f"  step {step.number} ({step.title}): {step.reason}")
        self.out(f"configuration: {self.layout.config}")
        self.out(f"host log:      {self.layout.host_log}")
        self.out(f"event log:     {self.layout.event_log} (the ZMQ logger's file)")
        self.out(f"summary:       {self.layout.summary}")
        summary = {
            "ok": passed == 6 and len(self.steps) == 6,
            "seconds": round(total, 3),
            "folder": str(self.layout.folder),
            "steps": [asdict(step) for step in self.steps],
            "models": [asdict(report) for report in self.models.values()],
            "events": len(self.seen),
            "logged": logged,
            "monitored": monitored,
        }
        self.layout.summary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def _lifecycle_prefixes() -> tuple[str, ...]:
    return (f"workflow.{DEPLOYMENT}.install.", f"operation.{DEPLOYMENT}.")


def _plugins_of(model: str, states: dict[str, str]) -> list[str]:
    names = {
        "lifecycle": [f"lifecycle.{DEPLOYMENT}"],
        "zmq": ["logger"],
        "asyncio": ["request_monitoring_plugin_example"],
        "celery": ["gwexample"],
        "pod": [],
    }[model]
    return [n for n in names if n in states]


def _ops(result: dict[str, Any]) -> str:
    parts = [f"{result.get('succeeded', 0)} operation(s) succeeded"]
    parts += [f"{result[k]} {k}" for k in ("retried", "skipped", "failed") if result.get(k)]
    return ", ".join(parts)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {_first_line(text)}"


def _first_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if len(lines) > 1 and lines[0].startswith("Traceback") else (lines or [""])[0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _closed(port: int, seconds: float) -> bool:
    """Whether nothing accepts connections on ``port`` any more (waits up to ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except OSError:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
