"""Komet's customer export (Setup > Customers > Export to Excel): find FTD's customer ID in it.

Komet's instructions say "in the Excel file, copy the Id column". Real exports do not stay tidy
between Komet and the analyst: title rows above the header, several sheets, columns added or
moved, ids saved as text, the file re-saved with a password or as an old .xls. So nothing here
assumes a position: on every sheet the first rows are scanned for a row holding an `Id` column
and a name column, and rows are read below it.

Everything that makes a file unusable is a `DataError` whose message says what was wrong and
what to do; it names the file, never its content beyond a sheet name or a header.

Size: a whole company's export can be huge (50 MB, millions of rows), and the kit needs a few
FTD rows from it. So the file is refused above a size cap before it is read, and sheets are
streamed (openpyxl's read-only mode, one row at a time) and stop at a row cap; a sheet without
a customer table is left after its first rows. Both caps are parameters (`onboard
--max-export-mb/--max-export-rows`), and going over one says to filter the export or raise it.
"""

from __future__ import annotations

import io
import itertools
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigError, DataError

HEADER_SCAN_ROWS = 30  # how far down a sheet the header row may sit (title rows, notes)
# Caps on a customer export (measured: 50 MB took 72 s and 0.6 GB, 6 million rows 4 min and
# 2.8 GB); a Komet export of a whole customer list is far below both.
MAX_EXPORT_MB = 20.0
MAX_EXPORT_ROWS = 200_000
MB = 1024 * 1024
FTD_NAME = re.compile(r"(?<![a-z0-9])ftd(?![a-z0-9])", re.IGNORECASE)  # a word, not "SwiFTDale"

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")  # an OLE compound file: encrypted OOXML or .xls
ENCRYPTED_MARKERS = ("EncryptedPackage".encode("utf-16-le"), "EncryptionInfo".encode("utf-16-le"))

# Header spellings, compared after lower-casing and dropping spaces, dots, dashes, underscores.
ID_HEADERS = ("id", "customerid", "custid", "idcustomer")
NAME_HEADERS = ("name", "customer", "customername", "companyname", "company", "businessname")
CODE_HEADERS = ("code", "customercode")
ACTIVE_HEADERS = ("active", "isactive", "status", "customerstatus", "inactive")
INACTIVE_WORDS = ("0", "no", "n", "false", "inactive", "disabled", "deleted")
ACTIVE_WORDS = ("1", "yes", "y", "true", "active", "enabled")

RE_EXPORT = "Export the list again from Komet (Setup > Customers > Export to Excel)"


@dataclass(frozen=True)
class CustomerRow:
    """One customer as the export (or `customer.list`) gives it."""

    customer_id: str
    name: str
    active: bool | None = None  # None: the export has no active/status column
    code: str = ""
    source: str = ""  # "Customers!A7" or "customer.list"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.customer_id,
            "name": self.name,
            "code": self.code,
            "active": self.active,
            "source": self.source,
        }

    def label(self) -> str:
        flag = " (inactive)" if self.active is False else ""
        return f"{self.customer_id}  {self.name}{flag}"


@dataclass
class CustomerExport:
    """All customer rows found in a workbook, and where they came from."""

    name: str
    rows: list[CustomerRow] = field(default_factory=list)
    sheets_read: list[str] = field(default_factory=list)
    sheets_skipped: list[str] = field(default_factory=list)
    rows_skipped: int = 0  # rows below a header without a usable id (totals, notes, blanks)

    def ftd_rows(self) -> list[CustomerRow]:
        return ftd_candidates(self.rows)


def ftd_candidates(rows: Iterable[CustomerRow]) -> list[CustomerRow]:
    """Rows whose name has FTD as a word (any case): active first, then by name; one per id."""
    seen: dict[str, CustomerRow] = {}
    for row in rows:
        if FTD_NAME.search(row.name) and row.customer_id not in seen:
            seen[row.customer_id] = row
    return sorted(seen.values(), key=lambda r: (r.active is False, r.name.lower(), r.customer_id))


# --- reading ------------------------------------------------------------------------------


def _too_big(name: str, size: int | None, max_mb: float) -> DataError:
    what = f"{size / MB:.1f} MB" if size is not None else f"over {max_mb:g} MB"
    return DataError(
        f"{name} is {what}, over the {max_mb:g} MB cap for a customer export: filter the export "
        f"in Komet (e.g. name contains FTD, or active customers only) and export again, or "
        f"raise the cap (--max-export-mb)."
    )


def _load_bytes(source: Path | str | bytes | IO[bytes], max_mb: float) -> tuple[str, bytes]:
    """The file's bytes, refused over `max_mb` before more than the cap is read."""
    cap = int(max_mb * MB)
    if isinstance(source, bytes):
        if len(source) > cap:
            raise _too_big("the uploaded file", len(source), max_mb)
        return "the uploaded file", source
    if hasattr(source, "read"):
        name = getattr(source, "name", "the uploaded file")
        data = source.read(cap + 1)  # type: ignore[union-attr]
        if len(data) > cap:  # one byte past the cap is enough to know
            raise _too_big(name, None, max_mb)
        return name, data
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file. Check the path, or export the customers again.")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give the .xlsx file Komet exported.")
    size = path.stat().st_size
    if size > cap:
        raise _too_big(path.name, size, max_mb)
    return path.name, path.read_bytes()


