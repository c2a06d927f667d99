"""Benchmark a fleet (not a test): many profiles from one install on one machine.

One multi-wholesaler twin (`sandbox up --wholesalers N`, 2,000 lines each), one home with a
profile per wholesaler, and the built-in `komet-ftd-ops schedule --all` on a compressed cadence
(30 s standing for 5 minutes) for a few minutes, once with the state in SQLite and once in a
throwaway PostgreSQL cluster (Debian's package, tests/pg.py). Prints, per backend:

- runs per cadence: ok runs / (profiles x cadences elapsed); 1.00 means every profile ran at
  every tick;
- lateness of each run's start after its tick (p50, p95, max), a wait for a pool slot included;
- peak memory of the scheduler's process tree (RSS summed over the tree, sampled), the twin apart;
- the kit's CPU per run (every runner, child and kernel, reaped) and the twin's CPU;
- how many profiles this machine carries within a real 5-minute cadence: the smaller of the
  CPU bound (cores x 300 s / CPU per run) and the pool bound (jobs x 300 s / wall per run).

    python bench/fleet.py [--profiles 50] [--lines 2000] [--every 30s] [--minutes 4] [--jobs 2]
        [--backends sqlite,postgresql]

About ten minutes in all with the defaults on a 2-core machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from komet_ftd_ops.runs.runner import INTERRUPTED_REASON  # noqa: E402

CLI = [sys.executable, "-m", "komet_ftd_ops"]
REAL_CADENCE_S = 300.0


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"komet-ftd-ops {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return done


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a process that ended meanwhile
            total += proc.memory_info().rss
    return total


def _sample_peak(root: psutil.Process, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        try:
            peak[0] = max(peak[0], _tree_rss(root))
        except psutil.Error:
            return
        stop.wait(0.5)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _stopped(row: dict) -> bool:
    """A run the bench's own SIGTERM ended: recorded as interrupted, not a failure."""
    return row["status"] != "ok" and (row.get("reason") or "").startswith(INTERRUPTED_REASON)


def _parse(ts: str | None) -> datetime | None:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")) if ts else None


def run_fleet(
    backend: str, base: Path, profiles: int, lines: int, every: str, minutes: float, jobs: int
) -> dict[str, float]:
    home = base / backend
    home.mkdir()
    env = {**os.environ, "KOMET_FTD_OPS_HOME": str(home)}
    cluster = None
    if backend == "postgresql":
        import pg

        cluster = pg.start_cluster()
        env["KOMET_FTD_OPS_DATABASE_URL"] = cluster.create_database()
        _cli(["db", "upgrade"], env)  # PostgreSQL is migrated explicitly, before anything
    twin = None
    try:
        t = time.perf_counter()
        _cli(
            ["sandbox", "up", "--wholesalers", str(profiles), "--lines", str(lines), "--onboard"],
            env,
        )
        twin_up_s = time.perf_counter() - t
        info = json.loads((home / "sandbox" / "info.json").read_text())
        twin = psutil.Process(int(info["pid"])) if "pid" in info else None
        twin_cpu0 = sum(twin.cpu_times()[:2]) if twin else 0.0
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.time()
        scheduler = subprocess.Popen(
            [*CLI, "schedule", "--all", "--every", every, "--jobs", str(jobs)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(home / "schedule.log", "w"),  # noqa: SIM115
        )
        peak, stop = [0], threading.Event()
        sampler = threading.Thread(
            target=_sample_peak, args=(psutil.Process(scheduler.pid), stop, peak), daemon=True
        )
        sampler.start()
        time.sleep(minutes * 60)
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=120)
        stop.set()
        elapsed = time.time() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        kit_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        twin_cpu = (sum(twin.cpu_times()[:2]) - twin_cpu0) if twin else float("nan")
        listed = _cli(["runs", "list", "--json", "--limit", "100000"], env).stdout
        rows = [r for r in json.loads(listed) if r.get("kind") == "sync"]
    finally:
        subprocess.run([*CLI, "sandbox", "down"], env=env, capture_output=True)
        if cluster is not None:
            cluster.stop()
    ok = [r for r in rows if r["status"] == "ok"]
    lateness = [
        (_parse(r["started_at"]) - _parse(r["scheduled_at"])).total_seconds()
        for r in rows
        if r.get("scheduled_at") and r["status"] != "skipped"
    ]
    walls = [r["duration_s"] for r in ok if r.get("duration_s")]
    every_s = float(every[:-1]) * {"s": 1, "m": 60}[every[-1]]
    cadences = max(1.0, elapsed / every_s)
    cpu_per_run = kit_cpu / max(1, len(rows))
    wall_per_run = statistics.mean(walls) if walls else float("nan")
    cores = os.cpu_count() or 1
    cpu_bound = cores * REAL_CADENCE_S / cpu_per_run if cpu_per_run else float("nan")
    pool_bound = jobs * REAL_CADENCE_S / wall_per_run if walls else float("nan")
    return {
        "twin_up_s": twin_up_s,
        "runs": len(rows),
        "ok": len(ok),
        "failed": sum(1 for r in rows if r["status"] not in ("ok", "skipped") and not _stopped(r)),
        "stopped": sum(1 for r in rows if _stopped(r)),
        "per_cadence": len(ok) / (profiles * cadences),
        "late_p50": _pct(lateness, 0.5),
        "late_p95": _pct(lateness, 0.95),
        "late_max": max(lateness, default=float("nan")),
        "peak_mb": peak[0] / 2**20,
        "cpu_per_run": cpu_per_run,
        "wall_per_run": wall_per_run,
        "twin_cpu": twin_cpu,
        "carried": min(cpu_bound, pool_bound),
        "cpu_bound": cpu_bound,
        "pool_bound": pool_bound,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=50)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--every", default="30s")
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kfo-fleet-") as tmp:
        for backend in args.backends.split(","):
            r = run_fleet(
                backend, Path(tmp), args.profiles, args.lines, args.every, args.minutes, args.jobs
            )
            print(
                f"{backend:>10}: {args.profiles} profiles x {args.lines} lines, every "
                f"{args.every}, {args.jobs} jobs, {args.minutes:g} min | twin up "
                f"{r['twin_up_s']:.1f} s | {r['runs']} runs ({r['ok']} ok, {r['failed']} failed, "
                f"{r['stopped']} stopped by the bench's SIGTERM),"
                f" {r['per_cadence']:.2f} runs per profile per cadence | lateness p50 "
                f"{r['late_p50']:.1f} s, p95 {r['late_p95']:.1f} s, max {r['late_max']:.1f} s | "
                f"peak {r['peak_mb']:.0f} MB | kit CPU {r['cpu_per_run']:.2f} s/run, wall "
                f"{r['wall_per_run']:.2f} s/run, twin CPU {r['twin_cpu']:.1f} s | carries "
                f"{r['carried']:.0f} profiles per 5 min (CPU bound {r['cpu_bound']:.0f}, "
                f"pool bound {r['pool_bound']:.0f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
