"""Tests of the process supervisor with real child processes."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from plugyard.host._supervisor import (
    PARENT_PID_ENV,
    ProcessInfo,
    ProcessSpec,
    ProcessState,
    RestartPolicy,
    Supervisor,
    SupervisorError,
)

pytestmark = pytest.mark.timeout(30)

CHILDREN = Path(__file__).parent / "supervisor_children"
PY = sys.executable
SLEEP = [PY, "-c", "import time; time.sleep(60)"]


class Recorder:
    """Stands in for the host's event publisher."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, topic: str, **data: Any) -> None:
        self.events.append((topic, data))

    def of(self, topic: str) -> list[dict[str, Any]]:
        return [data for seen, data in self.events if seen == topic]


@pytest.fixture
def events() -> Recorder:
    return Recorder()


@pytest.fixture
async def sup(events: Recorder) -> AsyncIterator[Supervisor]:
    supervisor = Supervisor(publish=events)
    yield supervisor
    await supervisor.stop_all(timeout=1.0)


def counted(tmp_path: Path, name: str, *steps: str, **options: Any) -> ProcessSpec:
    """A spec running counted.py with the given per-run steps."""
    argv = [PY, str(CHILDREN / "counted.py"), str(tmp_path / f"{name}.count"), *steps]
    return ProcessSpec(name=name, argv=argv, **options)


