"""Alerts on health transitions, through apprise to real receivers on loopback.

An HTTP endpoint (http.server in a thread) stands for a webhook (`json://`), an aiosmtpd server
for e-mail (`mailto://`, plain SMTP with a login, no TLS). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner
from conftest import TEST_FTD_TOKEN, TEST_PROFILE_TOML

from komet_ftd_ops.cli.reconcile import health as health_command
from komet_ftd_ops.errors import ConfigError
from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.runs.alerts import CRITICAL, OK, alert_on_health_change, heard
from komet_ftd_ops.runs.health import check_health
from komet_ftd_ops.runs.index import FAILED
from komet_ftd_ops.runs.index import OK as RUN_OK
from komet_ftd_ops.runs.runner import run_notebook
from komet_ftd_ops.runs.secretscan import profile_secrets
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile, profile_from_dict
from komet_ftd_ops.settings.secrets import write_secret

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
HOOK_PASSWORD = "hook-pass-3d9f1b"
MAIL_PASSWORD = "mail-pass-a71c0e"
ALERTS_TOML = '\n[alerts]\ntargets = ["env:KOMET_FTD_ALERT_URL", "file:alert_mail"]\n'


# --- receivers ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HttpReceiver:
    port: int
    posts: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    def url(self, path: str = "hook") -> str:
        return f"json://alerts:{HOOK_PASSWORD}@127.0.0.1:{self.port}/{path}"


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    server: ThreadingHTTPServer
    receiver: HttpReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.raw.append(body)
            receiver.posts.append({"path": self.path, **json.loads(body)})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:  # quiet test output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = HttpReceiver(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SmtpReceiver:
    port: int
    mails: list[bytes] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def url(self) -> str:
        return (
            f"mailto://kit:{MAIL_PASSWORD}@127.0.0.1:{self.port}"
            f"?from=kit@example.com&to=ops@example.com&mode=insecure"
        )


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(_free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            receiver.mails.append(envelope.original_content or envelope.content)
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        if isinstance(auth, LoginPassword):
            receiver.logins.append((auth.login.decode(), auth.password.decode()))
            return AuthResult(success=auth.password.decode() == MAIL_PASSWORD)
        return AuthResult(success=False)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=receiver.port,
        authenticator=authenticator,
        auth_require_tls=False,  # loopback only; apprise's mailto:// in mode=insecure
    )
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()


# --- the profile and its state --------------------------------------------------------------


@pytest.fixture
def alert_home(
    home: Path,
    profile: str,
    http_receiver: HttpReceiver,
    smtp_receiver: SmtpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> Home:
    """The offline `test` profile with two alert targets: a webhook and a mailbox."""
    (home / "profiles" / "test.toml").write_text(TEST_PROFILE_TOML + ALERTS_TOML)
    monkeypatch.setenv("KOMET_FTD_ALERT_URL", http_receiver.url())
    kit = Home.at(home)
    write_secret("alert_mail", smtp_receiver.url(), kit)
    return kit


def _sync_row(kit: Home, status: str, reason: str | None = None, ago_min: float = 1.0) -> None:
    started = datetime.now(UTC) - timedelta(minutes=ago_min)
    run_id = f"{started:%Y%m%dT%H%M%S%fZ}-sync"
    with kit.open_store() as store:
        runs.create_run(
            store,
            run_id=run_id,
            profile="test",
            kind="sync",
            started_at=started,
            kit_version="test",
        )
        runs.finish_run(store, run_id, status=status, duration_s=1.0, reason=reason)


def _check(kit: Home) -> list[Any]:
    with kit.open_store() as store:
        return alert_on_health_change(store, kit, "test")


def _mail_text(raw: bytes) -> tuple[str, str]:
    mail = message_from_bytes(raw, policy=policy.default)
    part = mail.get_body(preferencelist=("plain", "html"))
    assert part is not None
    return str(mail["Subject"]), str(part.get_content())


# --- tests ----------------------------------------------------------------------------------


def test_one_message_per_transition_and_none_while_the_state_stays(
    alert_home: Home, http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver
) -> None:
    # No sync has ever succeeded: critical, announced once to each target.
    sent = _check(alert_home)
    assert [(d.target, d.state, d.sent) for d in sent] == [
        ("env:KOMET_FTD_ALERT_URL", CRITICAL, True),
        ("file:alert_mail", CRITICAL, True),
    ]
    assert len(http_receiver.posts) == 1 and len(smtp_receiver.mails) == 1
    with alert_home.open_store() as store:
        line = check_health(store, "test").line()
    post = http_receiver.posts[0]
    assert post["path"] == "/hook" and "critical" in post["title"]
    assert post["message"] == line and line.startswith("critical: test: no sync has ever")
    subject, body = _mail_text(smtp_receiver.mails[0])
    assert "critical" in subject and line in body
    assert smtp_receiver.logins == [("kit", MAIL_PASSWORD)]  # the credential went to the login

    # Still critical: nothing more, however often it is checked.
    assert _check(alert_home) == [] and _check(alert_home) == []
    assert len(http_receiver.posts) == 1 and len(smtp_receiver.mails) == 1

    # A sync succeeds: ok again, once.
    _sync_row(alert_home, RUN_OK)
    assert [d.state for d in _check(alert_home)] == [OK, OK]
    assert _check(alert_home) == []
    assert len(http_receiver.posts) == 2 and len(smtp_receiver.mails) == 2
    assert "ok again" in http_receiver.posts[1]["title"]
    assert http_receiver.posts[1]["message"].startswith("ok: test: last sync ok")
    with alert_home.open_store() as store:
        assert heard(store, "test") == {"env:KOMET_FTD_ALERT_URL": OK, "file:alert_mail": OK}


def test_no_secret_in_any_message_or_log(
    alert_home: Home,
    http_receiver: HttpReceiver,
    smtp_receiver: SmtpReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A failure reason that holds a token (a row written by hand, not by the runner's scrub),
    # so the health line itself carries the secret into the message unless the alert masks it.
    _sync_row(alert_home, RUN_OK, ago_min=90)
    for _ in range(3):
        _sync_row(alert_home, FAILED, reason=f"401 for token {TEST_FTD_TOKEN}")
    with alert_home.open_store() as store:
        assert TEST_FTD_TOKEN in check_health(store, "test").line()  # the test can fail
    with caplog.at_level(logging.DEBUG):
        assert all(d.sent for d in _check(alert_home))
    texts = [raw.decode("utf-8", "replace") for raw in http_receiver.raw]
    texts += [raw.decode("utf-8", "replace") for raw in smtp_receiver.mails]
    texts += [caplog.text]
    assert len(texts) == 3 and "3 sync cycles failed in a row" in texts[0]
    assert "***" in http_receiver.posts[0]["message"]
    for text in texts:
        for secret in (TEST_FTD_TOKEN, HOOK_PASSWORD, MAIL_PASSWORD):
            assert secret not in text


def test_a_receiver_that_is_down_is_logged_and_retried_by_the_next_check(
    alert_home: Home,
    http_receiver: HttpReceiver,
    smtp_receiver: SmtpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = f"json://alerts:{HOOK_PASSWORD}@127.0.0.1:{_free_port()}/hook"
    monkeypatch.setenv("KOMET_FTD_ALERT_URL", closed)
    with caplog.at_level(logging.DEBUG):
        sent = _check(alert_home)
    assert [(d.target, d.sent) for d in sent] == [
        ("env:KOMET_FTD_ALERT_URL", False),
        ("file:alert_mail", True),
    ]
    assert "alert to env:KOMET_FTD_ALERT_URL" in caplog.text and "next check retries" in caplog.text
    assert HOOK_PASSWORD not in caplog.text and MAIL_PASSWORD not in caplog.text
    with alert_home.open_store() as store:
        assert heard(store, "test") == {"file:alert_mail": CRITICAL}

    # The webhook is back: the next check tells it, and only it (the mailbox already knows).
    monkeypatch.setenv("KOMET_FTD_ALERT_URL", http_receiver.url())
    assert [(d.target, d.sent) for d in _check(alert_home)] == [("env:KOMET_FTD_ALERT_URL", True)]
    assert len(http_receiver.posts) == 1 and len(smtp_receiver.mails) == 1
    assert _check(alert_home) == []


def test_runs_alert_after_they_finish_and_a_dead_receiver_never_fails_one(
    alert_home: Home,
    http_receiver: HttpReceiver,
    smtp_receiver: SmtpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def run(name: str) -> runs.RunRecord:
        return run_notebook(
            "sync",
            "test",
            parameters={},
            home=alert_home,
            deadline_s=60,
            notebook=FIXTURES / f"{name}.ipynb",
        )

    # A failed first run: critical, announced by the runner itself.
    assert run("quota").status == FAILED
    assert len(http_receiver.posts) == 1 and "critical" in http_receiver.posts[0]["title"]
    assert "QuotaExceeded" not in http_receiver.posts[0]["message"]  # silence, not the streak

    # Both receivers down while the kit recovers: the run is still ok, the news waits.
    monkeypatch.setenv("KOMET_FTD_ALERT_URL", f"json://127.0.0.1:{_free_port()}/hook")
    write_secret("alert_mail", f"mailto://kit:{MAIL_PASSWORD}@127.0.0.1:{_free_port()}"
                 "?from=kit@example.com&to=ops@example.com&mode=insecure", alert_home)  # fmt: skip
    assert run("quiet").status == RUN_OK
    assert len(http_receiver.posts) == 1 and len(smtp_receiver.mails) == 1

    # Back up: the next run delivers "ok again" once; the one after sends nothing.
    monkeypatch.setenv("KOMET_FTD_ALERT_URL", http_receiver.url())
    write_secret("alert_mail", smtp_receiver.url(), alert_home)
    assert run("quiet").status == RUN_OK
    assert run("quiet").status == RUN_OK
    assert [p["title"] for p in http_receiver.posts][1:] == ["komet-ftd-ops test: ok again"]
    assert len(smtp_receiver.mails) == 2


def test_alert_target_urls_are_secrets_the_run_scan_looks_for(alert_home: Home) -> None:
    values = profile_secrets("test", alert_home)
    assert f"json://alerts:{HOOK_PASSWORD}@127.0.0.1:" in " ".join(values)
    assert HOOK_PASSWORD in values and MAIL_PASSWORD in values  # alone too, as printed by a bug


def test_alert_targets_must_be_secret_references(home: Path, profile: str) -> None:
    kit = Home.at(home)
    assert load_profile("test", kit).alerts.targets == ()
    path = home / "profiles" / "test.toml"
    path.write_text(TEST_PROFILE_TOML + '\n[alerts]\ntargets = ["json://u:p@127.0.0.1/x"]\n')
    with pytest.raises(ConfigError, match=r"alerts\.targets\[0\] must be a secret reference"):
        load_profile("test", kit)
    path.write_text(TEST_PROFILE_TOML + '\n[alerts]\ntargets = "env:X"\n')
    with pytest.raises(ConfigError, match="must be a list"):
        load_profile("test", kit)


def test_the_health_command_alerts_on_a_change_under_any_scheduler(
    alert_home: Home, http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver
) -> None:
    red = CliRunner().invoke(health_command, ["--profile", "test"])
    assert red.exit_code == 2, red.output  # the exit code is health's, whatever the alert did
    assert [p["message"] for p in http_receiver.posts] == [red.output.strip()]
    assert CliRunner().invoke(health_command, ["--profile", "test"]).exit_code == 2
    assert len(http_receiver.posts) == 1 and len(smtp_receiver.mails) == 1

    _sync_row(alert_home, RUN_OK)
    green = CliRunner().invoke(health_command, ["--profile", "test"])
    assert green.exit_code == 0 and "ok again" in http_receiver.posts[-1]["title"]
    assert len(http_receiver.posts) == 2 and len(smtp_receiver.mails) == 2


def test_the_example_profile_shows_alerts_without_targets() -> None:
    example = Path(__file__).parents[1] / "profiles" / "example.toml"
    data = tomllib.loads(example.read_text())
    assert "alerts" in data and profile_from_dict("acme", data).alerts.targets == ()
