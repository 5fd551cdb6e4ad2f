"""Pymemri 0.1.2, unmodified, against plugyard's pod over the Memri pod API.

Pymemri runs in an environment of its own (``pymemri_env.py``), as a Memri plugin runs in a
container of its own; each round trip is checked through Pymemri and through plugyard's API.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.pod import PodService
from plugyard.sdk.pod import Item

pytestmark = pytest.mark.timeout(180)

HERE = Path(__file__).resolve().parent


class Hound(Item):
    name: str | None
    age: int | None
    bites: bool | None
    weight: float | None
    dateOfBirth: datetime | None


@pytest.fixture(scope="session")
def pymemri_python() -> Path:
    """The interpreter of Pymemri's own environment, built once and cached."""
    sys.path.insert(0, str(HERE))
    from pymemri_env import EnvironmentUnavailable, ensure

    try:
        return ensure()
    except EnvironmentUnavailable as exc:
        reason = f"Pymemri's environment could not be built (needs a package index): {exc}"
        if os.environ.get("PLUGYARD_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def pymemri_home(pymemri_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder per test: Pymemri writes ``~/.pymemri/plugins/<plugin>/current_run.json``."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


async def run_pymemri(
    python: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[int, str, str]:
    """Run Pymemri's interpreter (or one of its scripts) with the host's loop still serving."""
    process = await asyncio.create_subprocess_exec(
        str(python),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(HERE), **(env or {})},
        cwd=str(HERE),
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_podclient_round_trips_through_pymemri_and_plugyard(
    host: Any, pymemri_python: Path
) -> None:
    ours = PodService.of(host).client()
    ours.add_to_schema(Hound)
    theirs_id = ours.create(Hound("Rex", 7, True, 30.0, datetime(2019, 1, 2, tzinfo=UTC)))

    url = await PodService.of(host).memri_url()
    code, out, err = await run_pymemri(
        pymemri_python, "pymemri_roundtrip.py", url, PodService.of(host).pod.owner_token, theirs_id
    )
    assert code == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])

    # through Pymemri
    assert report["version"]["server"] == "plugyard-pod"
    assert report["add_to_schema"] is True
    assert report["create"] == [True, True] and report["create_edge"] is True
    assert report["get"] == {
        "name": "Rita",
        "age": 3,
        "bites": False,
        "weight": 12.5,
        "dateOfBirth": "2020-05-17T08:30:00+00:00",
        "owner": ["Ann"],
    }
    assert report["theirs"] == {"name": "Rex", "age": 7}
    ids = report["ids"]
    assert report["search"] == [[ids["rita"], ["Ann"]]]
    assert report["search_unknown_type"] == []
    assert report["update_item"] is True and report["bulk_action"] is True
    assert report["search_ids"] == ["pup-0", "pup-1"]
    # pages in storage order, each of the size asked for; items stored in one bulk write
    # share their time, so the pups come in the order of their ids
    assert [len(page) for page in report["pages"]] == [3, 3, 1]
    assert report["pages"][0][:2] == ["Rex", "Rita"]
    names = sorted(name for page in report["pages"] for name in page)
    assert names == ["Rex", "Rita"] + [f"pup-{n}" for n in range(5)]
    assert report["delete_items"] is True
    assert report["after_delete"] == ["Rex", "Rita", "pup-0", "pup-1", "pup-2"]
    assert report["upload_file"] is True and report["upload_again"] is True
    assert report["get_file"] == "a photo, as far as the pod cares"

    # through plugyard's own API, on the same store
    rita = ours.get(ids["rita"])
    assert isinstance(rita, Hound)
    assert (rita.name, rita.age, rita.bites, rita.weight) == ("Rita", 4, False, 12.5)
    assert rita.dateOfBirth == datetime(2020, 5, 17, 8, 30, tzinfo=UTC)
    edges = ours.transport.get(ids["rita"])["_edges"]
    assert [(e["name"], e["target"]["firstName"]) for e in edges] == [("owner", "Ann")]
    assert sorted(h.name for h in ours.search({"type": "Hound"})) == report["after_delete"]
    pup = ours.transport.get(ids["pups"][0])["_edges"]
    assert [(e["name"], e["target"]["id"]) for e in pup] == [("owner", ids["ann"])]
    schema = PodService.of(host).pod.schema.to_dict()
    assert schema["Hound"]["edges"]["owner"] == "Person"
    assert schema["Person"]["properties"]["firstName"] == "str"
    from plugyard.adapters.pod import OWNER

    sha = hashlib.sha256(b"a photo, as far as the pod cares").hexdigest()
    assert PodService.of(host).pod.get_file(OWNER, sha) == b"a photo, as far as the pod cares"


def kennel_run(python: Path, name: str = "KennelWriter", **config: Any) -> dict[str, Any]:
    return {
        "plugin_module": "pymemri_plugins",
        "plugin_name": name,
        "config": config,
        "python": str(python),
    }


def statuses(host: Any, run_id: str) -> list[str]:
    prefix = f"pod.run.{run_id}."
    return [t.removeprefix(prefix) for t in host.recorder.topics if t.startswith(prefix)]


