"""The onboarding notebook under papermill: headless from parameters, token by reference only."""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest
from conftest import REPO, Twin
from openpyxl import Workbook

from komet_ftd_ops.onboarding import preflight_passed
from komet_ftd_ops.settings.home import Home

NOTEBOOK = REPO / "notebooks" / "onboarding.ipynb"


def _export(path: Path, twin: Twin) -> Path:
    wb = Workbook()
    wb.active.append(["Id", "Name", "Active"])
    for c in twin.control("komet", "GET", "info")["customers"]:
        wb.active.append([c["id"], c["name"], c["active"]])
    wb.save(path)
    return path


def _run(out: Path, **parameters: object) -> dict:
    papermill.execute_notebook(
        str(NOTEBOOK), str(out), parameters=parameters, kernel_name="python3",
        progress_bar=False, cwd=str(out.parent),
    )  # fmt: skip
    return json.loads(out.read_text())


def _text(nb: dict) -> str:
    """What a notebook without widgets shows: printed text and each output's text/plain."""
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            parts.append("".join(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_the_notebook_onboards_the_sandbox_headless(
    twin: Twin, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = twin.info["komet"]["tokens"]["customer"]
    monkeypatch.setenv("KOMET_FTD_TOKEN", token)  # the kernel inherits the environment
    params = {
        "profile": "sandbox",
        "token_ref": "env:KOMET_FTD_TOKEN",
        "customers_xlsx": str(_export(tmp_path / "Customers.xlsx", twin)),
        "check_writes": True,
        "strict": True,
    }
    nb = _run(tmp_path / "out.ipynb", **params)

    text = _text(nb)
    # The twin's hardest reading: a Customer token may not list ship-tos (a warning, not a fail).
    assert "Methods: 11 ok, 1 denied, 0 unchecked" in text and "customer.shipto.list" in text
    assert "<- the token is bound to it" in text and "Preflight: PASS" in text
    assert nb["metadata"]["papermill"]["parameters"] == params  # references only
    assert token not in (tmp_path / "out.ipynb").read_text()
    assert preflight_passed("sandbox", Home.from_environment())[0]


def test_a_failing_preflight_fails_a_strict_run(twin: Twin, home: Path, tmp_path: Path) -> None:
    other = twin.control(
        "komet", "POST", "tokens", json={"type": "customer", "customer_id": int(
            next(c["id"] for c in twin.control("komet", "GET", "info")["customers"]
                 if c["name"] == "Blossom & Co"))},
    )["token"]  # fmt: skip
    (home / "secrets.toml").write_text(f'"other" = "{other}"\n')
    (home / "secrets.toml").chmod(0o600)

    with pytest.raises(papermill.PapermillExecutionError) as failed:
        _run(tmp_path / "out.ipynb", token_ref="file:other", strict=True)
    assert failed.value.ename == "ConfigError" and "not bound to" in failed.value.evalue
    assert other not in (tmp_path / "out.ipynb").read_text()
    assert not preflight_passed("sandbox", Home.from_environment())[0]
