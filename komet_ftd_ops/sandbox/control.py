"""Start, stop and steer the twin from the kit: what `komet-ftd-ops sandbox ...` calls.

The twin runs as its own process (`server.py`) so that it outlives one command, like the real
services do. Everything else is a call to its `/_sandbox/` control routes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx

from ..errors import ConfigError
from ..settings.home import Home
from . import faults as twin_faults
from .ftd.http import BODY_LIMIT


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_info(home: Home) -> dict[str, Any] | None:
    """The running twin's info, or None when no twin runs under this home."""
    path = home.sandbox_info
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if not _pid_alive(int(info.get("pid", 0))):
        path.unlink(missing_ok=True)  # left behind by a killed twin
        return None
    return info


def wholesaler_count(info: dict[str, Any]) -> int:
    """How many wholesalers the running twin serves (`sandbox up --wholesalers N`)."""
    return len(info.get("wholesalers", [])) or 1


def wholesaler(info: dict[str, Any], number: int) -> dict[str, Any]:
    """Wholesaler `number`'s {"komet": ..., "ftd": ...} (ids, tokens, URLs); ConfigError for
    one the twin does not serve."""
    if not 1 <= number <= wholesaler_count(info):
        raise ConfigError(
            f"the sandbox twin serves wholesalers 1..{wholesaler_count(info)}, not {number}; "
            f"start more with `komet-ftd-ops sandbox up --wholesalers N`."
        )
    if number == 1:
        return {"komet": info["komet"], "ftd": info["ftd"]}
    return dict(info["wholesalers"][number - 1])


def wholesaler_of(info: dict[str, Any], company_id: str) -> int:
    """The wholesaler whose Komet company is `company_id` (1 when none is: an edited profile)."""
    for number in range(1, wholesaler_count(info) + 1):
        if str(wholesaler(info, number)["komet"]["company_id"]) == str(company_id):
            return number
    return 1


def _answers(info: dict[str, Any]) -> bool:
    try:
        for url in (info["komet"]["root_url"], info["ftd"]["base_url"]):
            httpx.get(f"{url}/_sandbox/info", timeout=2).raise_for_status()
    except httpx.HTTPError:
        return False
    return True


def up(
    home: Home,
    *,
    komet_port: int = 0,
    ftd_port: int = 0,
    lines: int = 300,
    seed: int = 7,
    timeout: float = 60,
    ftd_max_body: int = BODY_LIMIT,
    wholesalers: int = 1,
) -> dict[str, Any]:
    """Start both twins in the background and return once they answer (or the running one).

    `ftd_max_body` is the FTD twin's request body limit in bytes (FTD's 5 MB by default); the
    twin publishes it in info.json, where the built-in `sandbox` profile takes it from.
    `wholesalers`: how many wholesalers both twins serve side by side (tenants.py); a running
    twin serving another number is refused (stop it first), never silently kept.
    """
    running = read_info(home)
    if running is not None:
        serving = wholesaler_count(running)
        if serving != wholesalers:
            raise ConfigError(
                f"the sandbox twin already runs with {serving} wholesaler(s), not {wholesalers}; "
                f"stop it first with `komet-ftd-ops sandbox down`."
            )
        return running
    folder = home.sandbox_dir
    folder.mkdir(parents=True, exist_ok=True)
    log = (folder / "twin.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "komet_ftd_ops.sandbox.server",
            "--home",
            str(home.root),
            "--komet-port",
            str(komet_port),
            "--ftd-port",
            str(ftd_port),
            "--lines",
            str(lines),
            "--seed",
            str(seed),
            "--ftd-max-body",
            str(ftd_max_body),
            "--wholesalers",
            str(wholesalers),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the terminal stops it only through `sandbox down`
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (folder / "twin.log").read_text(errors="replace")[-1500:]
            raise ConfigError(f"the twin exited at start (code {process.returncode}):\n{tail}")
        info = read_info(home)
        if info is not None and _answers(info):
            return info
        time.sleep(0.1)
    process.terminate()
    raise ConfigError(f"the twin did not answer within {timeout:.0f}s; see {folder / 'twin.log'}")


def active_faults_warning(info: dict[str, Any]) -> list[str]:
    """Lines for a person (stderr) naming the faults switched on and how to clear them; none
    when there are none. Faults live in the twin's file and survive a restart, so one left from
    an example would quietly break the next run: `sandbox up`, `status` and `make run` say so."""
    ctl = SandboxControl(info, timeout=10)
    try:
        listing = ctl.faults()
    except (httpx.HTTPError, ConfigError) as exc:
        return [f"could not list the active faults: {exc}"]
    finally:
        ctl.close()
    active = [twin_faults.Fault(**f) for s in listing.values() for f in s["faults"]]
    if not active:
        return []
    return [
        f"active faults: {'; '.join(f.describe() for f in active)}",
        "clear them with: komet-ftd-ops sandbox faults --clear",
    ]


def down(home: Home, timeout: float = 15) -> bool:
    """Stop the twin; True when one was running."""
    info = read_info(home)
    if info is None:
        return False
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)
        with contextlib.suppress(ChildProcessError):  # reap it when we started it
            os.waitpid(pid, os.WNOHANG)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    home.sandbox_info.unlink(missing_ok=True)
    return True


