"""Benchmark one sync cycle (not a test): 1,000, 20,000 and 100,000 inventory lines against the
twin with 50 ms of latency on every call.

Prints, per size: wall time and peak memory of one cycle called directly, Komet calls, bytes sent
to FTD; the papermill run of the same first cycle and its ratio to the direct call; and the bytes
of a delta cycle with 1% of lines changed against the full feed's bytes.

Targets (2-core machine): 20,000 lines < 10 s including papermill; papermill adds < 3 s; a 1%
delta < 3% of a full feed's bytes; 100,000 lines < 500 MB peak.

    python bench/sync.py [--sizes 1000,20000,100000] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from komet_ftd_ops.runs.runner import run_sync_notebook  # noqa: E402
from komet_ftd_ops.sandbox import control  # noqa: E402
from komet_ftd_ops.settings.home import Home  # noqa: E402

DIRECT = """
import json, resource, sys, time
from pathlib import Path
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.sync import run_sync
t = time.perf_counter()
report = run_sync("sandbox", home=Home.at(sys.argv[1]))
wall = time.perf_counter() - t
c = report.counters()
print(json.dumps({"wall_s": wall, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "komet_calls": c["komet_calls_cycle"], "bytes": c.get("bytes_sent", 0),
                  "kind": c.get("feed_kind"), "offers": c.get("offers_published")}))
"""


def direct_cycle(home: Path) -> dict:
    """The cycle called from Python in a fresh process: `wall_s` is the call alone,
    `process_s` the whole process (interpreter start and imports included, as cron would)."""
    env = {**os.environ, "KOMET_FTD_OPS_HOME": str(home)}
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", DIRECT, str(home)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - t
    return result


def twin_home(base: Path, name: str, info_from: Path | None = None) -> Path:
    home = base / name
    (home / "sandbox").mkdir(parents=True)
    # Enough paid users that the quota plan refreshes inventory every cycle at 100,000 lines.
    (home / "profiles").mkdir()
    (home / "profiles" / "sandbox.toml").write_text("[komet]\npaid_users = 100\n")
    if info_from is not None:  # a second kit home talking to the same twin
        shutil.copy(info_from / "sandbox" / "info.json", home / "sandbox" / "info.json")
    return home


def change_one_percent(info: dict, lines: int) -> int:
    dump = httpx.get(f"{info['komet']['root_url']}/_sandbox/info", timeout=60).json()
    first = int(dump.get("first_line_id", 428700))
    step = 100
    changes = {str(first + i): 1 for i in range(0, lines, step)}
    httpx.post(
        f"{info['komet']['root_url']}/_sandbox/stock", json={"set": changes}, timeout=120
    ).raise_for_status()
    return len(changes)


def bench(size: int, latency_ms: int, base: Path) -> None:
    home = twin_home(base, f"n{size}")
    info = control.up(Home.at(home), lines=size, seed=7)
    for service in ("komet", "ftd"):
        url = info["komet"]["root_url"] if service == "komet" else info["ftd"]["base_url"]
        httpx.post(
            f"{url}/_sandbox/faults", json={"kind": "latency", "ms": latency_ms}
        ).raise_for_status()
    try:
        direct = direct_cycle(home)
        paper_home = twin_home(base, f"p{size}", info_from=home)
        os.environ["KOMET_FTD_OPS_HOME"] = str(paper_home)
        t = time.perf_counter()
        record = run_sync_notebook("sandbox", home=Home.at(paper_home))
        paper_wall = time.perf_counter() - t
        changed = change_one_percent(info, size)
        delta = direct_cycle(paper_home)
        nb_kb = Path(record.notebook).stat().st_size / 1024 if record.notebook else 0
        print(
            f"{size:>7} lines | direct {direct['wall_s']:6.2f} s, peak {direct['peak_mb']:6.0f} MB, "
            f"{direct['komet_calls']} Komet calls, {direct['bytes'] / 1e6:6.2f} MB to FTD ({direct['kind']}) | "
            f"papermill {paper_wall:6.2f} s [{record.status}], ratio {paper_wall / direct['wall_s']:4.2f}, "
            f"adds {paper_wall - direct['wall_s']:5.2f} s to the call, "
            f"{paper_wall - direct['process_s']:5.2f} s to a python process, notebook {nb_kb:5.0f} KB | "
            f"delta ({changed} lines changed) {delta['bytes'] / 1e3:8.1f} KB = "
            f"{100 * delta['bytes'] / max(1, direct['bytes']):4.2f}% of full ({delta['kind']})",
            flush=True,
        )
    finally:
        control.down(Home.at(home))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,20000,100000")
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kfo-bench-") as tmp:
        for size in [int(s) for s in args.sizes.split(",")]:
            bench(size, args.latency_ms, Path(tmp))


if __name__ == "__main__":
    main()
