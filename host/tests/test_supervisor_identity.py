"""A supervised process runs as the user and group its spec names, where the host may switch."""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from plugyard.host._supervisor import ProcessSpec, Supervisor, SupervisorError

pytestmark = pytest.mark.timeout(30)

SLEEP = [shutil.which("sleep") or "/bin/sleep", "60"]
as_root = pytest.mark.skipif(
    os.geteuid() != 0,
    reason=f"switching a child to another user needs root; the tests run as uid {os.geteuid()}",
)


def nobody() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("this machine has no 'nobody' user to run a child as")


@pytest.fixture
async def sup() -> AsyncIterator[Supervisor]:
    supervisor = Supervisor()
    yield supervisor
    await supervisor.stop_all(timeout=1.0)


@as_root
async def test_a_child_runs_as_the_user_with_its_group_and_groups(sup: Supervisor) -> None:
    user = nobody()
    info = await sup.start(ProcessSpec("n", SLEEP, user="nobody"))
    assert info.pid is not None
    child = psutil.Process(info.pid)
    assert child.uids().real == child.uids().effective == user.pw_uid
    assert child.gids().real == user.pw_gid
    groups = set(os.getgrouplist("nobody", user.pw_gid))
    status = await asyncio.to_thread(Path(f"/proc/{info.pid}/status").read_text)
    line = next(x for x in status.splitlines() if x.startswith("Groups:"))
    assert {int(g) for g in line.split()[1:]} == groups, "root's groups are dropped"


@as_root
async def test_a_named_group_replaces_the_users_own(sup: Supervisor) -> None:
    user = nobody()
    group = grp.getgrgid(user.pw_gid).gr_name
    root_group = grp.getgrgid(0).gr_name
    info = await sup.start(ProcessSpec("g", SLEEP, user=user.pw_uid, group=root_group))
    assert info.pid is not None
    assert psutil.Process(info.pid).gids().real == 0, f"not {group}"
    assert psutil.Process(info.pid).uids().real == user.pw_uid


async def test_an_unknown_user_or_group_is_a_clear_error(sup: Supervisor) -> None:
    with pytest.raises(SupervisorError, match=r"process 'u': no user 'no-such-user-x' on this"):
        await sup.start(ProcessSpec("u", SLEEP, user="no-such-user-x"))
    with pytest.raises(SupervisorError, match=r"process 'g': no group 'no-such-group-x' on this"):
        await sup.start(ProcessSpec("g", SLEEP, group="no-such-group-x"))


async def test_a_switch_the_host_may_not_make_is_refused_before_spawning(
    sup: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() == 0:
        # As root every switch is permitted: look at the refusal as an ordinary user sees it.
        monkeypatch.setattr(os, "geteuid", lambda: 1000)
        monkeypatch.setattr(os, "getegid", lambda: 1000)
    other = "root" if os.geteuid() != 0 else "nobody"
    with pytest.raises(SupervisorError) as caught:
        await sup.start(ProcessSpec("p", SLEEP, user=other))
    message = str(caught.value)
    assert f"process 'p': cannot run as user '{other}': the host runs as uid" in message
    assert "only root may start a process as another user or group" in message
    assert sup.list() == []
