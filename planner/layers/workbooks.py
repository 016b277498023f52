"""Excel workbooks read as ledgers, checked before any XML parser sees them.

An ``.xlsx`` file is a zip archive of XML parts: it is refused when it unpacks to more
than :data:`MAX_XLSX_BYTES` (a zip bomb) or a part declares a DTD (entity expansion),
and formula cells without a saved result are reported, since they read as empty.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

import pandas as pd

from planner.errors import PlannerError
from planner.layers.ledgers import RAW_CELLS, Ledger, Note, first_line, is_blank, ledger_from_cells

#: Largest total uncompressed size of the parts of an .xlsx workbook, in bytes.
MAX_XLSX_BYTES = 1 << 30
_ZIP_WORKBOOKS = (".xlsx", ".xlsm")
# A DTD (and with it entity expansion, the "billion laughs") has no place in a workbook.
_XML_DTD = tuple(
    word.encode(enc)
    for word in ("<!DOCTYPE", "<!ENTITY")
    for enc in ("utf-8", "utf-16-le", "utf-16-be")
)
_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
_SCAN_CHUNK = 1 << 20


def read_workbook(path: Path, sheet: str | int | None) -> Ledger:
    """Read one sheet of an Excel workbook (name or 0-based index; the first when ``None``)."""
    zipped = path.suffix.lower() in _ZIP_WORKBOOKS or zipfile.is_zipfile(path)  # .xls may be .xlsx
    has_formulas = _scan_workbook(path) if zipped else False
    try:
        with pd.ExcelFile(path) as book:
            name = _sheet_name(path, [str(s) for s in book.sheet_names], sheet)
            cells = pd.read_excel(book, sheet_name=name, dtype=object, **RAW_CELLS)
    except PlannerError:
        raise
    except ImportError:
        raise PlannerError(
            f"{path}: old Excel 97-2003 workbooks (.xls) cannot be read",
            fix="save it as .xlsx in Excel or WPS",
        ) from None
    except Exception as exc:  # a damaged workbook fails in many parser-specific types
        raise PlannerError(
            f"{path}: cannot read spreadsheet ({type(exc).__name__}: {first_line(exc)})",
            fix="open it in Excel or WPS and save it again as .xlsx",
        ) from None
    ledger = ledger_from_cells(cells)
    if not has_formulas:
        return ledger
    notes = _uncached_formulas(path, name, cells, ledger)
    return Ledger(ledger.table, ledger.rows, None, ledger.duplicate_columns, notes)


def _sheet_name(path: Path, names: list[str], sheet: str | int | None) -> str:
    """The sheet asked for (name or 0-based index; the first when ``None``)."""
    if sheet is None:
        sheet = 0
    if isinstance(sheet, int) and 0 <= sheet < len(names):
        return names[sheet]
    if isinstance(sheet, str) and sheet in names:
        return sheet
    raise PlannerError(
        f"{path}: sheet {sheet!r} not found; the workbook has: {', '.join(names)}",
        fix="set sheet to one of these names (or a 0-based index)",
    )


def _scan_workbook(path: Path) -> bool:
    """Check an .xlsx container before any XML parser sees it.

    Refuses a file that is not a zip archive, parts larger than :data:`MAX_XLSX_BYTES` in
    total (a zip bomb), and any XML part carrying a DTD (entity expansion). Returns
    whether any worksheet holds a formula.
    """
    if not zipfile.is_zipfile(path):
        raise PlannerError(
            f"{path}: not an Excel workbook (an .xlsx file is a zip archive; this one is not, "
            "or it is truncated)",
            fix="open it in Excel or WPS and save it again as .xlsx",
        )
    try:
        with zipfile.ZipFile(path) as book:
            parts = [m for m in book.infolist() if not m.is_dir()]
            total = sum(m.file_size for m in parts)
            if total > MAX_XLSX_BYTES:
                raise PlannerError(
                    f"{path}: the workbook unpacks to {total / 2**20:,.0f} MB, more than the "
                    f"{MAX_XLSX_BYTES / 2**20:,.0f} MB allowed",
                    fix="split the workbook, or save the sheet as CSV",
                )
            xml = [m for m in parts if m.filename.lower().endswith((".xml", ".rels", ".vml"))]
            found = [_scan_part(book, m) for m in xml]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error) as exc:
        raise PlannerError(
            f"{path}: damaged workbook ({first_line(exc)})",
            fix="open it in Excel or WPS and save it again as .xlsx",
        ) from None
    except NotImplementedError as exc:  # an unsupported compression method
        raise PlannerError(f"{path}: cannot unpack the workbook ({exc})") from None
    return any(found)


def _scan_part(book: zipfile.ZipFile, part: zipfile.ZipInfo) -> bool:
    """Stream one XML part: refuse a DTD; return whether it is a worksheet with formulas."""
    sheet = part.filename.startswith("xl/worksheets/")
    formulas, tail = False, b""
    with book.open(part) as stream:
        while chunk := stream.read(_SCAN_CHUNK):
            window = tail + chunk
            if any(word in window for word in _XML_DTD):
                raise PlannerError(
                    f"{book.filename}: the workbook part {part.filename} declares a DTD or "
                    "entities (<!DOCTYPE/<!ENTITY>), which Excel never writes; refused as unsafe",
                    fix="open it in Excel or WPS and save it again as .xlsx",
                )
            formulas = formulas or (sheet and _FORMULA.search(window) is not None)
            tail = window[-32:]
    return formulas


def _uncached_formulas(
    path: Path, sheet: str, cells: pd.DataFrame, ledger: Ledger
) -> tuple[Note, ...]:
    """Formula cells of the ledger that have no saved result (read as empty)."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        found = [
            (c.row, c.column, getattr(c.value, "text", c.value))
            for row in book[sheet].iter_rows()
            for c in row
            if c.data_type == "f" and c.row is not None and c.column is not None
        ]
    finally:
        book.close()
    wanted = set(ledger.rows.tolist())
    columns = dict(enumerate(ledger.table.columns))
    notes = []
    for row, col, formula in found:
        if (
            row not in wanted
            or col - 1 >= cells.shape[1]
            or not is_blank(cells.iat[row - 1, col - 1])
        ):
            continue
        notes.append(
            Note(
                row,
                str(columns.get(col - 1, "")),
                f"formula {formula} has no saved result (read as empty)",
                "open the workbook in Excel or WPS and save it, so the results are stored",
            )
        )
    return tuple(notes)
