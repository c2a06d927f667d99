"""The README and docs/ stand on their own in a fresh clone: every relative link resolves.

A link into a folder next to the repository (`../shared/...`) works on the machine it was
written on and nowhere else, so links must stay inside the repository, and their targets must
not be git-ignored (an ignored file is never in a clone). Anchors are not checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
# [text](target "title") and ![alt](target); the target may be wrapped in <...>
_INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
# [label]: target
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # https:, mailto:, ...


def markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def links(text: str) -> list[str]:
    """Link targets in Markdown text, ignoring fenced code blocks and inline code."""
    prose = _CODE_SPAN.sub("", _FENCE.sub("", text))
    return _INLINE.findall(prose) + _REFERENCE.findall(prose)


def problems(source: Path, repo: Path = REPO) -> list[str]:
    """What is wrong with the relative links of one Markdown file (empty: nothing)."""
    found = []
    for target in links(source.read_text(encoding="utf-8")):
        if _EXTERNAL.match(target) or target.startswith("#"):
            continue
        where = f"{source.relative_to(repo)}: {target}"
        if target.startswith("../"):
            found.append(f"{where} starts with ../")
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (repo if path.startswith("/") else source.parent) / path.lstrip("/")
        resolved = resolved.resolve()
        if not resolved.is_relative_to(repo):
            found.append(f"{where} leaves the repository")
        elif not resolved.exists():
            found.append(f"{where} does not exist")
    return found


def test_the_checker_finds_broken_links(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("a")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/a.md#part) [web](https://example.com) [here](#top)\n"
        "[gone](docs/missing.md) [out](../shared/spec/x.md) ![img](docs/nope.png)\n"
        "`[code](not/a/link.md)`\n```\n[fenced](also/not.md)\n```\n"
        "[ref]: docs/ref-missing.md\n"
    )
    assert problems(page, tmp_path) == [
        "README.md: docs/missing.md does not exist",
        "README.md: ../shared/spec/x.md starts with ../",
        "README.md: docs/nope.png does not exist",
        "README.md: docs/ref-missing.md does not exist",
    ]


def test_the_docs_exist_and_the_readme_links_them() -> None:
    names = {p.name for p in markdown_files()}
    assert {"README.md", "komet-api.md", "ftd-api.md"} <= names
    readme = set(links((REPO / "README.md").read_text(encoding="utf-8")))
    assert {"docs/komet-api.md", "docs/ftd-api.md"} <= readme


@pytest.mark.parametrize("source", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves_inside_the_repository(source: Path) -> None:
    assert problems(source) == []


def test_no_text_points_outside_the_repository() -> None:
    """Not only links: a path in backticks to `../shared/...` fails in a clone just the same."""
    sources = markdown_files() + sorted((REPO / "komet_ftd_ops").rglob("*.py"))
    outside = [
        f"{p.relative_to(REPO)}:{n}"
        for p in sources
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\.\./shared/|shared/(spec|seeds)/|shared/STYLE\.md", line)
    ]
    assert outside == []


def test_docs_named_in_the_package_exist() -> None:
    named = {
        m.group(0)
        for p in (REPO / "komet_ftd_ops").rglob("*.py")
        for m in re.finditer(r"\bdocs/[\w.-]+\.md\b", p.read_text(encoding="utf-8"))
    }
    assert "docs/ftd-api.md" in named
    assert sorted(n for n in named if not (REPO / n).is_file()) == []


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout"
)
def test_link_targets_are_not_git_ignored() -> None:
    """An ignored target exists here but never in a clone."""
    targets = sorted(
        {
            str((src.parent / t.split("#", 1)[0]).resolve().relative_to(REPO))
            for src in markdown_files()
            for t in links(src.read_text(encoding="utf-8"))
            if not _EXTERNAL.match(t) and not t.startswith(("#", "../", "/"))
        }
    )
    assert targets
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *targets],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.returncode in (0, 1), ignored.stderr
    assert ignored.stdout.split() == []