class SandboxControl:
    """Calls to the twin's `/_sandbox/` routes (never used by production code paths)."""

    def __init__(self, info: dict[str, Any], timeout: float = 60) -> None:
        self.info = info
        self.urls = {"komet": info["komet"]["root_url"], "ftd": info["ftd"]["base_url"]}
        self.http = httpx.Client(timeout=timeout)

    @classmethod
    def for_home(cls, home: Home) -> SandboxControl:
        info = read_info(home)
        if info is None:
            raise ConfigError(
                "the sandbox twin is not running; start it with `komet-ftd-ops sandbox up`."
            )
        return cls(info)

    def call(
        self,
        service: str,
        verb: str,
        path: str,
        body: dict[str, Any] | None = None,
        wholesaler: int = 1,
    ) -> Any:
        """One control route; `wholesaler`: whose company/supplier it acts on (tenants.py)."""
        params = {"wholesaler": str(wholesaler)} if wholesaler != 1 else None
        response = self.http.request(
            verb, f"{self.urls[service]}/_sandbox/{path}", json=body, params=params
        )
        try:
            data = response.json()
        except ValueError:
            data = {"error": {"message": response.text[:200]}}
        if response.status_code >= 400:
            message = data.get("error", {}).get("message") if isinstance(data, dict) else data
            raise ConfigError(f"sandbox {service} {path}: {message}")
        return data

    def dump(self, wholesaler: int = 1) -> dict[str, Any]:
        return {
            "komet": self.call("komet", "GET", "dump", wholesaler=wholesaler),
            "ftd": self.call("ftd", "GET", "dump", wholesaler=wholesaler),
        }

    def shop(
        self,
        orders: int,
        oversell: float = 0.0,
        seed: int | None = None,
        *,
        late: float = 0.0,
        outside_window: float = 0.0,
        florists: list[str] | None = None,
        wholesaler: int = 1,
    ) -> Any:
        """Florists check out (see sandbox/ftd/shop.py) with one supplier (`wholesaler`);
        `florists`: member codes, in turn."""
        body: dict[str, Any] = {"orders": orders, "oversell": oversell}
        if seed is not None:
            body["seed"] = seed
        if late:
            body["late"] = late
        if outside_window:
            body["outside_window"] = outside_window
        if florists:
            body["florists"] = florists
        return self.call("ftd", "POST", "shop", body, wholesaler=wholesaler)

    def confirm(self, invoice_id: str | None = None, wholesaler: int = 1) -> Any:
        body = {"invoice_id": invoice_id} if invoice_id else {"all": True}
        return self.call("komet", "POST", "confirm", body, wholesaler=wholesaler)

    def tamper(
        self,
        kind: str,
        count: int = 1,
        age_hours: float | None = None,
        seed: int | None = None,
        wholesaler: int = 1,
    ) -> Any:
        """Change Komet behind the kit's back (void, edit, extra, delete, never-confirm)."""
        body: dict[str, Any] = {"kind": kind, "count": count}
        if age_hours is not None:
            body["age_hours"] = age_hours
        if seed is not None:
            body["seed"] = seed
        return self.call("komet", "POST", "tamper", body, wholesaler=wholesaler)

    def settings(self, service: str = "komet", wholesaler: int = 1, **values: Any) -> Any:
        return self.call(service, "POST", "settings", values, wholesaler=wholesaler)

    def stock(self, sell_elsewhere: float, wholesaler: int = 1) -> Any:
        body = {"sell_elsewhere": sell_elsewhere}
        return self.call("komet", "POST", "stock", body, wholesaler=wholesaler)

    def sell_elsewhere(self, boxes: dict[str, int], wholesaler: int = 1) -> dict[str, int]:
        """Other channels bought `boxes[line_id]` boxes of Komet lines; what each line gave."""
        body = {"take": {str(k): int(v) for k, v in boxes.items()}}
        answer = self.call("komet", "POST", "stock", body, wholesaler=wholesaler)
        return {str(k): int(v) for k, v in answer["taken"].items()}

    def add_fault(self, service: str, kind: str, method: str | None, rate: float, ms: int) -> Any:
        """Faults are the twin's: they strike every wholesaler it serves alike."""
        body = {"kind": kind, "method": method, "rate": rate, "ms": ms}
        return self.call(service, "POST", "faults", body)

    def clear_faults(self) -> None:
        for service in ("komet", "ftd"):
            self.call(service, "DELETE", "faults")

    def faults(self) -> dict[str, Any]:
        return {s: self.call(s, "GET", "faults") for s in ("komet", "ftd")}

    def close(self) -> None:
        self.http.close()