async def test_the_host_launches_a_pymemri_plugin_in_its_own_environment(
    host: Any, pymemri_python: Path
) -> None:
    run = await PodService.of(host).launch(kennel_run(pymemri_python, count=3, tag="L"), "process")
    final = await PodService.of(host).wait(run["id"], 120)
    logs = "\n".join(PodService.of(host).runs.logs(run["id"]))
    assert (final["status"], final["exit_code"]) == ("done", 0), logs
    assert "Run success!" in logs
    assert statuses(host, run["id"]) == ["created", "initialized", "started", "done"]
    progress = [e.data["progress"] for e in host.recorder.matching(f"pod.progress.{run['id']}")]
    assert progress[-1] == 1.0 and len(progress) == 3
    kennels = PodService.of(host).client().transport.search({"type": "Kennel"})
    assert sorted((k["name"], k["size"], k["run_id"]) for k in kennels) == [
        ("L-0", 0, run["id"]),
        ("L-1", 1, run["id"]),
        ("L-2", 2, run["id"]),
    ]
    from plugyard.adapters.pod import Scope

    sha = hashlib.sha256(b"plan of L").hexdigest()  # uploaded with the run's PluginAuth
    assert PodService.of(host).pod.get_file(Scope(run["id"]), sha) == b"plan of L"


async def test_run_plugin_with_metadata_and_a_config_file(
    host: Any, pymemri_python: Path, tmp_path: Path
) -> None:
    from plugyard.adapters.pod import OWNER
    from plugyard.adapters.pod._runs import _free_port

    metadata = {
        "pluginModule": "pymemri_plugins",
        "pluginName": "KennelWriter",
        "containerImage": "none",
        "webserverPort": _free_port(),
    }
    (tmp_path / "metadata.json").write_text(json.dumps(metadata))
    (tmp_path / "config.json").write_text(json.dumps({"count": 2, "tag": "cli"}))
    run_plugin = pymemri_python.with_name("run_plugin")
    code, _out, err = await run_pymemri(
        run_plugin,
        "--metadata",
        str(tmp_path / "metadata.json"),
        "--config_file",
        str(tmp_path / "config.json"),
        "--pod_full_address",
        await PodService.of(host).memri_url(),
        "--database_key",
        PodService.of(host).pod.owner_token,
        "--owner_key",
        "plugyard",
    )
    assert code == 0, err[-3000:]
    [run] = PodService.of(host).pod.search(
        OWNER, {"type": "PluginRun", "plugin_name": "KennelWriter"}
    )
    assert (run["status"], run["progress"], run["container_image"]) == ("done", 1.0, "none")
    assert statuses(host, run["id"]) == ["created", "initialized", "started", "done"]
    names = sorted(k["name"] for k in PodService.of(host).pod.search(OWNER, {"type": "Kennel"}))
    assert names == ["cli-0", "cli-1"]


async def test_a_failing_pymemri_plugin_ends_in_error_with_its_traceback(
    host: Any, pymemri_python: Path
) -> None:
    run = await PodService.of(host).launch(kennel_run(pymemri_python, "Broken"), "process")
    final = await PodService.of(host).wait(run["id"], 120)
    assert final["status"] == "error" and final["exit_code"] == 1
    assert "RuntimeError: broken on purpose" in "\n".join(PodService.of(host).runs.logs(run["id"]))
    assert statuses(host, run["id"]) == ["created", "initialized", "started", "error"]


async def test_a_pymemri_daemon_stays_up_until_plugyard_pod_abort(
    host: Any, pymemri_python: Path, tmp_path: Path
) -> None:
    run = await PodService.of(host).launch(kennel_run(pymemri_python, "Guard"), "process")
    client = PodService.of(host).client()
    deadline = asyncio.get_running_loop().time() + 90
    while client.get_run(run["id"]).status != "daemon":
        assert asyncio.get_running_loop().time() < deadline, PodService.of(host).runs.logs(
            run["id"]
        )
        await asyncio.sleep(0.05)
    assert run["id"] in PodService.of(host).runs.active
    (tmp_path / "plugyard.toml").write_text(
        f'[host]\nname = "podtest"\nruntime_dir = "{tmp_path / "run"}"\n'
    )
    code, out, err = await run_cli(tmp_path, "pod", "abort", run["id"])
    assert code == 0, err
    assert f"run {run['id']}: aborted" in out
    final = await PodService.of(host).wait(run["id"], 30)
    assert final["status"] == "aborted" and final["exit_code"] is not None
    assert statuses(host, run["id"]) == ["created", "initialized", "started", "daemon", "aborted"]
    assert [k.name for k in client.search({"type": "Kennel"})] == ["guarded"]


