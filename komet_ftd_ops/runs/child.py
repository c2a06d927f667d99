"""The runner's child process: one papermill run, `python -m komet_ftd_ops.runs.child`.

The protocol (`runner._run_child` is the other side):

    stdin     one JSON object: input, output, parameters, cwd, result (paths as strings)
    result    the file named by spec["result"] gets {"ok": true}, or {"ok": false,
              "in_notebook": <raised by a cell?>, "ename": <class name>, "evalue": <message>}
    stdout    papermill's and the kernel's chatter; the runner keeps it as a log and reads only
              its last line, when no result file was written

The result goes to a file so that nothing the notebook prints can be mistaken for it. The
runner runs this in its own session and kills the whole group at the deadline.
"""

import sys

# Before any other import: jsonschema (pulled in by papermill and nbformat) imports
# rfc3987_syntax only to check IRI formats, which notebooks never use, and building its grammar
# costs about 2 s in every fresh process. A None entry marks the module absent, so jsonschema
# skips those checks and papermill loads in well under a second instead of three. (The runner's
# SKIP_SLOW_IMPORT is the same name; it is not imported from there because importing the runner
# would load half the kit before this line. `komet_ftd_ops/__init__.py` and
# `runs/__init__.py`, which run before this module, import nothing.)
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import json  # noqa: E402
from typing import Any  # noqa: E402


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Execute the notebook the spec names; the result as the runner reads it."""
    import papermill  # after the line above, and only once the spec has been read

    try:
        papermill.execute_notebook(
            spec["input"],
            spec["output"],
            parameters=spec["parameters"],
            kernel_name="python3",
            language="python",
            cwd=spec["cwd"],
            progress_bar=False,
            log_output=False,
        )
    except papermill.PapermillExecutionError as exc:  # a cell raised
        return {"ok": False, "in_notebook": True, "ename": exc.ename, "evalue": exc.evalue}
    except Exception as exc:  # papermill itself could not run it (bad notebook, no kernel...)
        return {"ok": False, "in_notebook": False, "ename": type(exc).__name__, "evalue": str(exc)}
    return {"ok": True}


def main() -> None:
    spec = json.load(sys.stdin)
    result = run(spec)
    with open(spec["result"], "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
