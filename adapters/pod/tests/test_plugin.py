"""PodPlugin and the runner: warnings, config checks, exit codes, statuses, authenticators."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pod_fixtures import AsyncWriter, Boom, Note, Writer

from plugyard.adapters.pod import OWNER, DirectTransport, Pod, Scope
from plugyard.sdk.pod import (
    EXIT_DONE,
    EXIT_PLUGIN_ERROR,
    AuthenticationFailed,
    AuthenticationTimeout,
    BadInput,
    PasswordAuthenticator,
    PluginRun,
    PodClient,
    PodPlugin,
    check_config,
    read_config_file,
    read_metadata,
    resolve_config,
    run_plugin,
)


def new_run(
    pod: Pod, name: str, config: dict[str, Any] | None = None
) -> tuple[PodClient, PluginRun]:
    run, token = pod.create_run(
        OWNER, {"plugin_module": "pod_fixtures", "plugin_name": name, "config": config or {}}
    )
    client = PodClient(transport=DirectTransport(pod, pod.scope_for(token)))
    return client, client.get_run(run["id"])


def test_no_client_is_a_value_error_and_no_run_a_warning(pod: Pod) -> None:
    with pytest.raises(ValueError, match="Writer needs a client"):
        Writer()
    with pytest.warns(RuntimeWarning, match="without a plugin_run"):
        plugin = Writer(client=PodClient(transport=DirectTransport(pod)), count=1)
    plugin.add_to_schema()
    plugin._run()
    assert pod.store.count("Note") == 1


def test_a_run_goes_initialized_started_done(pod: Pod) -> None:
    client, run = new_run(pod, "Writer", {"count": 3})
    assert run_plugin(client, run) == EXIT_DONE
    final = pod.get_run(OWNER, str(run.id))
    assert final["status"] == "done" and final["progress"] == 1.0
    assert pod.store.count("Note") == 3


def test_async_run_methods_are_awaited(pod: Pod) -> None:
    client, run = new_run(pod, "AsyncWriter")
    assert run_plugin(client, run) == EXIT_DONE
    assert [n["text"] for n in pod.search(OWNER, {"type": "Note"})] == ["async"]


def test_a_plugin_that_raises_ends_error_with_its_traceback(pod: Pod) -> None:
    client, run = new_run(pod, "Boom")
    assert run_plugin(client, run) == EXIT_PLUGIN_ERROR
    final = pod.get_run(OWNER, str(run.id))
    assert final["status"] == "error"
    assert final["error"] == "RuntimeError: the plugin broke on purpose"
    assert "Traceback" in final["traceback"] and "raise RuntimeError" in final["traceback"]


@pytest.mark.parametrize(
    ("module", "name", "message"),
    [
        ("no_such_module_xyz", "P", "cannot import plugin_module 'no_such_module_xyz'"),
        ("pod_fixtures", "Missing", "module 'pod_fixtures' has no plugin_name 'Missing'"),
        ("pod_fixtures", "Note", "pod_fixtures.Note is not a PodPlugin subclass"),
    ],
)
def test_bad_plugin_names_are_bad_input(pod: Pod, module: str, name: str, message: str) -> None:
    run, token = pod.create_run(OWNER, {"plugin_module": module, "plugin_name": name})
    client = PodClient(transport=DirectTransport(pod, pod.scope_for(token)))
    with pytest.raises(BadInput, match=message):
        run_plugin(client, client.get_run(run["id"]))
    assert pod.get_run(OWNER, run["id"])["status"] == "error"


def test_unknown_config_keys_list_the_accepted_ones() -> None:
    with pytest.raises(
        BadInput, match=r"does not accept configuration key\(s\) 'colour' \(accepted: count, tag\)"
    ):
        check_config(Writer, {"count": 1, "colour": "red"})
    check_config(Writer, {"count": 1})
    with pytest.raises(BadInput, match=r"\(accepted: none\)"):
        check_config(Boom, {"x": 1})


def test_config_precedence() -> None:
    assert resolve_config({"a": 1}, '{"a": 2}') == {"a": 1}
    assert resolve_config(None, '{"a": 2}') == {"a": 2}
    assert resolve_config(None, None) == {}
    with pytest.raises(BadInput, match="the run's config must be a JSON object"):
        resolve_config(None, "[1]")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "plugin metadata is not valid JSON"),
        ("[]", "must be a JSON object, got list"),
        ('{"plugin_name": "P"}', "the metadata has no 'plugin_module' key"),
        ('{"plugin_module": "m"}', "the metadata has no 'plugin_name' key"),
        ('{"plugin_module": "", "plugin_name": "P"}', "plugin_module must be a non-empty string"),
    ],
)
def test_bad_metadata(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plugin.json"
    path.write_text(text)
    with pytest.raises(BadInput, match=message):
        read_metadata(path)


def test_pymemri_metadata_keys_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "plugin.json"
    path.write_text(json.dumps({"pluginModule": "m", "pluginName": "P", "containerImage": "x"}))
    assert read_metadata(path)["plugin_module"] == "m"
    with pytest.raises(BadInput, match="cannot read the configuration"):
        read_config_file(tmp_path / "missing.json")


def test_set_progress_checks_the_fraction(pod: Pod) -> None:
    client, run = new_run(pod, "Writer")
    plugin = Writer(plugin_run=run, client=client)
    with pytest.raises(ValueError, match="fraction from 0 to 1"):
        plugin.set_progress(1.5)
    plugin.set_status("started")
    plugin.set_progress(0.25, "a quarter")
    stored = pod.get_run(OWNER, str(run.id))
    assert (stored["progress"], stored["message"]) == (0.25, "a quarter")


def answer(pod: Pod, run_id: str, answers: list[dict[str, str]]) -> threading.Thread:
    """An operator who supplies each answer whenever the run asks for credentials."""

    def operate() -> None:
        for fields in answers:
            deadline = time.monotonic() + 10
            while pod.get_run(OWNER, run_id)["status"] != "user_action_needed":
                assert time.monotonic() < deadline
                time.sleep(0.01)
            pod.set_account(OWNER, run_id, fields)

    thread = threading.Thread(target=operate)
    thread.start()
    return thread


def test_password_authenticator_retries_then_succeeds(
    pod: Pod, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    client, run = new_run(pod, "Login")
    operator = answer(
        pod,
        str(run.id),
        [
            {"identifier": "ann", "secret": "wrong"},
            {"identifier": "ann", "secret": "s3cret"},
        ],
    )
    assert run_plugin(client, run) == EXIT_DONE
    operator.join(5)
    assert [n["text"] for n in pod.search(OWNER, {"type": "Note"})] == ["logged in as ann"]
    assert "attempt 1 of 3 failed: PermissionError" in caplog.text
    assert "wrong" not in caplog.text and "s3cret" not in caplog.text


def test_password_authenticator_gives_up_after_max_attempts(pod: Pod) -> None:
    client, run = new_run(pod, "Login")
    operator = answer(pod, str(run.id), [{"identifier": "x", "secret": "y"}] * 2)
    client.update_run(str(run.id), status="started")
    auth = PasswordAuthenticator(client, run, max_attempts=2, poll_interval=0.01, timeout=10)
    with pytest.raises(AuthenticationFailed, match="failed 2 times"):
        auth.authenticate(lambda u, p: (_ for _ in ()).throw(PermissionError("no")))
    operator.join(5)


def test_password_authenticator_has_an_overall_timeout(pod: Pod) -> None:
    client, run = new_run(pod, "Login")
    client.update_run(str(run.id), status="started")
    auth = PasswordAuthenticator(client, run, poll_interval=0.01, timeout=0.1)
    with pytest.raises(AuthenticationTimeout, match=f"plugyard pod credentials {run.id}"):
        auth.authenticate(lambda u, p: u)


def test_oauth_authenticator_flow(pod: Pod) -> None:
    from plugyard.sdk.pod import OAuthAuthenticator

    class Service(OAuthAuthenticator):
        def get_oauth_url(self) -> str:
            return "https://example.invalid/authorize"

        def get_tokens_from_code(self, code: str) -> dict[str, str]:
            if code != "good":
                raise ValueError("bad code")
            return {"access_token": "A", "refresh_token": "R"}

        def refresh_tokens(self, refresh_token: str) -> dict[str, str] | None:
            return {"access_token": "A2"} if refresh_token == "R" else None

        def verify_access_token(self, access_token: str) -> bool:
            return access_token == "A2"

    client, run = new_run(pod, "Login")
    client.update_run(str(run.id), status="started")
    operator = answer(pod, str(run.id), [{"code": "bad"}, {"code": "good"}])
    account = Service(client, run, poll_interval=0.01, timeout=10).authenticate()
    operator.join(5)
    assert account.access_token == "A" and account.code is None
    assert pod.get_run(OWNER, str(run.id))["auth_url"] == "https://example.invalid/authorize"
    again = Service(client, run, poll_interval=0.01, timeout=10).authenticate()
    assert again.access_token == "A2"  # refreshed without asking anyone


def test_subclass_without_run_is_abstract() -> None:
    class NoRun(PodPlugin):
        pass

    with pytest.raises(TypeError, match="abstract"):
        NoRun(client=object())  # type: ignore[abstract, arg-type]


def test_scope_is_per_run(pod: Pod) -> None:
    assert Scope("r").describe() == "run r" and OWNER.describe() == "the owner"
    assert Note.fields()["author"].target == "Person"
    assert AsyncWriter.schema_classes == [Note]
