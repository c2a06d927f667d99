"""The HTML copy of a run notebook: what a cycle showed, for reading in a browser.

nbconvert's HTMLExporter costs more than a second per run (jinja2, pygments, a large
JupyterLab template and its CSS); a run notebook needs far less, so this is our own renderer:

    markdown cells      mistune, headings with nbconvert's anchors (`<h2 id="Warnings">`)
    code cells          outputs only (the .ipynb keeps the code), in nbconvert's class names
                        (`jp-Cell jp-CodeCell jp-mod-noInput`) so readers and tests find them
      stream            <pre>, escaped; stderr marked `application/vnd.jupyter.stderr`
      rich output       text/html as is, image/svg+xml as is, image/png and image/jpeg inline,
                        else text/plain escaped
      error             ename: evalue and the traceback, ANSI colours stripped, escaped

Every text is escaped with `html.escape`, one of the forms the secret scan looks for.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
pre { background: #f7f7f7; padding: 6px 8px; overflow-x: auto; white-space: pre-wrap; margin: 4px 0; }
pre.stderr { background: #fdecea; }
pre.error { background: #fdecea; color: #7f1d1d; }
table { border-collapse: collapse; margin: 4px 0; }
th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; }
th { background: #f4f4f4; }
img { max-width: 100%; }
"""
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_IMAGES = ("image/png", "image/jpeg")


def _text(value: Any) -> str:
    """A notebook string field: a string or a list of lines."""
    return "".join(value) if isinstance(value, list) else str(value or "")


def _markdown(source: str) -> str:
    return str(_markdown_renderer()(source))


@cache
def _markdown_renderer() -> Callable[[str], Any]:
    import mistune  # only here: a notebook without markdown never pays for it

    class _Renderer(mistune.HTMLRenderer):  # type: ignore[misc]
        def heading(self, text: str, level: int, **attrs: Any) -> str:
            # nbconvert's anchor: the heading's text with spaces as hyphens
            anchor = html.escape(re.sub(r"<[^>]+>", "", html.unescape(text)).replace(" ", "-"))
            return f'<h{level} id="{anchor}">{text}</h{level}>\n'

    render: Callable[[str], Any] = mistune.create_markdown(
        renderer=_Renderer(escape=False), plugins=["table", "strikethrough"]
    )
    return render


def _rich(data: dict[str, Any]) -> str:
    if "text/html" in data:
        return _text(data["text/html"])
    if "image/svg+xml" in data:
        return _text(data["image/svg+xml"])
    for mime in _IMAGES:
        if mime in data:
            encoded = _text(data[mime]).replace("\n", "")
            return f'<img src="data:{mime};base64,{encoded}" alt="">'
    if "text/markdown" in data:
        return _markdown(_text(data["text/markdown"]))
    if "text/plain" in data:
        return f"<pre>{html.escape(_text(data['text/plain']))}</pre>"
    return ""


def _output(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        text = html.escape(_text(output.get("text")))
        if output.get("name") == "stderr":
            return (
                '<div class="jp-OutputArea-output" '
                f'data-mime-type="application/vnd.jupyter.stderr"><pre class="stderr">{text}</pre>'
                "</div>"
            )
        return f'<div class="jp-OutputArea-output"><pre>{text}</pre></div>'
    if kind in ("display_data", "execute_result"):
        return f'<div class="jp-OutputArea-output">{_rich(output.get("data") or {})}</div>'
    if kind == "error":
        lines = [_ANSI.sub("", str(x)) for x in output.get("traceback") or []]
        said = "\n".join(lines) or f"{output.get('ename')}: {output.get('evalue')}"
        return (
            f'<div class="jp-OutputArea-output"><pre class="error">{html.escape(said)}</pre></div>'
        )
    return ""


def _cell(cell: dict[str, Any]) -> str:
    kind = cell.get("cell_type")
    if kind == "markdown":
        return f'<div class="jp-Cell jp-MarkdownCell">{_markdown(_text(cell.get("source")))}</div>'
    if kind == "code":
        outputs = "".join(_output(o) for o in cell.get("outputs") or [])
        return f'<div class="jp-Cell jp-CodeCell jp-mod-noInput">{outputs}</div>'
    return ""  # raw cells are for other converters


def render_notebook(notebook: dict[str, Any], title: str) -> str:
    """The page for a notebook (as parsed JSON): markdown and outputs, no code."""
    cells = "\n".join(_cell(c) for c in notebook.get("cells") or [])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        f"{cells}\n</body></html>\n"
    )


def export_html(notebook: Path, target: Path) -> Path | None:
    """Write the notebook's HTML copy to `target` (temp file + rename); None if there is
    nothing to convert (a notebook the deadline cut short may not be valid JSON)."""
    if not notebook.exists():
        return None
    try:
        parsed = json.loads(notebook.read_text(encoding="utf-8"))
        if not isinstance(parsed, dict):
            raise ValueError("not a notebook")
        body = render_notebook(parsed, notebook.stem)
    except (ValueError, TypeError, AttributeError) as exc:
        log.warning("no HTML copy of %s: %s", notebook, exc)
        return None
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, target)
    return target
