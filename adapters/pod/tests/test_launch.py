"""Launching runs through a host: in process and as supervised subprocesses, with faults."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.pod import PodService
from plugyard.sdk.pod import BadRequest, HttpTransport, PodClient

pytestmark = pytest.mark.timeout(60)


def fields(name: str, **config: Any) -> dict[str, Any]:
    return {"plugin_module": "pod_fixtures", "plugin_name": name, "config": config}


async def until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("launcher", ["inprocess", "process"])
async def test_a_run_reaches_done_and_its_events_are_published(host: Any, launcher: str) -> None:
    pod = PodService.of(host)
    run = await pod.launch(fields("Writer", count=3, tag=launcher), launcher)
    final = await pod.wait(run["id"], 20)
    assert (final["status"], final["exit_code"], final["launcher"]) == ("done", 0, launcher)
    notes = pod.client().search({"type": "Note"})
    assert sorted(n.text for n in notes) == [f"{launcher}-{n}" for n in range(3)]
    rid = run["id"]
    statuses = [
        t.rsplit(".", 1)[1] for t in host.recorder.topics if t.startswith(f"pod.run.{rid}.")
    ]
    assert statuses == ["created", "initialized", "started", "done"]
    assert len(host.recorder.matching("pod.item.Note.created")) == 3


async def test_process_runs_get_the_pod_url_and_a_run_token_only(host: Any) -> None:
    pod = PodService.of(host)
    run = await pod.launch(fields("Hang", seconds=30), "process")
    await until(lambda: pod.client().get_run(run["id"]).status == "started")
    pid = host.processes.get(f"pod-run-{run['id']}").pid
    environ = (await asyncio.to_thread(Path(f"/proc/{pid}/environ").read_bytes)).split(b"\0")
    env = dict(e.decode().split("=", 1) for e in environ if b"=" in e)
    assert env["PLUGYARD_POD_RUN_ID"] == run["id"]
    assert env["PLUGYARD_POD_URL"] == host.advertised["pod_url"]
    assert env["PLUGYARD_POD_TOKEN"] != pod.pod.owner_token
    assert not any("sqlite" in value or "postgresql" in value for value in env.values())
    await pod.runs.abort(run["id"])


async def test_the_plugin_raises(host: Any) -> None:
    pod = PodService.of(host)
    run = await pod.launch(fields("Boom"), "process")
    final = await pod.wait(run["id"], 20)
    assert (final["status"], final["exit_code"]) == ("error", 1)
    assert "RuntimeError: the plugin broke on purpose" in final["error"]
    assert "Traceback" in final["traceback"]
    assert any("the plugin broke on purpose" in line for line in pod.runs.logs(run["id"]))
    # the supervisor forgets the ended child; the run's output stays with the run manager
    name = f"pod-run-{run['id']}"
    await until(lambda: name not in [p.name for p in host.processes.list()], timeout=10)
    assert any("the plugin broke on purpose" in line for line in pod.runs.logs(run["id"]))


async def test_the_plugin_process_is_killed(host: Any) -> None:
    pod = PodService.of(host)
    run = await pod.launch(fields("Hang", seconds=30), "process")
    await until(lambda: pod.client().get_run(run["id"]).status == "started")
    os.kill(host.processes.get(f"pod-run-{run['id']}").pid, signal.SIGKILL)
    final = await pod.wait(run["id"], 20)
    assert final["status"] == "error" and final["exit_code"] == -9
    assert "exited (code -9) before reaching done; it was started" in final["error"]


async def test_a_hanging_run_times_out(host: Any) -> None:
    pod = PodService.of(host)
    run = await pod.launch({**fields("Hang", seconds=30), "timeout": 1.0}, "process")
    final = await pod.wait(run["id"], 20)
    assert final["status"] == "error" and final["error"] == "the run timed out after 1s"
    assert final["exit_code"] is not None


async def test_abort_tells_the_plugin_then_stops_it(host: Any, tmp_path: Path) -> None:
    pod = PodService.of(host)
    marker = tmp_path / "told"
    run = await pod.launch(fields("Hang", marker=str(marker), seconds=30), "process")
    await until(lambda: pod.client().get_run(run["id"]).progress == 0.5)
    aborted = await pod.runs.abort(run["id"])
    assert aborted["status"] == "aborted" and aborted["exit_code"] == 3
    assert marker.exists(), pod.runs.logs(run["id"])
    assert marker.read_text() == "told"
    with pytest.raises(BadRequest, match="already ended: aborted"):
        await pod.runs.abort(run["id"])


@pytest.mark.parametrize("launcher", ["inprocess", "process"])
async def test_a_daemon_run_stays_up_until_it_is_aborted(host: Any, launcher: str) -> None:
    run = await PodService.of(host).launch(fields("Sentinel"), launcher)
    await until(lambda: PodService.of(host).client().get_run(run["id"]).status == "daemon")
    assert run["id"] in PodService.of(host).runs.active
    aborted = await PodService.of(host).runs.abort(run["id"])
    assert aborted["status"] == "aborted"
    final = await PodService.of(host).wait(run["id"], 20)
    assert final["status"] == "aborted"
    assert final["exit_code"] == 3  # the runner's "aborted", from the process or the thread
    rid = run["id"]
    statuses = [
        t.rsplit(".", 1)[1] for t in host.recorder.topics if t.startswith(f"pod.run.{rid}.")
    ]
    assert statuses == ["created", "initialized", "started", "daemon", "aborted"]
    assert [n.text for n in PodService.of(host).client().search({"type": "Note"})] == ["on watch"]


async def test_two_plugin_processes_writing_at_once_lose_nothing(host: Any) -> None:
    pod = PodService.of(host)
    runs = [await pod.launch(fields("Writer", count=150, tag=tag), "process") for tag in "ab"]
    finals = [await pod.wait(run["id"], 40) for run in runs]
    assert [f["status"] for f in finals] == ["done", "done"]
    texts = {n.text for n in pod.client().search({"type": "Note"})}
    assert len(texts) == 300 and {f"a-{n}" for n in range(150)} <= texts


async def test_the_api_serves_standalone_and_refuses_revoked_tokens(host: Any) -> None:
    pod = PodService.of(host)
    url = await pod.url()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/pod/v1")
    token_file = Path(host.advertised["pod_owner_token_file"])
    owner = PodClient(url, token=await asyncio.to_thread(token_file.read_text))
    run, token = await asyncio.to_thread(owner.create_run, **fields("Writer"))
    client = PodClient(url, token=token)
    assert (await asyncio.to_thread(client.get_run, str(run.id))).status == "created"
    await asyncio.to_thread(client.update_run, str(run.id), status="aborted")
    from plugyard.sdk.pod import Unauthorized

    with pytest.raises(Unauthorized):
        await asyncio.to_thread(client.get_run, str(run.id))
    assert oct(pod.token_file.stat().st_mode & 0o777) == "0o600"
    await asyncio.to_thread(HttpTransport(url).close)


async def test_unknown_launchers_and_relaunches_are_refused(host: Any) -> None:
    pod = PodService.of(host)
    with pytest.raises(
        BadRequest, match=r"unknown launcher 'ssh' \(available: celery, docker, inprocess"
    ):
        await pod.launch(fields("Writer"), "ssh")
    run = await pod.launch(fields("Writer", count=1), "inprocess")
    await pod.wait(run["id"], 10)
    with pytest.raises(BadRequest, match="only a created run launches"):
        await pod.runs.launch(run["id"], "inprocess")


async def test_commands(host: Any) -> None:
    pod = PodService.of(host)
    reply = await host.run_command(
        "pod.launch",
        plugin_module="pod_fixtures",
        plugin_name="Writer",
        config={"count": 1},
        launcher="inprocess",
    )
    await pod.wait(reply["run"]["id"], 10)
    shown = await host.run_command("pod.run", run_id=reply["run"]["id"])
    assert shown["run"]["status"] == "done"