def _refuse_non_xlsx(name: str, data: bytes) -> None:
    """Say what the file is when it is not an .xlsx workbook (the usual suspects first)."""
    if not data:
        raise DataError(f"{name} is empty (0 bytes). {RE_EXPORT}.")
    if data.startswith(OLE_MAGIC):
        if any(marker in data for marker in ENCRYPTED_MARKERS):
            raise DataError(
                f"{name} is password-protected (an encrypted Excel file). Open it in Excel, "
                f"remove the password (File > Info > Protect Workbook > Encrypt with Password, "
                f"clear it), save it as .xlsx and try again. Or: {RE_EXPORT}."
            )
        raise DataError(
            f"{name} is an old Excel 97-2003 (.xls) file, which this kit does not read. Open it "
            f"in Excel and save it as Excel Workbook (.xlsx), then try again."
        )
    if not data.startswith(ZIP_MAGIC):
        head = data[:512].lstrip().lower()
        kind = (
            "a web page (HTML)"
            if head.startswith((b"<", b"\xef\xbb\xbf<"))
            else "a text or other file"
        )
        raise DataError(
            f"{name} is not an Excel workbook (it looks like {kind}). {RE_EXPORT} and give "
            f"the .xlsx file it downloads."
        )


def _open_workbook(name: str, data: bytes) -> Any:
    from openpyxl import load_workbook  # heavy; only when a file is read

    _refuse_non_xlsx(name, data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if archive.testzip() is not None:
                raise zipfile.BadZipFile("a member fails its CRC")
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise DataError(
            f"{name} is corrupt or incomplete ({type(exc).__name__}); it cannot be opened. "
            f"Download it again. {RE_EXPORT}."
        ) from None
    if "xl/workbook.xml" not in names:
        raise DataError(
            f"{name} is a zip file but not an Excel workbook (no xl/workbook.xml; a Word or "
            f"other Office file?). {RE_EXPORT}."
        )
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise DataError(
            f"{name} could not be read as a workbook ({type(exc).__name__}); it is probably "
            f"damaged. Download it again. {RE_EXPORT}."
        ) from None


def _norm(value: Any) -> str:
    return re.sub(r"[\s._\-#:]+", "", str(value or "")).lower()


def _cell_id(value: Any) -> str | None:
    """An id as text: 5066, 5066.0, "5066", " '5066 " all give "5066"; anything else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and value > 0 else None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    text = str(value).strip().lstrip("'").strip()
    if text.endswith(".0"):
        text = text[:-2]
    return text if text.isdigit() and int(text) > 0 else None


def _active(value: Any, header: str) -> bool | None:
    if value is None or str(value).strip() == "":
        return None
    word = str(value).strip().lower()
    if isinstance(value, bool):
        word = "true" if value else "false"
    elif isinstance(value, int | float):
        word = "1" if value else "0"
    state = True if word in ACTIVE_WORDS else False if word in INACTIVE_WORDS else None
    if state is not None and header == "inactive":  # a column that says "Inactive: Yes"
        return not state
    return state


@dataclass(frozen=True)
class _Header:
    row: int  # 1-based
    id_col: int
    name_col: int
    code_col: int | None
    active_col: int | None
    active_header: str


def _find_header(rows: list[tuple[Any, ...]], sheet: str) -> _Header | None:
    """`rows`: the sheet's first rows (HEADER_SCAN_ROWS of them at most)."""
    # The first row with an Id column and a name column; _HalfHeader when only one is there.
    half: str | None = None
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS], start=1):
        cells = [_norm(v) for v in row]
        id_col = _first(cells, ID_HEADERS)
        name_col = _first(cells, NAME_HEADERS)
        if id_col is not None and name_col is not None:
            active_col = _first(cells, ACTIVE_HEADERS)
            return _Header(
                index,
                id_col,
                name_col,
                _first(cells, CODE_HEADERS),
                active_col,
                cells[active_col] if active_col is not None else "",
            )
        if half is None and _looks_like_header(row):
            if id_col is not None:
                half = f"sheet {sheet!r} row {index} has an 'Id' column but no 'Name' column"
            elif name_col is not None:
                half = f"sheet {sheet!r} row {index} has a 'Name' column but no 'Id' column"
    if half:
        raise _HalfHeader(half)
    return None


def _looks_like_header(row: tuple[Any, ...]) -> bool:
    """Several text cells and no numbers: a header row, not a title line or a data row."""
    filled = [v for v in row if v is not None and str(v).strip()]
    return len(filled) >= 2 and all(isinstance(v, str) for v in filled)


