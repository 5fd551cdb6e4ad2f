"""The ``plugyard`` command line, through click's runner and as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from plugyard.host._cli import cli

ROOT = Path(__file__).resolve().parents[1]
PLUGYARD = str(Path(sys.executable).parent / "plugyard")
EXAMPLE = ROOT / "examples" / "plugyard.toml"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_version_lists_host_and_sdk() -> None:
    code, out, _ = invoke("--version")
    assert code == 0
    assert "plugyard-host 0.1.0" in out
    assert "plugyard-sdk 0.1.0" in out


def test_plugins_table_and_json_on_the_example_config() -> None:
    code, out, _ = invoke("plugins", "-c", str(EXAMPLE))
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["NAME", "MODEL", "STATE"]
    assert any(line.startswith("hello_hooks") and " hooks " in line for line in out.splitlines())
    code, out, _ = invoke("plugins", "-c", str(EXAMPLE), "--json")
    records = {r["name"]: r for r in json.loads(out)}
    assert records["hello_hooks"]["state"] == "loaded"
    assert "plugyard_commands" in records["hello_hooks"]["hooks"]


def test_plugins_reports_failures_with_the_reason(tmp_path: Path) -> None:
    config = tmp_path / "plugyard.toml"
    config.write_text('[plugins.ghost]\nuse = "ghost_module_nowhere:Thing"\n')
    _code, out, _err = invoke("plugins", "-c", str(config), "--json")
    ghost = {r["name"]: r for r in json.loads(out)}["ghost"]
    assert ghost["state"] == "failed"
    assert "ghost_module_nowhere" in ghost["error"]


def test_hooks_lists_specs_policies_and_implementations_in_call_order() -> None:
    code, out, _ = invoke("hooks", "-c", str(EXAMPLE))
    assert code == 0
    text = out.split("\n")
    start = text.index("plugyard_startup(host)")
    assert text[start + 1].strip().startswith("policy: errors=isolate")
    assert "hello_hooks" in text[start + 2]
    commands = text.index("plugyard_commands(host)")
    impls = text[commands + 2].strip().removeprefix("implementations: ").split(", ")
    assert impls[0] == "plugyard.host"
    assert "hello_hooks" in impls


def test_a_bad_config_file_is_a_clean_error(tmp_path: Path) -> None:
    config = tmp_path / "plugyard.toml"
    config.write_text("[host]\nnmae = 'x'\n")
    result = CliRunner().invoke(cli, ["plugins", "-c", str(config)])
    assert result.exit_code == 1
    assert f"{config}: host.nmae: unknown key; did you mean 'name'?" in result.output


def test_call_without_a_transport_says_what_to_install() -> None:
    result = CliRunner().invoke(cli, ["call", "status"], env={"PLUGYARD_DISABLE_AUTOLOAD": "1"})
    assert result.exit_code == 1
    assert "install the ZMQ adapter" in result.output


def test_help_imports_nothing_heavy() -> None:
    probe = (
        "import sys\n"
        "from plugyard.host._cli import main\n"
        "sys.argv = ['plugyard', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ['celery', 'zmq', 'starlette', 'uvicorn', 'sqlalchemy', 'pydantic', 'kombu']\n"
        "print(' '.join(m for m in heavy if m in sys.modules) or 'none')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "none"


def test_run_serves_the_example_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "PLUGYARD_HOST__RUNTIME_DIR": str(tmp_path / "rt")}
    proc = subprocess.Popen(
        [PLUGYARD, "run", "-c", str(EXAMPLE)], stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stderr is not None
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        if "plugin(s) started" in line or not line:
            break
    assert (tmp_path / "rt" / "host.json").is_file()
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=30)
    output = "".join(lines) + rest
    assert proc.returncode == 0, output
    assert "Hello from hello-hooks, on host 'example'" in output
    assert "goodbye from hello-hooks" in output
    assert "plugyard: host stopped" in output
    assert not (tmp_path / "rt" / "host.json").exists()
