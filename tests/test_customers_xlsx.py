"""Reading Komet's customer export: awkward but real layouts, and files that are not usable.

Every workbook is generated here with openpyxl, so each test shows the layout it is about.
"""

from __future__ import annotations

import inspect
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from komet_ftd_ops.errors import ConfigError, DataError
from komet_ftd_ops.onboarding.customers_xlsx import (
    MAX_EXPORT_MB,
    MAX_EXPORT_ROWS,
    OLE_MAGIC,
    CustomerRow,
    ftd_candidates,
    read_customer_export,
)

HEADER = ["Id", "Code", "Name", "Customer Type", "Active", "Sales Person", "City", "State"]
KOMET_ROWS = [
    [5066, "FTD", "FTD Inc", "E-commerce", "Yes", "Laura Gomez", "Downers Grove", "IL"],
    [5018, "FTDM", "FTD Mercury Network", "Wholesaler", "Yes", "Laura Gomez", "Downers Grove", "IL"],
    [5042, "FTDOLD", "FTD Florists (old)", "Wholesaler", "No", "Laura Gomez", "Downers Grove", "IL"],
    [4931, "BLOSSOM", "Blossom & Co", "Florist", "Yes", "Mike Torres", "Orlando", "FL"],
    [4980, "SWIFT", "Swiftdale Farms", "Wholesaler", "Yes", "Ana Restrepo", "Phoenix", "AZ"],
]  # fmt: skip


def workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """A workbook with the given sheets (rows as lists), in order."""
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        sheet = wb.create_sheet(title)
        for row in rows:
            sheet.append(row)
    wb.save(path)
    return path


def ids(rows: list[CustomerRow]) -> list[str]:
    return [r.customer_id for r in rows]


# --- layouts that must work ----------------------------------------------------------------


def test_a_plain_komet_export_gives_every_row_and_the_ftd_ones(tmp_path: Path) -> None:
    path = workbook(tmp_path / "Customers.xlsx", {"Customers": [HEADER, *KOMET_ROWS]})
    export = read_customer_export(path)
    assert ids(export.rows) == ["5066", "5018", "5042", "4931", "4980"]
    ftd = export.ftd_rows()
    # Active first, then by name; "Swiftdale" holds the letters f-t-d but not the word FTD.
    assert [(r.customer_id, r.active) for r in ftd] == [
        ("5066", True), ("5018", True), ("5042", False),
    ]  # fmt: skip
    assert ftd[0] == CustomerRow("5066", "FTD Inc", True, "FTD", "Customers!A2")


def test_title_rows_above_the_header_and_columns_in_another_order(tmp_path: Path) -> None:
    header = ["Sales Person", "Customer Name", "Status", "Customer ID", "Notes", "Credit Limit"]
    rows = [
        ["Customers"],
        ["Exported 2024-05-02 09:14 by laura@example.com"],
        [],
        ["Filters: Name contains 'ftd'"],
        header,
        ["Laura Gomez", "FTD Inc", "Active", 5066, "", 250000],
        ["Laura Gomez", "FTD Florists (old)", "Inactive", 5042, "closed 2021", 0],
        [None, "Total: 2 customers", None, None, None, None],
    ]
    export = read_customer_export(workbook(tmp_path / "titled.xlsx", {"Export": rows}))
    assert [(r.customer_id, r.name, r.active) for r in export.rows] == [
        ("5066", "FTD Inc", True), ("5042", "FTD Florists (old)", False),
    ]  # fmt: skip
    assert export.rows[0].source == "Export!D6"
    assert export.rows_skipped == 1  # the total line


def test_several_sheets_an_empty_one_and_a_summary_without_a_table(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "multi.xlsx",
        {
            "Empty": [],
            "Summary": [["Customers by type"], ["E-commerce", 1], ["Wholesaler", 3]],
            "Customers": [HEADER, *KOMET_ROWS[:2]],
            "Customers (2)": [["continued"], HEADER, *KOMET_ROWS[2:]],
        },
    )
    export = read_customer_export(path)
    assert export.sheets_read == ["Customers", "Customers (2)"]
    assert export.sheets_skipped == ["Empty", "Summary"]
    assert ids(export.rows) == ["5066", "5018", "5042", "4931", "4980"]
    assert ids(export.ftd_rows()) == ["5066", "5018", "5042"]


def test_ftd_inside_several_names_matches_the_word_in_any_case_only(tmp_path: Path) -> None:
    names = {
        1: "FTD Inc", 2: "ftd.com Fulfilment", 3: "Flowers (Ftd)", 4: "FTD-Mercury",
        5: "Swiftdale Farms", 6: "Giftdrop LLC", 7: "AFTD Holdings", 8: "Blossom & Co",
    }  # fmt: skip
    rows = [["Id", "Name"], *[[i, n] for i, n in names.items()]]
    export = read_customer_export(workbook(tmp_path / "names.xlsx", {"Sheet1": rows}))
    assert sorted(ids(export.ftd_rows()), key=int) == ["1", "2", "3", "4"]


