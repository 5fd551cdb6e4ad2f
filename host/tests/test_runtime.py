"""The runtime folder and the files clients read from it: trusted only when no other user
could have created, replaced or written them, checked from ``/`` down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from plugyard.host import (
    HostInfoError,
    UnsafePathError,
    ensure_private_dir,
    read_host_info,
    read_private_file,
)

NOBODY = 65534
as_root = pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another uid needs root")


def _host_json(folder: Path, **info: object) -> Path:
    target = folder / "host.json"
    target.write_text(json.dumps({"pid": os.getpid(), **info}))
    target.chmod(0o600)
    return target


def test_a_fresh_runtime_folder_and_its_missing_parents_are_private(tmp_path: Path) -> None:
    os.umask(old := os.umask(0))  # a permissive umask must not loosen what we create
    try:
        folder = ensure_private_dir(tmp_path / "plugyard-1" / "name")
    finally:
        os.umask(old)
    assert (folder.stat().st_mode & 0o777, folder.parent.stat().st_mode & 0o777) == (0o700, 0o700)
    _host_json(folder, name="name")
    assert read_host_info(folder)["name"] == "name"


def test_a_parent_others_can_write_is_refused(tmp_path: Path) -> None:
    """Another user made ``$TMPDIR/plugyard-UID`` first, world-writable: we never use it."""
    base = tmp_path / "plugyard-0"
    base.mkdir()
    base.chmod(0o777)
    with pytest.raises(UnsafePathError, match=r"plugyard-0 is writable by other users \(mode 0777"):
        ensure_private_dir(base / "plugyard")
    assert not (base / "plugyard").exists() or not any((base / "plugyard").iterdir())


def test_a_sticky_world_writable_parent_is_fine(tmp_path: Path) -> None:
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    assert ensure_private_dir(shared / "plugyard-0" / "x").is_dir()


def test_a_symlinked_runtime_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        ensure_private_dir(tmp_path / "link")


@as_root
def test_a_parent_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "plugyard-0"
    base.mkdir(mode=0o755)
    os.chown(base, NOBODY, NOBODY)
    with pytest.raises(UnsafePathError, match=f"belongs to uid {NOBODY}"):
        ensure_private_dir(base / "plugyard")


@as_root
def test_a_runtime_folder_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "plugyard"
    folder.mkdir(mode=0o700)
    os.chown(folder, NOBODY, NOBODY)
    with pytest.raises(PermissionError, match=f"belongs to uid {NOBODY}"):
        ensure_private_dir(folder)


def test_host_json_others_could_write_is_not_trusted(tmp_path: Path) -> None:
    folder = ensure_private_dir(tmp_path / "run")
    _host_json(folder).chmod(0o666)
    with pytest.raises(UnsafePathError, match="host.json belongs to uid"):
        read_host_info(folder)


def test_host_json_under_a_hijacked_parent_is_not_trusted(tmp_path: Path) -> None:
    base = tmp_path / "plugyard-0"
    folder = ensure_private_dir(base / "plugyard")
    _host_json(folder)
    base.chmod(0o777)  # anyone can now rename plugyard/ away and put their own in its place
    with pytest.raises(UnsafePathError, match="writable by other users"):
        read_host_info(folder)


def test_a_missing_host_json_still_says_no_host_runs(tmp_path: Path) -> None:
    with pytest.raises(HostInfoError, match="no host is running here"):
        read_host_info(ensure_private_dir(tmp_path / "run"))


def test_a_token_file_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    folder = ensure_private_dir(tmp_path / "run")
    (folder / "real.token").write_text("secret")
    (folder / "real.token").chmod(0o600)
    (folder / "owner.token").symlink_to(folder / "real.token")
    with pytest.raises(OSError):
        read_private_file(folder / "owner.token")
    assert read_private_file(folder / "real.token") == "secret"


class _Trap(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self) -> None:
        _Trap.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def trap() -> Iterator[str]:
    _Trap.hits = []
    server = HTTPServer(("127.0.0.1", 0), _Trap)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_pod_credentials_never_go_to_a_server_named_by_a_planted_host_json(
    tmp_path: Path, trap: str
) -> None:
    """The attack: another user owns the base folder and plants ``host.json`` naming their
    own server. ``plugyard pod credentials`` refuses, and sends nothing anywhere."""
    pytest.importorskip("plugyard.adapters.pod")
    base = tmp_path / "plugyard-0"
    folder = base / "podtest"
    folder.mkdir(parents=True)
    base.chmod(0o777)
    token = folder / "owner.token"
    token.write_text("planted")
    _host_json(folder, pod_url=trap, pod_owner_token_file=str(token))
    config = tmp_path / "plugyard.toml"
    config.write_text(f'[host]\nname = "podtest"\nruntime_dir = "{folder}"\n')
    plugyard = str(Path(sys.executable).parent / "plugyard")
    argv = [plugyard, "pod", "credentials", "-c", str(config), "run-1", "--username", "me"]
    done = subprocess.run(
        [*argv, "--password-stdin"],
        input="S3cretPW\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "writable by other users" in done.stderr
    assert "Traceback" not in done.stderr
    assert _Trap.hits == []
