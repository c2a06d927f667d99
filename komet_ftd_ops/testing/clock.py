"""A virtual clock for running many cycles of the kit in no real time.

Production cycles run minutes apart, and the order pipeline waits a real settle window
(`OrderRules.unknown_settle_seconds`, 60 s) before re-sending a write whose answer was lost. A
test or benchmark that wants the real window without the real wait passes `clock.now()` as each
cycle's `now` and calls `clock.advance(...)` between cycles:

    clock = VirtualClock(datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
    for _ in range(cycles):
        process_orders(profile, store, clients, dry_run=False, run_id=None, now=clock.now())
        clock.advance(CYCLE_SECONDS)

`sleep` advances the clock instead of sleeping, so a client's short Retry-After costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

CYCLE_SECONDS = 300.0  # a production schedule: one cycle every 5 minutes


def start_of_today(hour: int = 6) -> datetime:
    """Today (UTC) at `hour`: a start that leaves the day's cycles on one calendar date."""
    return datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)


@dataclass
class VirtualClock:
    start: datetime = field(default_factory=start_of_today)
    elapsed: float = 0.0  # virtual seconds since `start`

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("a VirtualClock starts at an aware datetime (UTC)")

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError(f"a clock does not go back ({seconds} s)")
        self.elapsed += seconds
        return self.now()

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def reset(self) -> None:
        self.elapsed = 0.0

    def epoch_ms(self) -> int:
        return int(self.now().timestamp() * 1000)