async def run_cli(project: Path, *args: str) -> tuple[int, str, str]:
    """``plugyard ARGS -c project/plugyard.toml``, with the host's loop still serving."""
    plugyard = Path(sys.executable).with_name("plugyard")
    process = await asyncio.create_subprocess_exec(
        str(plugyard),
        *args,
        "-c",
        str(project / "plugyard.toml"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(project),
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("kind", ["client", "plugin"])
async def test_a_runs_token_reaches_only_that_runs_items(
    host: Any, pymemri_python: Path, kind: str
) -> None:
    from plugyard.adapters.pod import OWNER, Scope

    pod = PodService.of(host).pod
    pod.add_schema(OWNER, {"Kennel": {"properties": {"name": "str", "size": "int"}, "edges": {}}})
    mine, my_token = pod.create_run(OWNER, {"plugin_module": "m", "plugin_name": "A"})
    theirs, _ = pod.create_run(OWNER, {"plugin_module": "m", "plugin_name": "B"})
    [own_id] = pod.create(Scope(mine["id"]), [{"type": "Kennel", "name": "mine"}])
    [other_id] = pod.create(Scope(theirs["id"]), [{"type": "Kennel", "name": "theirs"}])
    url = await PodService.of(host).memri_url()

    code, out, err = await run_pymemri(
        pymemri_python, "pymemri_peek.py", url, kind, my_token, own_id, other_id
    )
    assert code == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["own"] == "mine"
    assert report["other"] == {"error": f"Item with id {other_id} does not exist"}
    assert report["other_raw"]["status"] == 403
    assert f"may not reach item {other_id}" in report["other_raw"]["message"]
    assert report["search"] == ["mine"]

    pod.update_run(OWNER, mine["id"], {"status": "aborted"})  # revokes the run's token
    code, out, err = await run_pymemri(
        pymemri_python, "pymemri_peek.py", url, kind, my_token, own_id, other_id
    )
    report = json.loads(out.strip().splitlines()[-1])
    # a plugin whose key the pod lost gets 421, as from Memri's pod: Pymemri stops itself
    assert report["other_raw"]["status"] == (421 if kind == "plugin" else 401)


def test_plugyard_pod_launch_runs_a_pymemri_plugin_with_its_interpreter(
    pymemri_python: Path, tmp_path: Path
) -> None:
    import subprocess

    from plugyard.adapters.pod import Store

    (tmp_path / "plugyard.toml").write_text(
        f'[host]\nname = "memrilaunch"\nruntime_dir = "{tmp_path / "run"}"\n\n'
        f'[pod]\ndatabase = "sqlite:///{tmp_path / "pod.db"}"\n'
    )
    (tmp_path / "plugin.json").write_text(
        json.dumps({"pluginModule": "pymemri_plugins", "pluginName": "KennelWriter"})
    )
    (tmp_path / "config.json").write_text(json.dumps({"count": 1, "tag": "cli"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGYARD_")}
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("plugyard")),
            "pod",
            "launch",
            "--metadata",
            "plugin.json",
            "--config-file",
            "config.json",
            "--python",
            str(pymemri_python),
            "--launcher",
            "process",
            "--wait",
            "--json",
            "-c",
            str(tmp_path / "plugyard.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=150,
        env={**env, "PYTHONPATH": str(HERE)},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads(done.stdout)
    assert (run["status"], run["exit_code"], run["python"]) == ("done", 0, str(pymemri_python))
    store = Store(f"sqlite:///{tmp_path / 'pod.db'}")
    try:
        kennels = [(r.properties["name"], r.run_id) for r in store.search({"type": "Kennel"})]
    finally:
        store.close()
    assert kennels == [("cli-0", run["id"])]


async def test_a_plugin_run_created_by_a_memri_client_is_launched(
    pymemri_python: Path, pymemri_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plugyard.adapters.pod import adapter
    from plugyard.host.testing import run_host

    monkeypatch.setenv("PYTHONPATH", str(HERE))
    config = {
        "host": {"runtime_dir": str(tmp_path / "run"), "name": "memrifront"},
        "pod": {
            "database": f"sqlite:///{tmp_path / 'pod.db'}",
            "pythons": {"pymemri_plugins": str(pymemri_python)},
        },
    }
    metadata = {"pluginModule": "pymemri_plugins", "pluginName": "KennelWriter"}
    metadata["containerImage"] = "pymemri_plugins"
    (tmp_path / "metadata.json").write_text(json.dumps(metadata))
    async with run_host(adapters={"pod": adapter}, config=config) as host:
        code, out, err = await run_pymemri(
            pymemri_python.with_name("simulate_run_plugin_from_frontend"),
            "--metadata",
            str(tmp_path / "metadata.json"),
            "--pod_full_address",
            await PodService.of(host).memri_url(),
            "--database_key",
            PodService.of(host).pod.owner_token,
            "--owner_key",
            "plugyard",
        )
        # the console script passes the PluginRun it returns to sys.exit: it always exits 1
        assert code == 1 and "Created pluginrun with id " in out, err[-3000:]
        run_id = out.split("Created pluginrun with id ")[1].split()[0]
        final = await PodService.of(host).wait(run_id, 120)
        assert (final["status"], final["launcher"], final["exit_code"]) == ("done", "process", 0)
        kennels = PodService.of(host).client().transport.search({"type": "Kennel"})
        assert sorted(k["name"] for k in kennels) == ["k-0", "k-1"]
    current = pymemri_home / ".pymemri" / "plugins" / "pymemri_plugins" / "current_run.json"
    assert json.loads(current.read_text()) == {"id": run_id}
