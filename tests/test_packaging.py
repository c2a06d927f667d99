"""The project's own files: dependencies in step, templates clean, artefacts ignored."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {r.replace(" ", "") for r in project["dependencies"]}
    env = (REPO / "environment.yml").read_text()
    block = env.split("dependencies:", 1)[1]
    listed = {
        line.strip()[2:].replace(" ", "")
        for line in block.splitlines()
        if line.startswith("  - ")
        and line.strip() not in ("- pip", "- pip:")
        and "python" not in line
    }
    assert listed == declared, (
        f"only in pyproject: {declared - listed}; only in environment.yml: {listed - declared}"
    )


def test_template_notebooks_are_committed_without_outputs() -> None:
    # The notebooks in notebooks/ are the source (edited in JupyterLab, nothing generates them):
    # they are kept clean, and are never a run's executed copy saved back over a template.
    paths = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert {p.name for p in paths} >= {"sync.ipynb", "onboarding.ipynb", "reconcile.ipynb"}
    for path in paths:
        nb = json.loads(path.read_text())
        assert "papermill" not in nb["metadata"], f"{path.name} is an executed run notebook"
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), path
        tags = [t for c in code for t in c.get("metadata", {}).get("tags", [])]
        assert "injected-parameters" not in tags, f"{path.name} holds papermill's injected cell"
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"


def test_parameters_cells_hold_nothing_secret() -> None:
    for path in (REPO / "notebooks").glob("*.ipynb"):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                source = "".join(cell["source"])
                names = re.findall(r"^(\w+)\s*=", source, flags=re.M)
                secretish = [n for n in names if re.search(r"token|secret|password", n, re.I)]
                # a *_ref names where a secret is kept (env:NAME, file:KEY), never the secret
                assert all(n.endswith("_ref") for n in secretish), (path, secretish)


def test_runs_and_state_are_ignored() -> None:
    ignore = (REPO / ".gitignore").read_text()
    for pattern in ("runs/*", "*.sqlite3", "secrets.toml"):
        assert pattern in ignore
    assert (REPO / "runs" / ".gitkeep").exists()


def _bytecode_is_current(source: Path) -> bool:
    """Python would load this module's cached bytecode: the file exists and its header names
    the source's mtime and size (the default, timestamp-checked form)."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    if not cached.exists():
        return False
    header = cached.read_bytes()[:16]
    stat = source.stat()
    return (
        header[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(header[4:8], "little") == 0
        and int.from_bytes(header[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(header[12:16], "little") == stat.st_size & 0xFFFFFFFF
    )


def test_make_venv_compiles_the_kit_so_no_run_compiles_it_again() -> None:
    """The kit is installed editable (pip compiles none of it): `make venv` compiles it, or
    each process of a run compiles every module again where Python may not write bytecode."""
    package = REPO / "komet_ftd_ops"
    modules = sorted(package.rglob("*.py"))
    for module in modules:  # none, as in a fresh clone (where nothing but make writes them)
        Path(importlib.util.cache_from_source(str(module))).unlink(missing_ok=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run(["make", "-s", "venv"], cwd=REPO, env=env, check=True, capture_output=True)
    missing = [str(m.relative_to(REPO)) for m in modules if not _bytecode_is_current(m)]
    assert not missing, f"no current bytecode after make venv: {missing[:5]}"
