"""Shared fixtures: a fresh kit home per test, and the real twin running on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from komet_ftd_ops.sandbox import control
from komet_ftd_ops.settings.home import Home

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Twin:
    """A running twin (started as `komet-ftd-ops sandbox up` does) and its info.json."""

    home: Path
    info: dict[str, Any]

    @property
    def kit(self) -> Home:
        return Home.at(self.home)

    @property
    def komet_url(self) -> str:
        return self.info["komet"]["root_url"]

    @property
    def ftd_url(self) -> str:
        return self.info["ftd"]["base_url"]

    def control(self, service: str, method: str, path: str, **kwargs: Any) -> Any:
        """Call a /_sandbox/ control route of one twin and return its JSON."""
        base = self.komet_url if service == "komet" else self.ftd_url
        response = httpx.request(method, f"{base}/_sandbox/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        control.down(self.kit)


# Every Komet switch (komet/switches.py) at the value the twin served before switches existed.
# For kit tests written against that twin, until the kit handles the hardest readings; the
# twin's own default stays the hardest (SWITCHES[...].default).
LEGACY_SWITCHES: dict[str, str] = {
    "invoice_exists": "checkout",
    "link_fields": "both",
    "merge_invoices": "no",
    "max_rows": "500",
    "quota_window": "utc_day",
    "late_writes": "never",
    "customer_shipto_list": "yes",
    "fee_on_invoice": "none",
    "messages": "table",
    "customer_checkout": "yes",
}


def start_twin(
    home: Path,
    *,
    lines: int = 300,
    seed: int = 7,
    timeout: float = 30,
    switches: dict[str, Any] | None = None,
) -> Twin:
    """Start the twin; `switches` (any names `POST /_sandbox/settings` takes) are set before
    it is handed over, e.g. `start_twin(home, switches={"invoice_exists": "checkout"})`."""
    running = Twin(home, control.up(Home.at(home), lines=lines, seed=seed, timeout=timeout))
    if switches:
        running.control("komet", "POST", "settings", json=switches)
    return running


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "switches(**values): Komet twin switches for the `twin` fixture, e.g. "
        "@pytest.mark.switches(link_fields='both'), or @pytest.mark.switches(LEGACY_SWITCHES)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first: `make test` spreads the suite over the cores (pytest-xdist), and a
    ten-minute simulation that starts last keeps one core busy after the rest are done."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def marked_switches(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The switch values of the test's `switches` marker(s): a dict argument and/or keywords."""
    values: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("switches"))):
        for arg in marker.args:
            values.update(arg)
        values.update(marker.kwargs)
    return values


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh KOMET_FTD_OPS_HOME for each test."""
    monkeypatch.setenv("KOMET_FTD_OPS_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def kit(home: Path) -> Home:
    """The same home as the `Home` value the kit's functions take."""
    return Home.at(home)


@pytest.fixture
def twin(home: Path, request: pytest.FixtureRequest) -> Iterator[Twin]:
    """Both twins, freshly seeded (300 lines, seed 7), on free loopback ports; Komet's switches
    at their hardest unless the test says otherwise with `@pytest.mark.switches(...)`."""
    running = start_twin(home, switches=marked_switches(request))
    try:
        yield running
    finally:
        running.stop()


# An offline profile named "test" (nothing listens on port 9): for runner and scheduler tests
# that need a profile and its secrets but no service. The Komet token holds HTML- and
# JSON-escaping characters on purpose, so the secret scan must find every escaped form.
TEST_KOMET_TOKEN = 'komet-test-token-5f2a9c&"x'
TEST_FTD_TOKEN = "ftd-test-token-81be44"
TEST_PROFILE_TOML = """
[komet]
base_url = "http://127.0.0.1:9/"
company_id = "c1"
ftd_customer_id = "f1"
token = "env:TEST_KOMET_TOKEN"

[ftd]
base_url = "http://127.0.0.1:9/"
supplier_id = "s1"
token = "env:TEST_FTD_TOKEN"

[sync]
deadline_seconds = 60
"""


@pytest.fixture
def profile(home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The offline `test` profile under the test's home; returns its name."""
    monkeypatch.setenv("TEST_KOMET_TOKEN", TEST_KOMET_TOKEN)
    monkeypatch.setenv("TEST_FTD_TOKEN", TEST_FTD_TOKEN)
    (home / "profiles").mkdir()
    (home / "profiles" / "test.toml").write_text(TEST_PROFILE_TOML)
    return "test"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loopback only: never let a proxy variable route twin traffic elsewhere.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