async def eventually(predicate: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie left to a non-reaping init counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def restarted(sup: Supervisor, name: str) -> Callable[[], bool]:
    return lambda: sup.get(name).restarts == 1


def reap(pid: int) -> tuple[int, int]:
    """Try to reap ``pid`` ourselves; raises ChildProcessError when it was already reaped."""
    return os.waitpid(pid, os.WNOHANG)


def has_line(sup: Supervisor, name: str, text: str) -> Callable[[], bool]:
    return lambda: any(text in line for line in sup.logs(name))


async def test_graceful_stop_is_not_a_crash(sup: Supervisor, events: Recorder) -> None:
    info = await sup.start(ProcessSpec(name="calm", argv=SLEEP))
    assert info.state is ProcessState.RUNNING
    assert info.pid is not None
    assert os.getsid(info.pid) == info.pid
    stopped = await sup.stop("calm")
    assert stopped.state is ProcessState.STOPPED
    assert (stopped.crashes, stopped.restarts, stopped.pid) == (0, 0, None)
    assert stopped.exit_code == -signal.SIGTERM
    assert events.of("process.calm.exited") == [
        {"pid": info.pid, "exit_code": -signal.SIGTERM, "expected": True}
    ]
    await asyncio.sleep(0.3)
    assert sup.get("calm").state is ProcessState.STOPPED
    assert len(events.of("process.calm.spawned")) == 1
    assert events.of("process.calm.backoff") == []
    assert gone(info.pid)


async def test_crash_once_is_restarted_with_backoff(
    sup: Supervisor, events: Recorder, tmp_path: Path
) -> None:
    first = await sup.start(counted(tmp_path, "once", "0:1", "run", backoff_initial=0.05))
    await eventually(lambda: sup.get("once").restarts == 1)
    info = await sup.wait("once", ProcessState.RUNNING, timeout=5)
    assert (info.restarts, info.crashes) == (1, 1)
    assert info.pid not in (None, first.pid)
    assert events.of("process.once.backoff") == [{"delay": 0.05}]
    assert events.of("process.once.exited") == [
        {"pid": first.pid, "exit_code": 1, "expected": False}
    ]
    assert [data["pid"] for data in events.of("process.once.spawned")] == [first.pid, info.pid]


async def test_crash_loop_is_flagged_flapping(
    sup: Supervisor, events: Recorder, tmp_path: Path
) -> None:
    spec = counted(
        tmp_path, "flappy", "0:3", backoff_initial=0.01, flap_attempts=3, flap_window=10.0
    )
    await sup.start(spec)
    info = await sup.wait("flappy", ProcessState.FLAPPING, timeout=8)
    assert (info.crashes, info.restarts, info.exit_code, info.pid) == (3, 2, 3, None)
    assert "3 crashes" in (info.reason or "")
    assert events.of("plugin.flappy.flapping") == [{"crashes": 3, "window": 10.0, "exit_code": 3}]
    assert [data["delay"] for data in events.of("process.flappy.backoff")] == [0.01, 0.02]
    await asyncio.sleep(0.4)
    assert len(events.of("process.flappy.spawned")) == 3
    assert sup.get("flappy").state is ProcessState.FLAPPING
    assert (tmp_path / "flappy.count").read_text() == "3"


async def test_backoff_is_capped_and_reset_after_a_long_run(
    sup: Supervisor, events: Recorder, tmp_path: Path
) -> None:
    spec = counted(
        tmp_path,
        "reset",
        *("0:1", "0:1", "0:1", "0.9:1", "run"),
        backoff_initial=0.02,
        backoff_factor=3.0,
        backoff_max=0.1,
        flap_attempts=10,
        flap_window=0.6,
    )
    await sup.start(spec)
    await eventually(lambda: sup.get("reset").restarts == 4, within=8)
    delays = [data["delay"] for data in events.of("process.reset.backoff")]
    assert delays == pytest.approx([0.02, 0.06, 0.1, 0.02])


async def test_policy_never_leaves_a_crash_alone(sup: Supervisor, events: Recorder) -> None:
    argv = [PY, "-c", "raise SystemExit(2)"]
    await sup.start(ProcessSpec(name="never", argv=argv, restart=RestartPolicy.NEVER))
    info = await sup.wait("never", timeout=5)
    assert (info.state, info.exit_code, info.crashes, info.restarts) == (
        ProcessState.EXITED,
        2,
        1,
        0,
    )
    assert events.of("process.never.backoff") == []


async def test_on_failure_does_not_restart_a_clean_exit(sup: Supervisor, events: Recorder) -> None:
    await sup.start(ProcessSpec(name="done", argv=[PY, "-c", "pass"]))
    info = await sup.wait("done", timeout=5)
    assert (info.state, info.exit_code, info.crashes, info.restarts) == (
        ProcessState.EXITED,
        0,
        0,
        0,
    )
    assert events.of("process.done.exited")[0]["expected"] is False
    await asyncio.sleep(0.2)
    assert len(events.of("process.done.spawned")) == 1


async def test_always_restarts_a_clean_exit(sup: Supervisor) -> None:
    spec = ProcessSpec(
        name="again",
        argv=[PY, "-c", "pass"],
        restart=RestartPolicy.ALWAYS,
        backoff_initial=0.01,
        flap_attempts=100,
    )
    await sup.start(spec)
    await eventually(lambda: sup.get("again").restarts >= 2)
    info = await sup.stop("again")
    assert info.state is ProcessState.STOPPED


async def test_sigterm_ignored_leads_to_sigkill_and_reaping(sup: Supervisor) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    code += "print('ready', flush=True); time.sleep(60)"
    info = await sup.start(ProcessSpec(name="stubborn", argv=[PY, "-c", code], stop_timeout=0.5))
    await eventually(has_line(sup, "stubborn", "ready"))
    assert info.pid is not None
    began = time.monotonic()
    stopped = await sup.stop("stubborn")
    assert time.monotonic() - began >= 0.45
    assert stopped.state is ProcessState.STOPPED
    assert stopped.exit_code == -signal.SIGKILL
    assert stopped.crashes == 0
    with pytest.raises(ChildProcessError):
        reap(info.pid)
    assert not psutil.pid_exists(info.pid)


async def test_stop_timeout_can_be_overridden(sup: Supervisor) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    code += "print('ready', flush=True); time.sleep(60)"
    await sup.start(ProcessSpec(name="stubborn", argv=[PY, "-c", code], stop_timeout=30))
    await eventually(has_line(sup, "stubborn", "ready"))
    began = time.monotonic()
    stopped = await sup.stop("stubborn", timeout=0.2)
    assert time.monotonic() - began < 3
    assert stopped.exit_code == -signal.SIGKILL


async def test_stop_kills_the_whole_process_group(sup: Supervisor) -> None:
    info = await sup.start(ProcessSpec(name="family", argv=[PY, str(CHILDREN / "grandparent.py")]))
    await eventually(has_line(sup, "family", "grandchild"))
    line = next(line for line in sup.logs("family") if "grandchild" in line)
    grandchild = int(line.split()[-1])
    assert psutil.Process(grandchild).ppid() == info.pid
    await sup.stop("family")
    await eventually(lambda: gone(grandchild), within=3)
    assert info.pid is not None
    assert gone(info.pid)


async def test_leader_exit_is_seen_while_its_group_holds_the_pipe(sup: Supervisor) -> None:
    argv = [PY, str(CHILDREN / "leaves_helper.py")]
    await sup.start(ProcessSpec(name="leaver", argv=argv, restart=RestartPolicy.NEVER))
    info = await sup.wait("leaver", timeout=5)
    assert (info.state, info.exit_code) == (ProcessState.EXITED, 1)
    helper = int(next(line for line in sup.logs("leaver") if "helper" in line).split()[-1])
    await eventually(lambda: gone(helper), within=3)


async def test_escaped_process_holding_the_pipe_does_not_hang(sup: Supervisor) -> None:
    argv = [PY, str(CHILDREN / "leaves_helper.py"), "--escape"]
    await sup.start(ProcessSpec(name="escaper", argv=argv, restart=RestartPolicy.NEVER))
    helper = 0
    try:
        info = await sup.wait("escaper", timeout=5)
        assert (info.state, info.exit_code) == (ProcessState.EXITED, 1)
        helper = int(next(line for line in sup.logs("escaper") if "helper" in line).split()[-1])
    finally:
        if helper and not gone(helper):
            os.kill(helper, signal.SIGKILL)


async def test_output_reaches_logger_and_ring_buffer(
    sup: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="plugyard.host.supervisor")
    code = (
        "import sys; print('hello out'); print('hello err', file=sys.stderr); "
        "sys.stdout.flush(); sys.stdout.buffer.write(b'bad \\xff byte\\n'); "
        "sys.stdout.write('x' * 200000 + '\\n'); sys.stdout.write('no newline')"
    )
    await sup.start(ProcessSpec(name="talker", argv=[PY, "-c", code], restart=RestartPolicy.NEVER))
    await sup.wait("talker", timeout=5)
    logs = sup.logs("talker")
    assert "stdout: hello out" in logs
    assert "stderr: hello err" in logs
    assert "stdout: bad \ufffd byte" in logs
    assert logs[-1] == "stdout: no newline"
    long = next(line for line in logs if line.startswith("stdout: xxx"))
    assert len(long) < 70000
    assert long.endswith("bytes truncated]")
    child = [r for r in caplog.records if getattr(r, "plugin", None) == "talker"]
    out = next(r for r in child if r.getMessage() == "[talker] hello out")
    err = next(r for r in child if r.getMessage() == "[talker] hello err")
    assert (out.levelno, getattr(out, "stream", None)) == (logging.INFO, "stdout")
    assert (err.levelno, getattr(err, "stream", None)) == (logging.WARNING, "stderr")


async def test_ring_buffer_is_bounded(sup: Supervisor) -> None:
    code = "for i in range(50): print(i)"
    spec = ProcessSpec(name="chatty", argv=[PY, "-c", code], log_lines=5)
    await sup.start(spec)
    await sup.wait("chatty", timeout=5)
    assert sup.logs("chatty") == [f"stdout: {i}" for i in range(45, 50)]


async def test_children_die_when_the_host_is_killed() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signal is Linux only")
    host = await asyncio.create_subprocess_exec(
        PY,
        str(CHILDREN / "host_with_children.py"),
        stdout=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    assert host.stdout is not None
    children: list[int] = []
    try:
        report = json.loads(await asyncio.wait_for(host.stdout.readline(), 10))
        children = report["children"]
        assert len(children) == 2
        assert all(not gone(pid) for pid in children)
        assert all(psutil.Process(pid).ppid() == host.pid for pid in children)
        host.kill()
        await host.wait()
        await eventually(lambda: all(gone(pid) for pid in children), within=3)
    finally:
        if host.returncode is None:
            host.kill()
            await host.wait()
        for pid in children:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


async def test_children_know_their_host(sup: Supervisor, tmp_path: Path) -> None:
    code = "import os; print(os.environ['PLUGYARD_PARENT_PID'], os.environ['EXTRA'], os.getcwd())"
    spec = ProcessSpec(name="env", argv=[PY, "-c", code], env={"EXTRA": "yes"}, cwd=str(tmp_path))
    await sup.start(spec)
    await sup.wait("env", timeout=5)
    assert PARENT_PID_ENV == "PLUGYARD_PARENT_PID"
    assert sup.logs("env") == [f"stdout: {os.getpid()} yes {tmp_path}"]


async def test_stop_during_backoff_cancels_the_restart(
    sup: Supervisor, events: Recorder, tmp_path: Path
) -> None:
    await sup.start(counted(tmp_path, "later", "0:1", backoff_initial=5.0))
    await sup.wait("later", ProcessState.BACKOFF, timeout=5)
    began = time.monotonic()
    info = await sup.stop("later")
    assert time.monotonic() - began < 1
    assert info.state is ProcessState.STOPPED
    assert "backoff" in (info.reason or "")
    await asyncio.sleep(0.3)
    assert len(events.of("process.later.spawned")) == 1
    assert (tmp_path / "later.count").read_text() == "1"


async def test_state_callbacks_see_every_transition(sup: Supervisor, tmp_path: Path) -> None:
    seen: list[ProcessInfo] = []
    unsubscribe = sup.on_state(seen.append)
    await sup.start(counted(tmp_path, "watched", "0:1", "run", backoff_initial=0.01))
    await eventually(lambda: sup.get("watched").restarts == 1)
    await sup.wait("watched", ProcessState.RUNNING, timeout=5)
    await sup.stop("watched")
    S = ProcessState
    assert [info.state for info in seen] == [
        S.STARTING,
        S.RUNNING,
        S.BACKOFF,
        S.STARTING,
        S.RUNNING,
        S.STOPPING,
        S.STOPPED,
    ]
    assert all(info.name == "watched" for info in seen)
    unsubscribe()
    await sup.restart("watched")
    assert len(seen) == 7


async def test_unknown_names_raise_key_error(sup: Supervisor) -> None:
    with pytest.raises(KeyError, match="ghost"):
        sup.get("ghost")
    with pytest.raises(KeyError, match="ghost"):
        await sup.stop("ghost")
    with pytest.raises(KeyError, match="ghost"):
        sup.logs("ghost")


async def test_start_restart_forget(sup: Supervisor) -> None:
    first = await sup.start(ProcessSpec(name="svc", argv=SLEEP))
    with pytest.raises(SupervisorError, match="already running"):
        await sup.start(ProcessSpec(name="svc", argv=SLEEP))
    with pytest.raises(SupervisorError, match="stop it first"):
        sup.forget("svc")
    second = await sup.restart("svc")
    assert second.state is ProcessState.RUNNING
    assert second.restarts == 1
    assert second.crashes == 0
    assert second.pid != first.pid
    assert first.pid is not None
    assert gone(first.pid)
    await sup.stop("svc")
    again = await sup.stop("svc")
    assert again.state is ProcessState.STOPPED
    assert [info.name for info in sup.list()] == ["svc"]
    sup.forget("svc")
    assert sup.list() == []
    third = await sup.start(ProcessSpec(name="svc", argv=SLEEP))
    assert third.state is ProcessState.RUNNING
    assert third.restarts == 0


async def test_stop_of_an_exited_process_returns_its_info(sup: Supervisor) -> None:
    await sup.start(ProcessSpec(name="brief", argv=[PY, "-c", "pass"]))
    exited = await sup.wait("brief", timeout=5)
    assert await sup.stop("brief") == exited


async def test_spawn_failure_is_raised(sup: Supervisor, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await sup.start(ProcessSpec(name="missing", argv=[str(tmp_path / "nope")]))
    info = sup.get("missing")
    assert info.state is ProcessState.EXITED
    assert (info.reason or "").startswith("spawn failed")


async def test_wait_times_out(sup: Supervisor) -> None:
    await sup.start(ProcessSpec(name="slow", argv=SLEEP))
    with pytest.raises(TimeoutError):
        await sup.wait("slow", ProcessState.STOPPED, timeout=0.1)
    info = await sup.wait("slow", ProcessState.RUNNING, timeout=0.1)
    assert info.state is ProcessState.RUNNING


async def test_failing_subscribers_do_not_break_supervision(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def async_publish(topic: str, **data: Any) -> None:
        raise RuntimeError("async publisher down")

    def publish(topic: str, **data: Any) -> None:
        raise RuntimeError("publisher down")

    def callback(info: ProcessInfo) -> None:
        raise RuntimeError("callback down")

    for publisher in (publish, async_publish):
        sup = Supervisor(publish=publisher)
        sup.on_state(callback)
        name = publisher.__name__
        try:
            await sup.start(counted(tmp_path, name, "0:1", "run", backoff_initial=0.01))
            await eventually(restarted(sup, name))
            assert (await sup.stop(name)).state is ProcessState.STOPPED
        finally:
            await sup.stop_all(timeout=1)
    await asyncio.sleep(0)
    messages = [r.getMessage() for r in caplog.records]
    assert any("publish process.publish.spawned failed" in m for m in messages)
    assert any("publish process.async_publish.spawned failed" in m for m in messages)
    assert any("state callback" in m for m in messages)


async def test_stop_all_stops_everything_concurrently(sup: Supervisor) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    code += "print('ready', flush=True); time.sleep(60)"
    for index in range(3):
        await sup.start(ProcessSpec(name=f"s{index}", argv=[PY, "-c", code], stop_timeout=0.5))
    for index in range(3):
        await eventually(has_line(sup, f"s{index}", "ready"))
    began = time.monotonic()
    await sup.stop_all()
    assert time.monotonic() - began < 1.5
    assert {info.state for info in sup.list()} == {ProcessState.STOPPED}


def test_spec_validation_and_info_dict() -> None:
    spec = ProcessSpec(name="x", argv=["a", "b"])
    assert spec.argv == ("a", "b")
    with pytest.raises(ValueError, match="argv"):
        ProcessSpec(name="x", argv="python")
    with pytest.raises(ValueError, match="name"):
        ProcessSpec(name="", argv=["a"])
    with pytest.raises(ValueError, match="flap_attempts"):
        ProcessSpec(name="x", argv=["a"], flap_attempts=0)
    info = ProcessInfo("x", ProcessState.RUNNING, 12, 1, 2, None, 3.5, "started by request")
    assert info.to_dict() == {
        "name": "x",
        "state": "running",
        "pid": 12,
        "restarts": 1,
        "crashes": 2,
        "exit_code": None,
        "started_at": 3.5,
        "reason": "started by request",
    }
    assert type(info.to_dict()["state"]) is str


async def test_a_child_without_the_host_environment_and_forgotten_after_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLUGYARD_POD__DATABASE_URL", "postgresql://secret")
    supervisor = Supervisor()
    spec = ProcessSpec(
        name="clean-env",
        argv=[
            sys.executable,
            "-c",
            "import os; print(sorted(k for k in os.environ if 'POD' in k))",
        ],
        env={"ONLY": "this"},
        restart=RestartPolicy.NEVER,
        inherit_env=False,
        forget_on_exit=True,
    )
    await supervisor.start(spec)
    info = await supervisor.wait("clean-env", timeout=10)
    assert info.exit_code == 0
    assert supervisor.logs("clean-env") == ["stdout: []"]
    deadline = time.monotonic() + 10
    while [p.name for p in supervisor.list()]:  # forgotten a moment after its exit
        assert time.monotonic() < deadline, "the exited process was never forgotten"
        await asyncio.sleep(0.05)


async def test_python_path_is_put_in_front_of_the_childs_pythonpath(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "only_here.py").write_text("WHERE = 'found'\n")
    monkeypatch.setenv("PYTHONPATH", "/already/there")
    supervisor = Supervisor(python_path=[str(tmp_path)])
    spec = ProcessSpec(
        name="importer",
        argv=[
            sys.executable,
            "-c",
            "import os, only_here; print(only_here.WHERE, os.environ['PYTHONPATH'])",
        ],
        restart=RestartPolicy.NEVER,
    )
    await supervisor.start(spec)
    info = await supervisor.wait("importer", timeout=10)
    assert info.exit_code == 0, supervisor.logs("importer")
    assert supervisor.logs("importer") == [f"stdout: found {tmp_path}{os.pathsep}/already/there"]


async def test_children_do_not_inherit_the_hosts_configuration_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLUGYARD_POD__DATABASE", "postgresql://user:secret@db/pods")
    monkeypatch.setenv("PLUGYARD_CONFIG", "/etc/plugyard.toml")
    monkeypatch.setenv("SHOP_SETTING", "kept")
    supervisor = Supervisor()
    spec = ProcessSpec(
        name="env-reader",
        argv=[
            sys.executable,
            "-c",
            "import os; print(sorted(k for k in os.environ if k.startswith(('PLUGYARD', 'SHOP'))))",
        ],
        env={"PLUGYARD_ZMQ__ENDPOINT": "ipc:///tmp/passed-on-purpose"},
        restart=RestartPolicy.NEVER,
    )
    await supervisor.start(spec)
    info = await supervisor.wait("env-reader", timeout=10)
    assert info.exit_code == 0, supervisor.logs("env-reader")
    [line] = supervisor.logs("env-reader")
    seen = set(ast.literal_eval(line.removeprefix("stdout: ")))
    assert {"PLUGYARD_CONFIG", "PLUGYARD_ZMQ__ENDPOINT", "SHOP_SETTING"} <= seen
    assert "PLUGYARD_POD__DATABASE" not in seen


async def test_a_child_inherits_pass_fds_and_its_lines_reach_on_output(sup: Supervisor) -> None:
    read, write = os.pipe()
    lines: list[tuple[str, str]] = []
    code = (
        f"import os, sys; os.write({write}, b'via fd'); print('hello'); print('x', file=sys.stderr)"
    )
    try:
        spec = ProcessSpec(
            "fds",
            [PY, "-c", code],
            restart=RestartPolicy.NEVER,
            pass_fds=(write,),
            on_output=lambda stream, line: lines.append((stream, line)),
        )
        await sup.start(spec)
        await sup.wait("fds", timeout=10)
        assert os.read(read, 100) == b"via fd"
    finally:
        os.close(read)
        os.close(write)
    assert ("stdout", "hello") in lines and ("stderr", "x") in lines