class _HalfHeader(Exception):
    """A header row with one of the two columns: remembered, reported if no sheet is usable."""


def _first(cells: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:  # header preference order, then column order
        if name in cells:
            return cells.index(name)
    return None


def _sheet_rows(
    header: _Header, title: str, below: Iterable[tuple[Any, ...]]
) -> Iterator[CustomerRow | None]:
    """The rows below the header (`below`, streamed); None for a row without a usable id and
    name."""
    for offset, row in enumerate(below, start=header.row + 1):
        cell = row[header.id_col] if header.id_col < len(row) else None
        ident = _cell_id(cell)
        name = row[header.name_col] if header.name_col < len(row) else None
        if ident is None or name is None or not str(name).strip():
            yield None  # a blank, a total or a note below the table
            continue
        code = (
            row[header.code_col]
            if header.code_col is not None and header.code_col < len(row)
            else ""
        )
        active = (
            _active(row[header.active_col], header.active_header)
            if header.active_col is not None and header.active_col < len(row)
            else None
        )
        letter = _column_letter(header.id_col)
        yield CustomerRow(
            ident, str(name).strip(), active, str(code or "").strip(), f"{title}!{letter}{offset}"
        )


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


class _RowCap:
    """Counts the rows read over all sheets; DataError as soon as one more than the cap comes."""

    def __init__(self, name: str, max_rows: int) -> None:
        self.name, self.max_rows, self.read = name, max_rows, 0

    def rows(self, sheet: Any) -> Iterator[tuple[Any, ...]]:
        for row in sheet.iter_rows(values_only=True):  # read-only: one row in memory at a time
            self.read += 1
            if self.read > self.max_rows:
                raise self._over(sheet)
            yield tuple(row)

    def expect(self, sheet: Any, read_here: int) -> None:
        """Refuse at once a sheet whose size tag (`<dimension>`, written by Excel) already says
        it goes over the cap, rather than after reading 200,000 rows to find out."""
        declared = sheet.max_row  # read-only mode: the tag's value; None when there is none
        if isinstance(declared, int) and self.read - read_here + declared > self.max_rows:
            raise self._over(sheet)

    def _over(self, sheet: Any) -> DataError:
        return DataError(
            f"{self.name} has more than {self.max_rows:,} rows (stopped on sheet "
            f"{sheet.title!r}), over the cap for a customer export: filter the export "
            f"in Komet (e.g. name contains FTD, or active customers only) and export "
            f"again, or raise the cap (--max-export-rows)."
        )


def _check_caps(max_mb: float, max_rows: int) -> None:
    if not max_mb > 0 or max_rows < 1:
        raise ConfigError(
            f"customer export caps must be positive (got {max_mb:g} MB, {max_rows} rows)."
        )


def read_customer_export(
    source: Path | str | bytes | IO[bytes],
    *,
    max_mb: float = MAX_EXPORT_MB,
    max_rows: int = MAX_EXPORT_ROWS,
) -> CustomerExport:
    """Every customer row of every sheet that has an Id and a name column.

    `source` is a path, the file's bytes (an upload widget), or a binary file object. A file
    over `max_mb`, or with more than `max_rows` rows over all its sheets, is a DataError.
    """
    _check_caps(max_mb, max_rows)
    name, data = _load_bytes(source, max_mb)
    workbook = _open_workbook(name, data)
    export = CustomerExport(name=name)
    halves: list[str] = []
    cap = _RowCap(name, max_rows)
    try:
        for sheet in workbook.worksheets:
            rows = cap.rows(sheet)
            head = list(itertools.islice(rows, HEADER_SCAN_ROWS))
            try:
                header = _find_header(head, sheet.title)
            except _HalfHeader as half:
                halves.append(str(half))
                header = None
            if header is None:  # no table in its first rows: the rest is not read
                export.sheets_skipped.append(sheet.title)
                continue
            export.sheets_read.append(sheet.title)
            cap.expect(sheet, len(head))
            below = itertools.chain(head[header.row :], rows)
            for row in _sheet_rows(header, sheet.title, below):
                if row is None:
                    export.rows_skipped += 1
                else:
                    export.rows.append(row)
    finally:
        workbook.close()
    _require_rows(export, halves)
    return export


def _require_rows(export: CustomerExport, halves: list[str]) -> None:
    if not export.sheets_read:
        looked = ", ".join(repr(s) for s in export.sheets_skipped) or "none (the workbook is empty)"
        what = f"; {halves[0]}" if halves else ""
        raise DataError(
            f"{export.name}: no sheet has both an 'Id' column and a customer name column in its "
            f"first {HEADER_SCAN_ROWS} rows (sheets looked at: {looked}){what}. {RE_EXPORT} "
            f"without deleting or renaming columns."
        )
    if not export.rows:
        raise DataError(
            f"{export.name}: found the header on sheet(s) {', '.join(export.sheets_read)} but no "
            f"customer rows with a numeric Id below it. {RE_EXPORT} with the filters cleared."
        )
