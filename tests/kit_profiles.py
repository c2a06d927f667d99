"""Profiles as the tests of scheduling write them: the example profile with a cadence, and a
passing onboarding preflight (what the scheduler and Airflow require before running one)."""

from __future__ import annotations

import re
from pathlib import Path

from komet_ftd_ops.onboarding.handoff import PASS, Preflight, save_preflight
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile

EXAMPLE = Path(__file__).resolve().parents[1] / "profiles" / "example.toml"


def example_profile(home: Path, name: str, every: int = 5, deadline: int = 240) -> None:
    """profiles/NAME.toml: the example profile with its [sync] cadence and deadline set."""
    text = EXAMPLE.read_text()
    text = re.sub(r"^every_minutes = \d+", f"every_minutes = {every}", text, flags=re.M)
    text = re.sub(r"^deadline_seconds = \d+", f"deadline_seconds = {deadline}", text, flags=re.M)
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    (home / "profiles" / f"{name}.toml").write_text(text)


def pass_preflight(home: Path, name: str) -> None:
    """Record a passing preflight for the profile, as onboarding's last step does."""
    prof = load_profile(name, Home.at(home))
    save_preflight(
        Preflight(
            name, PASS, company_id=prof.komet_company_id, ftd_customer_id=prof.ftd_customer_id,
            token_ref=prof.komet_token_ref, location_id=prof.komet_location_id,
            komet_base_url=prof.komet_base_url,
        ),
        Home.at(home),
    )  # fmt: skip
