"""Profiles, secret references and the state store."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from komet_ftd_ops.errors import ConfigError
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile
from komet_ftd_ops.settings.secrets import Secret, resolve_secret, write_secret
from komet_ftd_ops.state.calls import CallCounter
from komet_ftd_ops.state.sqlite_file import SQLiteFile
from komet_ftd_ops.state.store import Store

PROFILE = """
[komet]
base_url = "https://api.kometsales.com/api"
company_id = "1207"
ftd_customer_id = "4821"
token = "env:KOMET_FTD_TOKEN"
paid_users = 3

[ftd]
base_url = "https://ftd.example"
supplier_id = "SUP-1"
token = "file:ftd_token"

[sync]
markup_pct = 5.0
exclude_colors = ["Black"]
"""


def write_profile(home: Path, name: str, text: str) -> None:
    (home / "profiles").mkdir(exist_ok=True)
    (home / "profiles" / f"{name}.toml").write_text(text)


def test_a_profile_names_references_never_secrets(home: Path) -> None:
    write_profile(home, "acme", PROFILE)
    profile = load_profile("acme", Home.at(home))
    assert profile.komet_base_url == "https://api.kometsales.com/api/"
    assert profile.daily_quota == 3000
    assert profile.sync.exclude_colors == ("Black",)
    assert profile.secret_refs() == {
        "komet_token": "env:KOMET_FTD_TOKEN",
        "ftd_token": "file:ftd_token",
    }


def test_a_literal_token_in_a_profile_is_refused_without_echoing_it(home: Path) -> None:
    write_profile(home, "bad", PROFILE.replace('"env:KOMET_FTD_TOKEN"', '"abc123SECRETtoken"'))
    with pytest.raises(ConfigError) as caught:
        load_profile("bad", Home.at(home))
    assert "secret reference" in str(caught.value)
    assert "abc123SECRETtoken" not in str(caught.value)


def test_unknown_settings_and_missing_fields_are_named(home: Path) -> None:
    write_profile(home, "typo", PROFILE + "\nmarkup = 3\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_profile("typo", Home.at(home))
    write_profile(home, "short", PROFILE.replace('company_id = "1207"\n', ""))
    with pytest.raises(ConfigError, match=r"komet\.company_id"):
        load_profile("short", Home.at(home))
    with pytest.raises(ConfigError, match="no profile 'nope'"):
        load_profile("nope", Home.at(home))


def test_secrets_resolve_from_env_and_a_0600_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOMET_FTD_TOKEN", "k" * 50)
    assert resolve_secret("env:KOMET_FTD_TOKEN", Home.at(home)).reveal() == "k" * 50
    ref = write_secret("ftd_token", "f" * 40, Home.at(home))
    assert ref == "file:ftd_token"
    assert (os.stat(home / "secrets.toml").st_mode & 0o777) == 0o600
    assert resolve_secret(ref, Home.at(home)).reveal() == "f" * 40
    os.chmod(home / "secrets.toml", 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        resolve_secret(ref, Home.at(home))
    with pytest.raises(ConfigError, match="MISSING_VAR"):
        resolve_secret("env:MISSING_VAR", Home.at(home))


def test_the_sandbox_profile_needs_the_twin_running(home: Path) -> None:
    with pytest.raises(ConfigError, match="sandbox up"):
        load_profile("sandbox", Home.at(home))


def test_a_secret_prints_as_stars_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("s3cr3t-value-0123456789")
    logging.getLogger("t").warning("token %s %r", secret, secret)
    rendered = [str(secret), repr(secret), f"{secret}", f"{secret!r}", caplog.text, str([secret])]
    assert all("s3cr3t" not in text for text in rendered)
    assert secret.masked().endswith("6789") and secret.masked().startswith("***")
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(secret)


def test_store_transactions_roll_back_and_calls_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with Store(path) as store:
        store.put("p", "k", {"a": 1})
        with pytest.raises(RuntimeError), store.atomic() as db:
            db.execute("INSERT INTO kv VALUES ('p', 'half', '1', 'x')")
            raise RuntimeError("crash mid-transaction")
        assert store.get("p", "half") is None
        counter = CallCounter(store)
        for _ in range(3):
            counter("ecommerce/inventory.list")
        store.put_text("p", "doc", '{"b": [1, 2]}')  # JSON text already encoded: as it is
        assert store.get_text("p", "missing") is None
    with Store(path) as store:
        assert store.get("p", "k") == {"a": 1}
        assert store.get("p", "doc") == {"b": [1, 2]}
        assert store.get_text("p", "doc") == '{"b": [1, 2]}'
        assert store.get_text("p", "k") == '{"a": 1}'
        assert CallCounter(store).today() == 3
        assert store.migrate() == []  # migrations run once


def test_a_semicolon_in_a_migration_comment_or_string_is_not_a_statement_end(
    tmp_path: Path,
) -> None:
    migrations = [
        (
            "a",
            "CREATE TABLE t (x TEXT DEFAULT ';'); -- one; two\nCREATE TABLE u (y INT) -- last; no end",
        ),
    ]
    with SQLiteFile(tmp_path / "m.sqlite3", migrations=migrations) as store:  # the twin's
        names = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"t", "u"} <= names


def test_many_processes_opening_a_new_state_file_at_once_all_succeed(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "state.sqlite3"
    code = (
        "import sys; from komet_ftd_ops.state.store import Store\n"
        "from komet_ftd_ops.state.calls import CallCounter\n"
        "with Store(sys.argv[1]) as s: CallCounter(s)('x')\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [e for e in errors if e][:1]
    with Store(path) as store:
        assert CallCounter(store).today() == 8


# --- where the state database is: database_url --------------------------------------------

DB_PASSWORD = "pg-Pa55word-never-shown"


def write_settings(home: Path, text: str) -> None:
    (home / "komet-ftd-ops.toml").write_text(text)


def test_the_state_database_is_the_variable_then_the_settings_file_then_the_home_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KOMET_FTD_OPS_DATABASE_URL", raising=False)
    kit = Home.at(home)
    assert kit.state_file() == kit.state_db  # nothing set: the SQLite file in the home
    write_settings(home, 'database_url = "sqlite:///elsewhere/s.sqlite3"\n')
    assert kit.state_file() == kit.root / "elsewhere" / "s.sqlite3"  # relative: the home's
    with kit.open_store() as store:
        assert store.backend == "sqlite" and store.path == kit.root / "elsewhere" / "s.sqlite3"
    assert (home / "elsewhere" / "s.sqlite3").stat().st_size > 0

    write_settings(home, 'database_url = "env:KFO_DB"\n')
    monkeypatch.setenv("KFO_DB", f"postgresql://kfo:{DB_PASSWORD}@db.example:5432/kfo")
    url = kit.database_url()
    assert url.drivername == "postgresql+psycopg" and url.password == DB_PASSWORD
    assert kit.state_file() is None
    assert DB_PASSWORD not in str(url) and DB_PASSWORD not in repr(url)

    write_secret("database_url", f"postgresql+psycopg://kfo:{DB_PASSWORD}@file.example/k", kit)
    write_settings(home, 'database_url = "file:database_url"\n')
    assert kit.database_url().host == "file.example"

    monkeypatch.setenv("KOMET_FTD_OPS_DATABASE_URL", "postgresql://o@override.example/k")
    assert kit.database_url().host == "override.example"  # the variable wins


@pytest.mark.parametrize(
    "value, said",
    [
        (f"mysql://kfo:{DB_PASSWORD}@db.example/kfo", "SQLite or on PostgreSQL"),
        (f"postgresql://kfo:{DB_PASSWORD}@db.example:notaport/kfo", "not a URL"),
        ("env:KFO_DB_MISSING", "KFO_DB_MISSING"),
        ("sqlite:///s.sqlite3?timeout=1", "sets SQLite options"),
    ],
    ids=["other-database", "bad-url", "unset-reference", "sqlite-options"],
)
def test_a_bad_database_url_is_one_line_without_the_password(
    home: Path, monkeypatch: pytest.MonkeyPatch, value: str, said: str
) -> None:
    monkeypatch.delenv("KOMET_FTD_OPS_DATABASE_URL", raising=False)
    write_settings(home, f'database_url = "{value}"\n')
    with pytest.raises(ConfigError, match=said) as caught:
        Home.at(home).open_store()
    assert DB_PASSWORD not in str(caught.value) and "\n" not in str(caught.value)


def test_an_unreachable_database_is_named_without_its_password() -> None:
    from komet_ftd_ops.errors import ConnectionFailed

    url = f"postgresql+psycopg://kfo:{DB_PASSWORD}@127.0.0.1:9/kfo?connect_timeout=2"
    with pytest.raises(ConnectionFailed, match="cannot connect to the state database") as caught:
        Store(url)
    assert DB_PASSWORD not in str(caught.value) and "kfo:***@127.0.0.1:9" in str(caught.value)
    assert caught.value.retryable  # exit 75: the next cycle tries again


def test_the_database_password_is_one_of_the_secrets_a_run_notebook_is_scanned_for(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from komet_ftd_ops.runs.secretscan import profile_secrets

    monkeypatch.delenv("KOMET_FTD_OPS_DATABASE_URL", raising=False)
    write_profile(home, "acme", PROFILE)
    assert not any(DB_PASSWORD in v for v in profile_secrets("acme", Home.at(home)))
    write_settings(home, 'database_url = "env:KFO_DB"\n')
    monkeypatch.setenv("KFO_DB", f"postgresql://kfo:{DB_PASSWORD}@db.example/kfo")
    values = profile_secrets("acme", Home.at(home))
    assert DB_PASSWORD in values  # alone: a traceback may print it without the URL
    assert any(v.startswith("postgresql") and DB_PASSWORD in v for v in values)
