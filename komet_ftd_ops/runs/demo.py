"""`make run`: the twin, a headless onboarding of the sandbox profile, then the sync schedule in
the foreground, on a fresh clone."""

from __future__ import annotations

import logging

import click

from ..errors import ConfigError
from ..sandbox import control
from ..settings.home import Home
from ..settings.profiles import SANDBOX


def run_demo(home: Home, *, lines: int, every: str, max_ticks: int | None) -> None:
    from ..onboarding import onboard, preflight_passed
    from .scheduler import parse_every, schedule

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    interval = parse_every(every)
    info = control.up(home, lines=lines)
    click.echo(f"sandbox twin up: Komet {info['komet']['base_url']}  FTD {info['ftd']['base_url']}")
    for line in control.active_faults_warning(info):  # the same lines as `sandbox up` prints
        click.echo(line, err=True)
    try:
        if not preflight_passed(SANDBOX, home)[0]:
            result = onboard(
                SANDBOX, home=home, token_ref="sandbox:komet.customer", check_writes=True
            )
            click.echo(
                f"onboarding of the sandbox profile: preflight {'pass' if result.passed else 'FAIL'}"
            )
            if not result.passed:
                raise ConfigError("; ".join(result.preflight.reasons))
        click.echo(f"runs land in {home.runs_dir / SANDBOX}/<date>/ ; index: {home.runs_index}")
        click.echo(f"first cycle now, then every {every} (Ctrl-C stops the schedule and the twin)")
        click.echo("try, in another shell: komet-ftd-ops sandbox shop --orders 5")
        schedule(SANDBOX, interval, home, max_ticks=max_ticks)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        control.down(home)
        click.echo("sandbox twin stopped")
