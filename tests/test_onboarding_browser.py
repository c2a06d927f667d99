"""The onboarding notebook in a real browser: JupyterLab headless, Chromium through Playwright.

What an analyst does: open the notebook, Run > Run All Cells, paste the token into the password
field, tick "check write methods", press Check token, read the outcome, press the hand-off
button. The page is read as the analyst sees it; a screenshot is kept in
test-output/onboarding.png.

Chromium is Debian's package (/usr/bin/chromium), driven through Playwright's Python API with
`executable_path`: nothing is downloaded. `make test` installs the package when it is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import REPO, Twin

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOT = REPO / "test-output" / "onboarding.png"
TIMEOUT_MS = 90_000

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def lab(twin: Twin, home: Path, tmp_path: Path) -> Iterator[str]:
    """JupyterLab on a free loopback port, no token, serving a copy of the notebooks."""
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(REPO / "notebooks" / "onboarding.ipynb", root / "onboarding.ipynb")
    _lab_settings(tmp_path / "settings")
    port = _free_port()
    env = {
        **os.environ,
        "KOMET_FTD_OPS_HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    log = (tmp_path / "lab.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
            *(["--allow-root"] if os.geteuid() == 0 else []),  # containers often run as root
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, server, tmp_path / "lab.log")
        yield url
    finally:
        _stop(server)
        log.close()


def _lab_settings(folder: Path) -> None:
    """A fresh user's JupyterLab, minus the two pop-ups that would cover the page: the kernel
    picker (start the notebook's own kernel) and the question about fetching Jupyter news."""
    settings = {
        "notebook-extension/tracker": {"autoStartDefaultKernel": True},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }
    for name, values in settings.items():
        path = folder / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _wait_for(url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited at start:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/api/status", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"JupyterLab did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM: JupyterLab shuts its kernels down; then make sure the whole group is gone."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium, checked before JupyterLab and the twin start. Missing is a failure,
    not a skip: a browser test that silently skips proves nothing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test drives Debian's Chromium. `make test` "
            f"installs it (apt-get install -y chromium); or set CHROMIUM=/path/to/chromium."
        )
    return CHROMIUM


def test_onboarding_in_jupyterlab_with_chromium(chromium: Path, lab: str, twin: Twin) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # JupyterLab's first load is slow on a cold cache
    token = twin.info["komet"]["tokens"]["customer"]
    SCREENSHOT.parent.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        try:
            _run_all_cells(page, f"{lab}/lab/tree/onboarding.ipynb")
            # The analyst pastes the token, ticks the write check, and presses Check token.
            page.locator(".kfo-token input").fill(token)
            page.get_by_text("also check write methods").click()
            page.locator(".kfo-check-token").click()
            expect(page.locator(".kfo-token-status")).to_contain_text(
                "file:komet_customer_token_sandbox"
            )
            statuses = page.locator(".kfo-check-result td.kfo-status")
            expect(statuses).to_have_count(12)
            expect(page.locator(".kfo-check-summary")).to_contain_text(
                "11 ok, 1 denied"
            )  # ship-tos: hardest switch
            texts = statuses.all_inner_texts()
            assert texts.count("ok") == 11 and texts.count("denied") == 1  # customer.shipto.list
            assert page.locator(".kfo-token input").input_value() == ""  # field emptied
            summary = page.locator(".kfo-check-summary").inner_text()
            assert "bound to 5" in summary and "FTD Inc" in summary
            page.locator(".kfo-check-result").scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOT))
            # Step 5: the hand-off.
            page.locator(".kfo-finish").click()
            expect(page.locator(".kfo-preflight")).to_have_text("Preflight: PASS")
            assert token not in page.content()
        except Exception:
            page.screenshot(path=str(SCREENSHOT.with_name("onboarding-failed.png")))
            raise
        finally:
            browser.close()


def _run_all_cells(page: object, url: str) -> None:
    """Open the notebook, wait for its kernel, then Run > Run All Cells from the menu."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(url)
    expect(page.locator(".jp-NotebookPanel .jp-Cell").first).to_be_visible()
    # Run All before the kernel is connected runs nothing: wait for the status bar to say so.
    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    # The last cell has run when the hand-off output appears (auto_run in the sandbox).
    expect(page.locator(".kfo-preflight")).to_be_visible(timeout=TIMEOUT_MS)
