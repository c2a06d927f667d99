"""The HTML copy of a run notebook: what the runs page links to and a reader looks for."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from komet_ftd_ops.runs.notebook_html import export_html
from komet_ftd_ops.runs.secretscan import redact_secrets

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
SECRET = 'tok<en>&"x1'


def _notebook() -> dict[str, object]:
    def code(source: str, *outputs: dict[str, object]) -> dict[str, object]:
        return {"cell_type": "code", "metadata": {}, "source": source, "outputs": list(outputs),
                "execution_count": 1}  # fmt: skip

    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": ["## Counters\n", "\n", "A `code` word."],
            },
            code(
                "print('headline')",
                {
                    "output_type": "stream",
                    "name": "stdout",
                    "text": ["profile sandbox | a < b & c\n"],
                },
            ),  # fmt: skip
            code(
                "warn()", {"output_type": "stream", "name": "stderr", "text": "WARNING retried\n"}
            ),
            code(
                "show(df)",
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {
                        "text/html": "<table><tr><td>7</td></tr></table>",
                        "text/plain": "ignored when html is there",
                    },
                },
            ),  # fmt: skip
            code(
                "chart()",
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {"image/png": PNG, "text/plain": "<Figure>"},
                },
            ),  # fmt: skip
            code(
                "1 + 1",
                {
                    "output_type": "execute_result",
                    "metadata": {},
                    "execution_count": 1,
                    "data": {"text/plain": f"token {SECRET}"},
                },
            ),  # fmt: skip
            code(
                "boom()",
                {
                    "output_type": "error",
                    "ename": "QuotaExceeded",
                    "evalue": "no calls",
                    "traceback": ["\x1b[0;31mQuotaExceeded\x1b[0m: no calls <left>"],
                },
            ),  # fmt: skip
        ],
    }


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def test_the_copy_shows_outputs_and_headings_and_no_code(tmp_path: Path) -> None:
    notebook = tmp_path / "120000Z-sync.ipynb"
    notebook.write_text(json.dumps(_notebook()))

    target = export_html(notebook, notebook.with_suffix(".html"))

    assert target == notebook.with_suffix(".html")
    page = target.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<title>120000Z-sync</title>" in page
    assert '<h2 id="Counters">Counters</h2>' in page and "<code>code</code>" in page
    # what the readers test for (tests/test_readable.py): code cells without their input
    cells = re.findall(r'class="jp-Cell jp-CodeCell[^"]*"', page)
    assert len(cells) == 6 and all("jp-mod-noInput" in c for c in cells)
    for source in ("print(", "warn()", "show(df)", "chart()", "boom()"):
        assert source not in page
    assert "profile sandbox | a &lt; b &amp; c" in page  # text escaped
    assert 'data-mime-type="application/vnd.jupyter.stderr"' in page  # stderr marked
    assert "<table><tr><td>7</td></tr></table>" in page and "ignored when html" not in page
    assert f'<img src="data:image/png;base64,{PNG}"' in page
    assert "QuotaExceeded: no calls &lt;left&gt;" in page and "\x1b" not in page
    text = _Text()
    text.feed(page)
    said = " ".join(" ".join(text.parts).split())
    assert said == (
        "120000Z-sync Counters A code word. profile sandbox | a < b & c WARNING retried 7 "
        'token tok<en>&"x1 QuotaExceeded: no calls <left>'
    )


def test_a_secret_in_the_copy_is_found_by_the_scan(tmp_path: Path) -> None:
    notebook = tmp_path / "run.ipynb"
    notebook.write_text(json.dumps(_notebook()))
    page = export_html(notebook, tmp_path / "run.html")

    assert page is not None and redact_secrets([page], [SECRET])
    assert "tok&lt;en&gt;" not in page.read_text() and "token ***" in page.read_text()


def test_a_notebook_cut_short_gets_no_copy(tmp_path: Path) -> None:
    notebook = tmp_path / "run.ipynb"
    notebook.write_text('{"cells": [')  # the deadline killed papermill mid-write

    assert export_html(notebook, tmp_path / "run.html") is None
    assert not (tmp_path / "run.html").exists()
    assert export_html(tmp_path / "missing.ipynb", tmp_path / "x.html") is None