def test_inactive_duplicates_are_kept_marked_and_sorted_last(tmp_path: Path) -> None:
    rows = [
        ["Id", "Name", "Active"],
        [5042, "FTD Inc", "No"],
        [5066, "FTD Inc", "Yes"],
        [5101, "FTD Inc", 0],
        [5066, "FTD Inc", "Yes"],  # the same row twice (two exports pasted together)
    ]
    export = read_customer_export(workbook(tmp_path / "dupes.xlsx", {"Sheet1": rows}))
    assert [(r.customer_id, r.active) for r in export.ftd_rows()] == [
        ("5066", True), ("5042", False), ("5101", False),
    ]  # fmt: skip
    assert "(inactive)" in export.ftd_rows()[1].label()


def test_ids_stored_as_text_floats_or_with_an_apostrophe_come_out_as_digits(tmp_path: Path) -> None:
    rows = [["ID", "NAME"], ["5066", "FTD Inc"], [5018.0, "FTD Mercury"], [" '5042 ", "FTD Old"],
            ["5077.0", "FTD Four"], ["n/a", "FTD Not An Id"], [None, "FTD No Id"]]  # fmt: skip
    export = read_customer_export(workbook(tmp_path / "text.xlsx", {"Sheet1": rows}))
    assert sorted(ids(export.rows)) == ["5018", "5042", "5066", "5077"]
    assert export.rows_skipped == 2
    assert all(r.active is None for r in export.rows)  # no active column: unknown, not inactive


def test_extra_columns_and_an_inactive_column_that_says_yes(tmp_path: Path) -> None:
    header = [
        "Customer Code",
        "Id",
        "Accounting Code",
        "Name",
        "Inactive",
        *[f"Custom {n}" for n in range(12)],
    ]
    rows = [header, ["FTD", 5066, "C005066", "FTD Inc", "No", *range(12)],
            ["FTDOLD", 5042, "C005042", "FTD Florists (old)", "Yes", *range(12)]]  # fmt: skip
    export = read_customer_export(workbook(tmp_path / "wide.xlsx", {"Sheet1": rows}))
    assert [(r.customer_id, r.code, r.active) for r in export.rows] == [
        ("5066", "FTD", True), ("5042", "FTDOLD", False),
    ]  # fmt: skip


def test_bytes_and_file_objects_work_like_paths(tmp_path: Path) -> None:
    path = workbook(tmp_path / "c.xlsx", {"Customers": [HEADER, *KOMET_ROWS]})
    data = path.read_bytes()
    assert ids(read_customer_export(data).rows) == ids(read_customer_export(path).rows)
    assert len(read_customer_export(io.BytesIO(data)).ftd_rows()) == 3


def test_ftd_candidates_keeps_one_row_per_id() -> None:
    rows = [CustomerRow("1", "FTD", True, source="a"), CustomerRow("1", "FTD", True, source="b")]
    assert [r.source for r in ftd_candidates(rows)] == ["a"]


# --- files that must be refused with a clear message ----------------------------------------


def refused(source: Any) -> str:
    with pytest.raises(DataError) as caught:
        read_customer_export(source)
    return str(caught.value)


