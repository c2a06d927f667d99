"""Benchmark one sync cycle in process against its floor (not a test): issue 14, items 1 and 7.

A twin of 100,000 inventory lines (500-row pages) with 50 ms of latency on every call; the kit
runs IN THIS PROCESS, so `time.process_time()` around `run_cycle` is the kit's own CPU (the
reader threads included), and the twin, another process, is measured apart with psutil.

Prints, for the first (full) cycle and for each of `--deltas` delta cycles (each after another
1% of the lines changed, the twin's daily quota reset between them): the kit's CPU, wall, the
twin's CPU over the same span, Komet calls, bytes sent to FTD. The delta figure is the median
of those cycles: on this VM one cycle's CPU moves by up to 0.5 s from run to run, the same
work (the floor moves far less: it is single-threaded and touches no disk). Then the
floor, measured in the same run on the same page bodies (fetched once with httpx, outside the
timing): orjson-parse them, build the offer columns with numpy/pyarrow, fingerprint and diff
against the previous fingerprints. And the ratio of the kit's delta cycle to that floor.

Target (2-core machine): the kit's delta-cycle CPU (the median) at most 1.5 s. Exits 1 on a miss.

    python bench/cycle.py [--lines 100000] [--latency-ms 50] [--change-pct 1] [--deltas 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from komet_ftd_ops.connect import open_clients  # noqa: E402
from komet_ftd_ops.sandbox import control  # noqa: E402
from komet_ftd_ops.settings.home import Home  # noqa: E402
from komet_ftd_ops.settings.profiles import load_profile  # noqa: E402
from komet_ftd_ops.settings.secrets import resolve_secret  # noqa: E402
from komet_ftd_ops.sync import run_cycle  # noqa: E402

T = TypeVar("T")
DELTA_CPU_TARGET_S = 1.5
PAGE_ROWS = 500


@dataclass
class Span:
    """CPU and wall of one timed span: the kit (this process) and the twin (its process)."""

    kit_cpu: float
    wall: float
    twin_cpu: float


def timed(twin: psutil.Process, work: Callable[[], Any]) -> tuple[Any, Span]:
    def twin_cpu() -> float:
        times = twin.cpu_times()
        return times.user + times.system + times.children_user + times.children_system

    cpu, wall, twin0 = time.process_time(), time.perf_counter(), twin_cpu()
    result = work()
    return result, Span(time.process_time() - cpu, time.perf_counter() - wall, twin_cpu() - twin0)


def make_home(base: Path) -> Home:
    root = base / "home"
    (root / "sandbox").mkdir(parents=True)
    (root / "profiles").mkdir()
    # Enough paid users that the quota plan refreshes the whole inventory every cycle.
    # A long timeout: the twin answers a 100,000-offer full feed slowly on a loaded machine.
    (root / "profiles" / "sandbox.toml").write_text(
        "[komet]\npaid_users = 100\ntimeout_seconds = 60\n"
    )
    return Home.at(root)


def set_latency(info: dict[str, Any], ms: int) -> None:
    for url in (info["komet"]["root_url"], info["ftd"]["base_url"]):
        httpx.post(f"{url}/_sandbox/faults", json={"kind": "latency", "ms": ms}).raise_for_status()


def change_stock(info: dict[str, Any], lines: int, pct: float, shift: int = 0) -> int:
    """Set `pct`% of the lines (evenly spread, from the `shift`th on) to one box: each changes
    one offer (another `shift`, other lines)."""
    root = info["komet"]["root_url"]
    dump = httpx.get(f"{root}/_sandbox/info", timeout=60).json()
    first = int(dump.get("first_line_id", 428700))
    step = max(1, round(100 / pct))
    changes = {str(first + i): 1 for i in range(shift % step, lines, step)}
    httpx.post(f"{root}/_sandbox/stock", json={"set": changes}, timeout=120).raise_for_status()
    return len(changes)


def median_by(items: list[T], key: Callable[[T], float]) -> T:
    """The item whose `key` is the median (an odd count: one of them; even: the upper)."""
    ordered = sorted(items, key=key)
    return ordered[len(ordered) // 2]


def raw_pages(home: Home, profile: Any) -> list[bytes]:
    """Every inventory.list page body as the twin serves it (the floor's input), read once."""
    token = resolve_secret(profile.komet_token_ref, home).reveal()
    headers = {"authenticationToken": token, "X-ACCOUNT": profile.komet_company_id}
    bodies: list[bytes] = []
    with httpx.Client(base_url=profile.komet_base_url.rstrip("/") + "/", timeout=60) as http:
        page, total = 1, None
        while total is None or (page - 1) * PAGE_ROWS < total:
            params = {"customerId": profile.ftd_customer_id, "page": page, "rows": PAGE_ROWS}
            response = http.get("ecommerce/inventory.list", params=params, headers=headers)
            response.raise_for_status()
            bodies.append(response.content)
            total = int(orjson.loads(response.content)["total"])
            page += 1
    return bodies


# --- the floor: parse, build the offer columns, fingerprint, diff ---------------------------

FLOOR_COLUMNS = (
    "inventoryLineIds", "productCode", "productDescription", "category", "variety", "color",
    "grade", "boxTypeCode", "unitType", "unitsPerBox", "bunches", "stemsBunch", "quantity",
    "price", "availableFrom", "availableTo", "inventoryOrigin",
)  # fmt: skip


def _numeric_or_zero(column: pa.ChunkedArray) -> pa.ChunkedArray:
    ok = pc.fill_null(pc.match_substring_regex(column, r"^-?[0-9]+(\.[0-9]+)?$"), False)
    return pc.if_else(ok, column, "0")


def floor_fingerprints(bodies: list[bytes]) -> pd.Series:
    """The least a cycle must do to know what changed: one hash per offer, by offer id.

    The twin sends every field as text, so the columns are taken as text (no typing of mixed
    JSON types, no reasons for bad rows: those are the kit's, not the floor's)."""
    items = [item for body in bodies for item in orjson.loads(body)["inventoryItems"]]
    table = pa.table(
        {name: pa.array([item.get(name) for item in items], pa.string()) for name in FLOOR_COLUMNS}
    )
    table = table.filter(pc.equal(table["inventoryOrigin"], "1"))
    # Bad rows (the twin serves some) count as zero here: the floor does not explain them.
    quantity = pc.cast(pc.cast(_numeric_or_zero(table["quantity"]), pa.float64()), pa.int64())
    cents = pc.round(pc.multiply(pc.cast(_numeric_or_zero(table["price"]), pa.float64()), 100.0))
    offer_id = pc.binary_join_element_wise(
        "om:", pc.replace_substring(table["inventoryLineIds"], ",", "-"), ""
    )
    content = pc.binary_join_element_wise(
        pc.cast(quantity, pa.string()), pc.cast(pc.cast(cents, pa.int64()), pa.string()),
        *(pc.fill_null(table[c], "") for c in FLOOR_COLUMNS[1:12]), "\x1f",
    )  # fmt: skip
    hashed = pd.util.hash_array(content.to_numpy(zero_copy_only=False))
    prints = pd.Series(hashed, index=pd.Index(offer_id.to_numpy(zero_copy_only=False)))
    return prints[~prints.index.duplicated(keep=False)]  # a line listed twice is no offer


def previous_fingerprints(bodies: list[bytes], change_pct: float) -> pd.Series:
    """The fingerprints before a delta: these pages' with `change_pct`% altered (the diff does
    the same work whichever differ; a second read of the twin would cost ~20 s)."""
    previous = floor_fingerprints(bodies)
    previous.iloc[:: max(1, round(100 / change_pct))] += 1
    return previous


def floor(bodies: list[bytes], previous: pd.Series) -> int:
    """Parse, build, fingerprint, and diff against the last fingerprints: offers that changed."""
    current = floor_fingerprints(bodies)
    known = previous.reindex(current.index)
    return int((known.to_numpy() != current.to_numpy()).sum())


# --- the run ----------------------------------------------------------------------------------


def cycle(home: Home, twin: psutil.Process, profiled: bool = False) -> tuple[dict[str, Any], Span]:
    profile = load_profile("sandbox", home)
    with home.open_store() as store, open_clients(profile, store, home) as clients:
        if not profiled:
            report, span = timed(twin, lambda: run_cycle(profile, store, clients))
        else:
            import cProfile
            import pstats

            with cProfile.Profile() as prof:
                report, span = timed(twin, lambda: run_cycle(profile, store, clients))
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return report.counters(), span


def line(name: str, c: dict[str, Any], span: Span) -> str:
    return (
        f"{name:<12} kit CPU {span.kit_cpu:6.2f} s | wall {span.wall:6.2f} s | "
        f"twin CPU {span.twin_cpu:6.2f} s | Komet calls {c['komet_calls_cycle']:4} | "
        f"{c.get('bytes_sent', 0) / 1e6:7.3f} MB to FTD ({c.get('feed_kind')}, "
        f"{c.get('offers_published')} offers)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--change-pct", type=float, default=1.0)
    parser.add_argument("--deltas", type=int, default=3, help="delta cycles, the median counts")
    parser.add_argument("--profile", action="store_true", help="cProfile the delta cycles")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kfo-cycle-") as tmp:
        home = make_home(Path(tmp))
        info = control.up(home, lines=args.lines, seed=7, timeout=300)
        try:
            twin = psutil.Process(int(info["pid"]))
            set_latency(info, args.latency_ms)
            profile = load_profile("sandbox", home)
            first, first_span = cycle(home, twin)
            print(line("first cycle", first, first_span), flush=True)
            sandbox = control.SandboxControl(info)
            spans = []
            for n in range(1, max(1, args.deltas) + 1):
                changed = change_stock(info, args.lines, args.change_pct, shift=n)
                sandbox.call("komet", "POST", "reset-quota")  # each delta its own day's quota
                delta, span = cycle(home, twin, args.profile)
                spans.append(span)
                print(line(f"delta {n}", delta, span) + f" [{changed} lines changed]", flush=True)
            delta_span = median_by(spans, key=lambda span: span.kit_cpu)
            print(line("delta median", delta, delta_span))
            after = raw_pages(home, profile)
            previous = previous_fingerprints(after, args.change_pct)
            diffs, floor_span = timed(twin, lambda: floor(after, previous))
            print(
                f"floor        CPU {floor_span.kit_cpu:6.2f} s (parse {len(after)} pages, "
                f"build, fingerprint, diff: {diffs} offers differ)"
            )
        finally:
            control.down(home)
    ratio = delta_span.kit_cpu / max(floor_span.kit_cpu, 1e-9)
    print(
        f"delta-cycle CPU / floor CPU = {ratio:4.1f}x (first cycle: "
        f"{first_span.kit_cpu / max(floor_span.kit_cpu, 1e-9):4.1f}x)"
    )
    ok = delta_span.kit_cpu <= DELTA_CPU_TARGET_S
    print(
        f"{'PASS' if ok else 'FAIL'} delta-cycle kit CPU {delta_span.kit_cpu:.2f} s <= "
        f"{DELTA_CPU_TARGET_S} s (median of {len(spans)}: "
        f"{', '.join(f'{span.kit_cpu:.2f}' for span in spans)}; {args.lines:,} lines, "
        f"{args.latency_ms} ms latency; wall figures taken on a shared machine)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
