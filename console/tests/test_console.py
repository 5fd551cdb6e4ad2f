"""The console over HTTP, against a live host of every model: pages, the event stream
and its resumption, and actions that need the token."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _console_helpers import COUNTDOWN, ONE_OF_EACH, Console

pytestmark = pytest.mark.timeout(120)


def get(console: Console, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(console.url + path, timeout=10, **kwargs)


def post(console: Console, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(console.url + path, timeout=10, **kwargs)


def wait_until(check: Any, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_the_plugins_page_lists_a_plugin_of_every_model(console: Console) -> None:
    rows = {p["name"]: p for p in get(console, "api/plugins").json()["plugins"]}
    for name, model in ONE_OF_EACH.items():
        assert rows[name]["model"] == model, rows[name]
        assert rows[name]["source"]
        assert "restarts" in rows[name]
    page = get(console, "plugins")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for name in ONE_OF_EACH:
        assert f'data-name="{name}"' in page.text
    pods = get(console, "plugins", params={"model": "pod"}).text
    assert 'data-name="dog"' in pods and 'data-name="gwexample"' not in pods
    started = get(console, "api/plugins", params={"state": "started"}).json()["plugins"]
    assert started and {p["state"] for p in started} == {"started"}


def test_every_page_renders_and_ships_its_own_script(console: Console) -> None:
    for page in ("plugins", "events", "tasks", "deployments", "runs"):
        response = get(console, page)
        assert response.status_code == 200, (page, response.text)
        assert "/static/console.js" in response.text
        assert "http://" not in response.text.split("<main>")[0].replace(console.url, "")
    script = get(console, "static/console.js")
    assert script.status_code == 200 and "EventSource" in script.text
    assert get(console, "", follow_redirects=False).headers["location"].endswith("/plugins")


def read_stream(
    console: Console, count: int, *, headers: dict[str, str], params: dict[str, str]
) -> list[dict[str, Any]]:
    """The first ``count`` host events the stream sends."""
    found: list[dict[str, Any]] = []
    with httpx.stream(
        "GET", console.url + "events/stream", headers=headers, params=params, timeout=10
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event_id = None
        for line in response.iter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: ") and event_id is not None:
                data = json.loads(line[6:])
                assert data["seq"] == event_id
                found.append(data)
                if len(found) == count:
                    break
    return found


def test_the_stream_resumes_from_the_last_seq_without_gaps(console: Console) -> None:
    first = [console.runner.publish("console.test.first", n=n) for n in range(5)]
    before = first[0].seq - 1
    got = read_stream(
        console, 5, headers={}, params={"after": str(before), "topic": "console.test.*"}
    )
    assert [e["seq"] for e in got] == [e.seq for e in first]
    assert [e["data"]["n"] for e in got] == list(range(5))
    # the browser reconnects with Last-Event-ID: it gets what came after, and nothing twice
    more = [console.runner.publish("console.test.more", n=n) for n in range(3)]
    resumed = read_stream(
        console,
        3,
        headers={"Last-Event-ID": str(got[-1]["seq"])},
        params={"after": "0", "topic": "console.test.*"},
    )
    assert [e["seq"] for e in resumed] == [e.seq for e in more]
    listed = get(console, "api/events", params={"after": str(before)}).json()["events"]
    mine = [e["seq"] for e in listed if e["topic"].startswith("console.test.")]
    assert mine == [e.seq for e in first + more]


def test_a_flood_is_capped_and_the_stream_says_how_many_it_skipped(console: Console) -> None:
    """Past ``[console] stream_rate`` (4000 a second: 200 per 50 ms batch), a batch carries
    the newest events and a ``gap`` event counting the ones it skipped."""
    flood = [console.runner.publish("console.flood", n=n) for n in range(1000)]
    skipped: list[dict[str, Any]] = []
    seqs: list[int] = []
    with httpx.stream(
        "GET",
        console.url + "events/stream",
        params={"after": str(flood[0].seq - 1), "topic": "console.flood"},
        timeout=10,
    ) as response:
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "gap":
                skipped.append(json.loads(line[6:]))
            elif line.startswith("data: ") and kind == "host-event":
                seqs.append(json.loads(line[6:])["seq"])
                if seqs[-1] == flood[-1].seq:
                    break
    assert skipped and skipped[0]["after"] == flood[0].seq - 1
    assert skipped[0]["skipped"] >= 800
    assert len(seqs) <= 200 and seqs == sorted(seqs)
    assert seqs[-1] == flood[-1].seq


def test_a_bad_resume_point_is_a_clear_400(console: Console) -> None:
    response = get(console, "events/stream", headers={"Last-Event-ID": "yesterday"})
    assert response.status_code == 400
    assert "yesterday" in response.json()["error"]


@pytest.fixture
def running_task(console: Console) -> Iterator[str]:
    task_id: str = console.runner.run_command("tasks.send", name=COUNTDOWN, args=[2000, 0.01])["id"]

    def progressing() -> bool:
        events = console.runner.events.matching(f"task.{COUNTDOWN}.progress")
        return any(e.data["id"] == task_id for e in events)

    wait_until(progressing, "the task's first progress")
    yield task_id
    console.runner.run_command("tasks.cancel", id=task_id)


def task_row(console: Console, task_id: str) -> dict[str, Any] | None:
    rows = get(console, "api/tasks").json()["tasks"]
    return next((t for t in rows if t["id"] == task_id), None)


def test_cancel_from_the_console_ends_a_running_task_canceled(
    console: Console, running_task: str
) -> None:
    row = wait_until(lambda: task_row(console, running_task), "the task on the tasks page")
    assert row["status"] == "running"
    assert row["fraction"] is not None and row["total"] == 2000
    assert f'data-id="{running_task}"' in get(console, "tasks").text
    refused = post(console, f"api/tasks/{running_task}/cancel")
    assert refused.status_code == 401
    assert console.runner.run_command("tasks.status", id=running_task)["status"] == "running"
    done = post(
        console, f"api/tasks/{running_task}/cancel", headers={"X-Plugyard-Token": console.token}
    )
    assert done.status_code == 200, done.text

    def canceled() -> bool:
        row = task_row(console, running_task)
        return row is not None and row["status"] == "canceled"

    wait_until(canceled, "the task to end canceled")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Plugyard-Token": "not-the-token"},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": "Basic not-the-token"},
    ],
    ids=["none", "wrong-header", "wrong-bearer", "not-bearer"],
)
def test_without_the_token_every_action_answers_401_and_changes_nothing(
    console: Console, running_task: str, headers: dict[str, str]
) -> None:
    run = console.runner.run_command(
        "pod.launch", plugin_module="pod_dog_plugin", plugin_name="ExamplePlugin"
    )["run"]
    restarts = console.host.stats["background_plugin_example"].restarts
    paths = [
        "api/plugins/background_plugin_example/restart",
        f"api/tasks/{running_task}/cancel",
        f"api/runs/{run['id']}/abort",
    ]
    for path in paths:
        response = post(console, path, headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert "token" in response.json()["error"]
        # a token in the address is not enough for an action
        assert post(console, path, params={"token": console.token}).status_code == 401
    assert console.host.stats["background_plugin_example"].restarts == restarts
    assert console.runner.run_command("tasks.status", id=running_task)["status"] == "running"
    aborted = console.runner.events.matching(f"pod.run.{run['id']}.aborted")
    assert aborted == []


def test_restart_with_the_token_restarts_the_plugin(console: Console) -> None:
    name = "background_plugin_example"
    restarts = console.host.stats[name].restarts
    response = post(
        console, f"api/plugins/{name}/restart", headers={"Authorization": f"Bearer {console.token}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "started"
    assert console.host.stats[name].restarts == restarts + 1
    row = next(p for p in get(console, "api/plugins").json()["plugins"] if p["name"] == name)
    assert row["restarts"] == restarts + 1
    missing = post(
        console, "api/plugins/nothing-here/restart", headers={"X-Plugyard-Token": console.token}
    )
    assert missing.status_code == 404 and "nothing-here" in missing.json()["error"]


def test_a_pod_run_shows_its_status_progress_and_items(console: Console) -> None:
    run = console.runner.run_command(
        "pod.launch", plugin_module="pod_dog_plugin", plugin_name="ExamplePlugin"
    )["run"]

    def finished() -> dict[str, Any] | None:
        rows = get(console, "api/runs").json()["runs"]
        row = next((r for r in rows if r["id"] == run["id"]), None)
        return row if row is not None and row["final"] else None

    row = wait_until(finished, "the run to finish")
    assert row["status"] == "done", row
    assert row["plugin_name"] == "ExamplePlugin"
    assert f'data-id="{run["id"]}"' in get(console, "runs").text
    late = post(console, f"api/runs/{run['id']}/abort", headers={"X-Plugyard-Token": console.token})
    assert late.status_code in (200, 409), late.text


def test_an_install_shows_its_progress_instances_and_log_lines(console: Console) -> None:
    from _console_helpers import EXAMPLE_CONFIG, free_port

    blueprint = EXAMPLE_CONFIG.parent / "lifecycle-webserver" / "blueprint" / "blueprint.yaml"
    install = console.host.run_command(
        "lifecycle.install",
        blueprint=str(blueprint),
        deployment="console-web",
        inputs={"port": free_port()},
    )
    result = console.runner.run(install, timeout=60)
    try:
        assert result["status"] == "succeeded", result

        def shown_ended() -> dict[str, Any] | None:
            rows = {d["name"]: d for d in get(console, "api/deployments").json()["deployments"]}
            found = rows.get("console-web")
            ended = found and found["executions"] and found["executions"][0]["status"] != "started"
            return found if ended else None

        shown = wait_until(shown_ended, "the install's end on the deployments page")
        execution = shown["executions"][0]
        assert execution["workflow"] == "install"
        assert execution["status"] == "succeeded"
        assert execution["total"] and execution["done"] == execution["total"]
        assert execution["fraction"] == 1.0
        assert {n["state"] for n in shown["nodes"]} == {"started"}
        assert all("runtime_properties" in n for n in shown["nodes"])
        page = get(console, "deployments").text
        assert 'data-name="console-web"' in page
        assert f"{execution['total']} of {execution['total']} operations" in page
    finally:
        uninstall = console.host.run_command("lifecycle.uninstall", deployment="console-web")
        console.runner.run(uninstall, timeout=60)


async def test_a_client_on_another_machine_is_refused_unless_allowed(console: Console) -> None:
    from plugyard.console import ConsoleService, ConsoleSettings, create_app

    def remote(app: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://console.example")

    own = ConsoleService.of(console.host)
    async with remote(create_app(console.host, own)) as client:
        assert (await client.get("/plugins")).status_code == 403
        assert (await client.get("/plugins", params={"token": own.token})).status_code == 403
    token = "t" * 20
    allowed = ConsoleService(console.host, ConsoleSettings(allow_remote=True, token=token))
    try:
        async with remote(create_app(console.host, allowed)) as client:
            assert (await client.get("/plugins")).status_code == 401
            assert (await client.get("/plugins", params={"token": token})).status_code == 200
            reply = await client.get("/api/plugins", headers={"X-Plugyard-Token": token})
            assert reply.json()["plugins"]
            assert (await client.post("/api/plugins/dog/restart")).status_code == 401
    finally:
        allowed.close()