def test_a_corrupt_file_says_corrupt_and_to_download_again(tmp_path: Path) -> None:
    good = workbook(tmp_path / "c.xlsx", {"Customers": [HEADER, *KOMET_ROWS]}).read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good[: len(good) // 2])
    message = refused(cut)
    assert "cut.xlsx is corrupt or incomplete" in message and "Download it again" in message


def test_a_password_protected_file_is_recognised_by_its_ole_signature(tmp_path: Path) -> None:
    # An encrypted OOXML file is an OLE compound file (D0 CF 11 E0 ...) with an
    # "EncryptedPackage" stream whose name is stored in UTF-16LE in the directory.
    fake = OLE_MAGIC + bytes(504) + "EncryptionInfo".encode("utf-16-le") + bytes(64)
    fake += "EncryptedPackage".encode("utf-16-le") + bytes(1024)
    path = tmp_path / "protected.xlsx"
    path.write_bytes(fake)
    message = refused(path)
    assert "password-protected" in message and "remove the password" in message


def test_an_old_xls_file_is_told_apart_from_a_protected_one(tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(OLE_MAGIC + bytes(504) + "Workbook".encode("utf-16-le") + bytes(512))
    message = refused(path)
    assert "Excel 97-2003 (.xls)" in message and "save it as Excel Workbook (.xlsx)" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"Id,Name\n5066,FTD Inc\n", "not an Excel workbook (it looks like a text or other file)"),
        (b"<html><table><tr><td>Id</td></tr></table></html>", "looks like a web page (HTML)"),
        (b"%PDF-1.7\n", "not an Excel workbook"),
        (b"", "is empty (0 bytes)"),
    ],
)
def test_files_that_are_not_xlsx_say_what_they_look_like(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "customers.xlsx"
    path.write_bytes(content)
    assert expected in refused(path)


def test_a_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    assert "a zip file but not an Excel workbook" in refused(path)


def test_a_missing_file_and_a_folder(tmp_path: Path) -> None:
    assert "no such file" in refused(tmp_path / "nope.xlsx")
    assert "is a folder" in refused(tmp_path)


def test_missing_id_column_is_named(tmp_path: Path) -> None:
    rows = [["Code", "Name", "Active"], ["FTD", "FTD Inc", "Yes"]]
    message = refused(workbook(tmp_path / "noid.xlsx", {"Customers": rows}))
    assert "no sheet has both an 'Id' column and a customer name column" in message
    assert "sheet 'Customers' row 1 has a 'Name' column but no 'Id' column" in message
    assert "Export the list again" in message


def test_missing_name_column_is_named(tmp_path: Path) -> None:
    rows = [["Title"], ["Id", "Code", "Active"], [5066, "FTD", "Yes"]]
    message = refused(workbook(tmp_path / "noname.xlsx", {"Customers": rows}))
    assert "sheet 'Customers' row 2 has an 'Id' column but no 'Name' column" in message


def test_an_empty_workbook_and_a_header_without_rows(tmp_path: Path) -> None:
    message = refused(workbook(tmp_path / "empty.xlsx", {"Sheet1": []}))
    assert "no sheet has both" in message and "'Sheet1'" in message
    message = refused(workbook(tmp_path / "header.xlsx", {"Sheet1": [HEADER]}))
    assert "no customer rows with a numeric Id" in message


# --- caps: a whole company's export is refused early, with what to do -------------------------


def test_the_default_caps_are_20_mb_and_200000_rows() -> None:
    assert (MAX_EXPORT_MB, MAX_EXPORT_ROWS) == (20.0, 200_000)
    defaults = inspect.signature(read_customer_export).parameters
    assert (defaults["max_mb"].default, defaults["max_rows"].default) == (20.0, 200_000)


def test_a_file_just_over_the_size_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    rows = [HEADER, *KOMET_ROWS * 40]
    path = workbook(tmp_path / "Customers.xlsx", {"Customers": rows})
    size_mb = path.stat().st_size / (1024 * 1024)
    assert read_customer_export(path, max_mb=size_mb * 1.01).rows  # just under: read
    cap = size_mb * 0.99  # just over
    for source in (path, path.read_bytes(), io.BytesIO(path.read_bytes())):
        with pytest.raises(DataError) as caught:
            read_customer_export(source, max_mb=cap)
        message = str(caught.value)
        assert "\n" not in message and f"over the {cap:g} MB cap" in message
        assert "filter the export in Komet" in message and "--max-export-mb" in message


def test_more_rows_than_the_row_cap_stop_the_read_with_what_to_do(tmp_path: Path) -> None:
    rows = [HEADER, *[[6000 + n, "", f"Florist {n}"] for n in range(50)]]  # 51 rows
    path = workbook(tmp_path / "Customers.xlsx", {"Customers": rows})
    assert len(read_customer_export(path, max_rows=51).rows) == 50
    message = refused_with(path, max_rows=50)
    assert "more than 50 rows" in message and "sheet 'Customers'" in message
    assert "filter the export in Komet" in message and "--max-export-rows" in message
    assert "\n" not in message


def test_the_row_cap_counts_every_sheet_but_not_past_a_sheet_without_a_table(
    tmp_path: Path,
) -> None:
    notes = [[f"note {n}", n] for n in range(500)]  # no header in its first rows: left there
    path = workbook(
        tmp_path / "multi.xlsx",
        {"Notes": notes, "Customers": [HEADER, *KOMET_ROWS], "More": [HEADER, *KOMET_ROWS]},
    )
    export = read_customer_export(path, max_rows=30 + 12)  # 30 scanned + 6 + 6
    assert export.sheets_skipped == ["Notes"] and len(export.rows) == 10
    assert "sheet 'More'" in refused_with(path, max_rows=30 + 11)


def test_caps_must_be_positive(tmp_path: Path) -> None:
    path = workbook(tmp_path / "c.xlsx", {"Customers": [HEADER, *KOMET_ROWS]})
    for caps in ({"max_mb": 0}, {"max_rows": 0}):
        with pytest.raises(ConfigError, match="caps must be positive"):
            read_customer_export(path, **caps)


def refused_with(source: Any, **caps: Any) -> str:
    with pytest.raises(DataError) as caught:
        read_customer_export(source, **caps)
    return str(caught.value)


def test_a_sheet_whose_size_tag_says_it_is_over_the_cap_is_refused_before_its_rows_are_read(
    tmp_path: Path,
) -> None:
    # Excel writes each sheet's used range (<dimension ref="A1:H300001"/>): a 6-million-row
    # export is refused from it at once. Here a small file claims 300,000 rows.
    small = workbook(tmp_path / "small.xlsx", {"Customers": [HEADER, *KOMET_ROWS]})
    claimed = tmp_path / "claimed.xlsx"
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(claimed, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b'<dimension ref="A1:H6" />' in data
                data = data.replace(b'ref="A1:H6"', b'ref="A1:H300000"')
            target.writestr(item, data)
    assert "more than 200,000 rows" in refused_with(claimed)
    assert len(read_customer_export(claimed, max_rows=300_000).rows) == 5  # the real rows
