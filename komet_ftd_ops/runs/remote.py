"""Run notebooks to `runs_url` when it is a remote URL (object storage papermill writes).

A run is always written to the local runs folder first: the HTML copy (`runs.notebook_html`)
and the secret scan need files, and a run cut short must leave what it wrote somewhere. Once both are
done (the copies already redacted), they are copied to `<runs_url>/<profile>/<day>/<name>` with
papermill's own I/O handlers (`papermill.iorw`: s3://, gs://, abs://, http(s)://... with their
own optional packages and credentials), and the run index links there.
"""

from __future__ import annotations

from pathlib import Path

from ..settings.home import Home


def remote_target(home: Home, local: Path) -> str | None:
    """Where `local` (a file under the runs folder) goes on `runs_url`; None when not remote."""
    remote = home.runs_remote()
    if remote is None:
        return None
    try:
        return f"{remote}/{local.relative_to(home.runs_dir).as_posix()}"
    except ValueError:  # not a run's file (the runs folder moved since): no remote copy
        return None


def copy_to_runs_url(home: Home, files: list[Path | None]) -> str | None:
    """Copy the run's files to a remote `runs_url`; None when done (or nothing to do), else why
    not, in one line (the caller fails an ok run as upstream: storage trouble passes)."""
    targets = [(f, remote_target(home, f)) for f in files if f is not None and f.exists()]
    if not any(t for _, t in targets):
        return None
    from papermill.iorw import papermill_io  # slow import: only for remote runs_url

    for local, target in targets:
        try:
            papermill_io.write(
                local.read_text(encoding="utf-8"), target, extensions=[".ipynb", ".html"]
            )
        except Exception as exc:  # any handler's error (boto, gcsfs...): reported, not raised
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return f"the run's {local.suffix} could not be copied to {target}: {first}"
    return None
