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
    ours = host.pod.client()
    ours.add_to_schema(Hound)
    theirs_id = ours.create(Hound("Rex", 7, True, 30.0, datetime(2019, 1, 2, tzinfo=UTC)))

    url = await host.pod.memri_url()
    code, out, err = await run_pymemri(
        pymemri_python, "pymemri_roundtrip.py", url, host.pod.pod.owner_token, theirs_id
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
    schema = host.pod.pod.schema.to_dict()
    assert schema["Hound"]["edges"]["owner"] == "Person"
    assert schema["Person"]["properties"]["firstName"] == "str"
    from plugyard.adapters.pod import OWNER

    sha = hashlib.sha256(b"a photo, as far as the pod cares").hexdigest()
    assert host.pod.pod.get_file(OWNER, sha) == b"a photo, as far as the pod cares"
