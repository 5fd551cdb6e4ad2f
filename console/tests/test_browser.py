"""The console in a real headless Chromium (Debian's chromium and chromium-driver, driven by
selenium): plugins of every model, live events, cancel from the page, a lifecycle install
run from the command line showing its progress, and actions refused without the token.

Screenshots for docs/console.md are written when ``PLUGYARD_SCREENSHOTS`` names a folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _console_helpers import COUNTDOWN, GATED, ONE_OF_EACH, Console

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

CHROMIUM = os.environ.get("PLUGYARD_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PLUGYARD_CHROMEDRIVER", "/usr/bin/chromedriver")
PLUGYARD = str(Path(sys.executable).parent / "plugyard")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,860",
)


def _browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() or shutil.which(path)):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("PLUGYARD_REQUIRE_SERVICES") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    browser = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    browser.set_page_load_timeout(20)
    try:
        yield browser
    finally:
        browser.quit()


def screenshot(driver: Any, name: str) -> None:
    folder = os.environ.get("PLUGYARD_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def wait(driver: Any, timeout: float, condition: Any, what: str) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    # the live pages replace their tables every second: an element read as it is replaced is
    # stale, and the condition is simply tried again
    ignored = (StaleElementReferenceException,)
    try:
        return WebDriverWait(
            driver, timeout, poll_frequency=0.02, ignored_exceptions=ignored
        ).until(condition)
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


def css(selector: str) -> Any:
    from selenium.webdriver.common.by import By

    def find(driver: Any) -> Any:
        found = driver.find_elements(By.CSS_SELECTOR, selector)
        return found[0] if found else False

    return find


def text(selector: str) -> Any:
    """A condition: the text of the first element ``selector`` finds, once it has some."""

    def read(driver: Any) -> Any:
        element = css(selector)(driver)
        return element.text if element else False

    return read


def click(driver: Any, selector: str, what: str) -> None:
    """Click the element ``selector`` finds (found again if the page replaced it)."""

    def clicked(driver: Any) -> bool:
        element = css(selector)(driver)
        if not element:
            return False
        element.click()
        return True

    wait(driver, 10, clicked, what)


def open_page(driver: Any, console: Console, page: str, *, token: bool = True) -> None:
    driver.get(console.url + page + (f"?token={console.token}" if token else ""))


def test_the_page_lists_plugins_of_all_five_models(driver: Any, console: Console) -> None:
    open_page(driver, console, "plugins")
    models = dict(
        driver.execute_script(
            "return [...document.querySelectorAll('#plugins tbody tr[data-name]')]"
            ".map((r) => [r.dataset.name, r.dataset.model]);"
        )
    )
    for name, model in ONE_OF_EACH.items():
        assert models.get(name) == model, (name, models)
    assert "token" not in driver.current_url  # taken into the tab's storage, off the address
    screenshot(driver, "plugins")


def test_an_event_published_on_the_host_appears_within_a_second(
    driver: Any, console: Console
) -> None:
    open_page(driver, console, "events")
    wait(driver, 10, lambda d: css("#stream-state")(d).text == "live", "the stream to open")
    event = console.runner.publish("console.browser.hello", greeting="hi")
    row = f'#events tr[data-seq="{event.seq}"]'
    shown = wait(driver, 1.0, text(row), "the event's row")
    assert css(row)(driver).get_attribute("data-topic") == "console.browser.hello"
    assert '"greeting":"hi"' in shown.replace(" ", "")
    assert css("#last-seq")(driver).text == str(event.seq)
    screenshot(driver, "events")


def test_cancelling_a_running_task_from_the_page_ends_it_canceled(
    driver: Any, console: Console
) -> None:
    task_id = console.runner.run_command("tasks.send", name=COUNTDOWN, args=[3000, 0.01])["id"]
    try:
        open_page(driver, console, "tasks")
        row = f'#tasks tr[data-id="{task_id}"]'
        wait(driver, 15, css(f'{row}[data-status="running"] progress'), "the task running")
        screenshot(driver, "tasks")
        click(driver, f"{row} button[data-action]", "the cancel button")
        wait(driver, 15, css(f'{row}[data-status="canceled"]'), "the task canceled")
        assert console.runner.run_command("tasks.status", id=task_id)["status"] == "canceled"
    finally:
        console.runner.run_command("tasks.cancel", id=task_id)


def test_without_the_token_an_action_is_refused_and_changes_nothing(
    driver: Any, console: Console
) -> None:
    task_id = console.runner.run_command("tasks.send", name=COUNTDOWN, args=[3000, 0.01])["id"]
    try:
        driver.get(console.url + "plugins")
        driver.execute_script("sessionStorage.removeItem('plugyard-token')")
        open_page(driver, console, "tasks", token=False)
        row = f'#tasks tr[data-id="{task_id}"]'
        wait(driver, 15, css(f'{row}[data-status="running"]'), "the task running")
        click(driver, f"{row} button[data-action]", "the cancel button")
        message = wait(driver, 5, lambda d: css("#message")(d).text, "the refusal")
        assert "401" in message and "token" in message
        assert console.runner.run_command("tasks.status", id=task_id)["status"] == "running"
    finally:
        console.runner.run_command("tasks.cancel", id=task_id)


def test_a_lifecycle_install_from_the_cli_shows_its_progress_while_it_runs(
    driver: Any, console: Console
) -> None:
    """``plugyard lifecycle install`` in another process, on the storage the host reads:
    the deployments page shows the execution running (operations done of total, the log
    lines), then its success once the gate file lets the start operations finish."""
    storage = console.host.config.to_dict()["lifecycle"]["storage_dir"]
    config = console.tmp / "cli.toml"
    config.write_text(
        f"[host]\nruntime_dir = {json.dumps(str(console.tmp / 'cli-run'))}\n"
        f"[lifecycle]\nstorage_dir = {json.dumps(storage)}\n",
        encoding="utf-8",
    )
    gate = console.tmp / "gate"
    open_page(driver, console, "deployments")
    command = [PLUGYARD, "lifecycle", "install", str(GATED), "-d", "gated", "-c", str(config)]
    cli = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        section = '.deployment[data-name="gated"] .execution'
        running = wait(
            driver,
            60,
            text(f'{section}[data-status="started"] .ops'),
            "the install running on the deployments page",
        )
        assert " of " in running and "operations" in running
        wait(driver, 30, lambda d: " of 6 " in (text(f"{section} .ops")(d) or ""), "the total")
        wait(driver, 30, css(f"{section} details"), "the install's log lines")
        screenshot(driver, "deployments")
        gate.touch()
        wait(driver, 60, css(f'{section}[data-status="succeeded"]'), "the install's success")
        done = wait(driver, 10, text(f'{section}[data-status="succeeded"] .ops'), "the count")
        assert done.startswith("6 of 6 operations"), done
    finally:
        gate.touch()
        out, _ = cli.communicate(timeout=60)
    assert cli.returncode == 0, out


def test_the_dashboard_during_plugyard_demo_keep_running(driver: Any, tmp_path: Path) -> None:
    """The README's picture: ``plugyard demo --keep-running`` told its story and holds the
    host up; the dashboard it prints shows the plugins of all five models, started."""
    import signal
    import threading

    folder = tmp_path / "demo"
    demo = subprocess.Popen(
        [PLUGYARD, "demo", "--dir", str(folder), "--keep-running"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    held = threading.Event()

    def read() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                held.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert held.wait(150), "".join(lines)
        url = next(line.split()[1] for line in lines if line.strip().startswith("open http"))
        driver.set_window_size(1400, 1000)
        driver.get(url + "plugins?state=started")
        script = (
            "return [...document.querySelectorAll('#plugins tbody tr[data-name]')]"
            ".map((r) => [r.dataset.model, r.dataset.state]);"
        )
        want = {"lifecycle", "zmq", "asyncio", "celery", "pod"}

        def five_models(d: Any) -> Any:
            rows = d.execute_script(script)
            return want <= {model for model, _ in rows} and rows

        rows = wait(driver, 20, five_models, "plugins of the five models")
        assert {state for _, state in rows} == {"started"}
        screenshot(driver, "demo")
    finally:
        driver.set_window_size(1280, 860)
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(90)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait(10)
        reader.join(10)
    assert demo.returncode == 0, "".join(lines)
    assert "steps: 6 of 6 happened" in "".join(lines)
