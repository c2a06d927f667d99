"""Shared fixtures: a fresh kit home per test, and the real twin running on loopback."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pg
import pytest

from komet_ftd_ops.sandbox import control
from komet_ftd_ops.settings.home import Home

REPO = Path(__file__).resolve().parents[1]


def _airflow_installed() -> bool:
    # tests/ is on sys.path, so tests/airflow/ alone looks like a namespace package `airflow`
    # (no origin); Airflow itself is a regular package.
    spec = importlib.util.find_spec("airflow")
    return spec is not None and spec.origin is not None


# tests/airflow/ runs in its own virtualenv (`make airflow`: Airflow pins its own dependencies);
# where Airflow is not installed, as in .venv, pytest does not even import those files.
collect_ignore = [] if _airflow_installed() else ["airflow"]


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
    config.addinivalue_line(
        "markers",
        "postgres: needs the throwaway PostgreSQL cluster (tests/pg.py; `make postgres`)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first, the longest (by its timeout) at the head: `make test` spreads the
    suite over the cores (pytest-xdist, `--dist worksteal`: an idle worker takes queued tests
    from a busy one), and a ten-minute simulation that starts last keeps one core busy after
    the rest are done. Second comes a quick test: an xdist worker takes its next test before it
    runs the current one, so the test queued behind the simulation cannot be stolen."""

    def budget(item: pytest.Item) -> float:
        marker = item.get_closest_marker("timeout")
        return float(marker.args[0]) if marker is not None and marker.args else 0.0

    slow = sorted((i for i in items if i.get_closest_marker("slow")), key=budget, reverse=True)
    quick = [i for i in items if i.get_closest_marker("slow") is None]
    items[:] = slow[:1] + quick[:1] + slow[1:] + quick[1:]


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


# --- PostgreSQL: one throwaway cluster per pytest process (tests/pg.py) ----------------------

DATABASE_URL_VARIABLE = "KOMET_FTD_OPS_DATABASE_URL"
KIT_TEMPLATE = "kit_template"  # migrated once per cluster; each test's database is a copy


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg.Cluster]:
    """A PostgreSQL cluster of this pytest process (xdist: of this worker), started on first
    use, stopped at the end of the session (or by its watchdog if the session dies)."""
    try:
        cluster = pg.start_cluster()
    except pg.PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def _kit_template(postgres_server: pg.Cluster) -> str:
    """A database at the kit's head revision (as `komet-ftd-ops db upgrade` leaves it)."""
    from komet_ftd_ops.state.store import Store

    Store(postgres_server.create_database(KIT_TEMPLATE), upgrade=True).close()
    return KIT_TEMPLATE


@pytest.fixture
def postgres_url(postgres_server: pg.Cluster, _kit_template: str) -> str:
    """A fresh database for this test, already migrated: its SQLAlchemy URL (no password)."""
    return postgres_server.create_database(template=_kit_template)


@pytest.fixture
def postgres_empty_url(postgres_server: pg.Cluster) -> str:
    """A fresh empty database (no tables): for migration tests."""
    return postgres_server.create_database()


@dataclass(frozen=True)
class StateBackend:
    """The state database a test runs on: `name` "sqlite" (the home's file, `url` None) or
    "postgresql" (`url`, also in KOMET_FTD_OPS_DATABASE_URL for every process the test starts)."""

    name: str
    url: str | None = None


def write_database_url(home: Path, url: str) -> None:
    """Point a home at a database through its settings file, as a user would."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "komet-ftd-ops.toml"
    text = path.read_text() if path.exists() else ""
    path.write_text(f'database_url = "{url}"\n{text}')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> StateBackend:
    """Run the test on both state backends; on PostgreSQL a fresh migrated database, named by
    KOMET_FTD_OPS_DATABASE_URL (inherited by the subprocesses and kernels a test starts)."""
    if request.param == "sqlite":
        monkeypatch.delenv(DATABASE_URL_VARIABLE, raising=False)
        return StateBackend("sqlite")
    url = request.getfixturevalue("postgres_url")  # the cluster starts only when needed
    monkeypatch.setenv(DATABASE_URL_VARIABLE, url)
    return StateBackend("postgresql", url)
