"""Reading uploaded spreadsheets for the contact import: CSV, XLSX, XLS and vCard.

`open_table()` detects the format (from the extension and the first bytes), validates the file up to
and including its header row, and returns a `Table` whose `rows()` streams the data rows. Every problem
with the file itself is a `FileError` whose message names the file (and the row and column where it
helps), so the import page and the import job can show it as is. Problems with single values (a bad
email, a ragged row) are not FileErrors: the caller reports them per row.

Memory: CSV is streamed (constant memory whatever the size). XLSX and XLS are read by python-calamine,
which loads the first sheet into memory; their size is bounded by `max_bytes` and the zip-bomb guard.
vCard is streamed card by card (photos and other binary properties are dropped before parsing).
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import itertools
import re
import zipfile
from pathlib import PurePath

import charset_normalizer

SUPPORTED = ("csv", "xlsx", "xls", "vcard")

SAMPLE_BYTES = 1024 * 1024  # how much of a CSV is read to detect its encoding and delimiter
SNIFF_CHARS = 64 * 1024  # how much of the decoded sample is parsed to choose the delimiter
DELIMITERS = (",", ";", "\t", "|")  # in order of preference when two are equally plausible

# csv's default limit (128 KiB) is per field; 1 MiB leaves room for long notes while still stopping
# a file with an unbalanced quote from swallowing gigabytes into one "field".
FIELD_SIZE_LIMIT = 1024 * 1024
csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_LIMIT))

# Zip-bomb guard for XLSX. Spreadsheet XML compresses well, typically 5-20x and rarely beyond 100x
# (very repetitive sheets), so a workbook may unpack to 100x its size, and always to 256 MiB; nothing
# may unpack beyond 2 GiB, because calamine holds the unpacked sheet in memory.
ZIP_MAX_RATIO = 100
ZIP_ALWAYS_ALLOWED = 256 * 1024 * 1024
ZIP_ABSOLUTE_MAX = 2 * 1024 * 1024 * 1024

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"

EXTENSIONS = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".tab": "csv",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".xls": "xls",
    ".vcf": "vcard", ".vcard": "vcard",
}
FORMAT_NAMES = {"csv": "CSV", "xlsx": "XLSX", "xls": "XLS", "vcard": "vCard"}

# Control characters that do not occur in text files (tab, newlines, form feed and escape aside).
_BINARY_CHARS = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f]")
# Undecodable bytes, kept by the "surrogateescape" error handler so the row can be named.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


class FileError(Exception):
    """A file that cannot be imported. str(exc) / exc.message is a sentence naming the file, and the row and
    column where relevant, e.g. 'contacts.csv, row 1, columns C and F: the header "Email" appears twice.'"""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def column_letter(index: int) -> str:
    """The spreadsheet letter of a 0-based column index: 0 -> "A", 25 -> "Z", 26 -> "AA"."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _letters(indexes) -> str:
    """"C", "C and F", "B, C and F"."""
    names = [column_letter(i) for i in indexes]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _size(n: int) -> str:
    for unit, factor in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if n >= factor:
            value = n / factor
            return f"{value:.1f} {unit}".replace(".0 ", " ") if value < 10 else f"{round(value)} {unit}"
    return f"{n} bytes"


class Table:
    """A validated file: its format, headers and a streaming reader of its data rows."""

    def __init__(self, name: str, fmt: str, records, *, encoding=None, delimiter=None):
        self.name = name
        self.format = fmt
        self.encoding = encoding
        self.delimiter = delimiter
        # records(): a fresh iterator of (row_number, values) over the non-blank rows, header first.
        self._records = records
        self.headers: list[str] = []

    def rows(self, start: int = 0):
        """Yield (row_number, values) for each data row after the header, skipping the first `start` data
        rows (to resume). row_number is the row a person sees in a spreadsheet (header = 1, first data row =
        2; CSV counts records, not physical lines; vCard: card n is row n + 1). values are stripped strings,
        not padded or truncated. Blank rows are skipped and not counted by `start`. Raises FileError when
        the file turns out to be unreadable further down."""
        records = self._records()
        try:
            next(records)  # the header
            yield from itertools.islice(records, start, None)
        finally:
            records.close()

    def __repr__(self):
        return f"<Table {self.name!r} {self.format} {len(self.headers)} columns>"


def open_table(fileobj, name: str, *, max_bytes: int | None = None) -> Table:
    """Detect the format of an uploaded file, validate it up to and including its header row (and that it has
    at least one data row), and return a Table. fileobj: a binary, seekable file. Raises FileError."""
    name = PurePath(name or "file").name or "file"
    extension = PurePath(name).suffix.lower()
    fmt = EXTENSIONS.get(extension)
    if fmt is None:
        raise FileError(f"{name} is not a file type that can be imported: upload a CSV, XLSX, XLS or vCard "
                        f"(.vcf) file.")
    size = fileobj.seek(0, io.SEEK_END)
    fileobj.seek(0)
    if max_bytes is not None and size > max_bytes:
        raise FileError(f"{name} is {_size(size)}; the limit is {_size(max_bytes)}.")
    if size == 0:
        raise FileError(f"{name} is empty.")
    magic = fileobj.read(8)
    fileobj.seek(0)

    # The content decides between the two Excel formats and catches a workbook saved as .csv; a file
    # named .xlsx/.xls that is not a workbook is refused rather than guessed at.
    if magic.startswith(ZIP_MAGIC) and fmt in ("csv", "xlsx", "xls"):
        fmt = "xlsx"
    elif magic.startswith(OLE2_MAGIC) and fmt in ("csv", "xlsx", "xls"):
        fmt = "xls"
    elif fmt == "xlsx":
        raise FileError(f"{name} is not a valid XLSX file (it is not a zip archive){_text_hint(fileobj)}.")
    elif fmt == "xls":
        raise FileError(f"{name} is not a valid XLS file (it is not an Excel 97-2003 workbook)"
                        f"{_text_hint(fileobj)}.")

    if fmt in ("xlsx", "xls"):
        table = _open_workbook(fileobj, name, fmt, size)
    else:
        encoding, sample, complete = _detect_encoding(fileobj, name, fmt)
        if not sample.strip():
            raise FileError(f"{name} is empty.")
        if _BINARY_CHARS.search(sample):
            raise FileError(_not_text(name, fmt))
        if fmt == "csv" and sample.lstrip()[:11].upper() == "BEGIN:VCARD":
            fmt = "vcard"
        if fmt == "vcard":
            table = _open_vcard(fileobj, name, encoding, sample)
        else:
            table = _open_csv(fileobj, name, encoding, sample, complete)
    _read_header(table)
    return table


def _not_text(name: str, fmt: str) -> str:
    return (f"{name} is not a text file, so it cannot be read as {FORMAT_NAMES[fmt]}: upload a CSV, XLSX, XLS "
            f"or vCard (.vcf) file.")


def _text_hint(fileobj) -> str:
    """'; if it is a CSV file, rename it to .csv' when the content looks like text."""
    head = fileobj.read(4096)
    fileobj.seek(0)
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        text = head.decode("cp1252", errors="replace")
    if text.strip() and not _BINARY_CHARS.search(text):
        return "; if it is a CSV file, rename it to .csv"
    return ""


def _read_header(table: Table) -> None:
    """Read and check the header row, and that at least one data row follows."""
    records = table._records()
    try:
        first = next(records, None)
        if first is None:
            raise FileError(f"{table.name} is empty.")
        header_row, cells = first
        if next(records, None) is None:
            raise FileError(f"{table.name} has a header row but no data rows.")
    finally:
        records.close()
    headers = [cell or f"Column {column_letter(i)}" for i, cell in enumerate(cells)]
    seen: dict[str, list[int]] = {}
    for index, header in enumerate(headers):
        seen.setdefault(header.casefold(), []).append(index)
    duplicates = [indexes for indexes in seen.values() if len(indexes) > 1]
    if len(duplicates) == 1:
        indexes = duplicates[0]
        times = "twice" if len(indexes) == 2 else f"{len(indexes)} times"
        raise FileError(f'{table.name}, row {header_row}, columns {_letters(indexes)}: the header '
                        f'"{headers[indexes[0]]}" appears {times}.')
    if duplicates:
        parts = "; ".join(f'"{headers[ix[0]]}" in columns {_letters(ix)}' for ix in duplicates)
        raise FileError(f"{table.name}, row {header_row}: headers appear more than once: {parts}.")
    table.headers = headers


# --- CSV -----------------------------------------------------------------------------------------------------

def _detect_encoding(fileobj, name: str, fmt: str) -> tuple[str, str, bool]:
    """(encoding, decoded sample, whether the sample is the whole file).
    BOM first, then strict UTF-8, then charset-normalizer (see below); else the file is refused."""
    raw = fileobj.read(SAMPLE_BYTES)
    at_end = not fileobj.read(1)
    fileobj.seek(0)

    def decode(encoding):
        # The incremental decoder keeps a multibyte character cut at the end of the sample instead of failing.
        return codecs.getincrementaldecoder(encoding)(errors="strict").decode(raw, final=at_end)

    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            try:
                return encoding, decode(encoding), at_end
            except UnicodeDecodeError as exc:
                raise FileError(f"{name} cannot be read: it starts as {encoding.upper()} text but byte "
                                f"{exc.start} is not valid {encoding.upper()}.") from None
    try:
        return "utf-8", decode("utf-8"), at_end
    except UnicodeDecodeError:
        pass
    encoding = _guess_legacy_encoding(raw)
    if encoding is not None:
        try:
            return encoding, decode(encoding), at_end
        except (UnicodeDecodeError, LookupError):
            pass
    if _BINARY_CHARS.search(raw[:4096].decode("latin-1")):
        raise FileError(_not_text(name, fmt))
    raise FileError(f"{name} cannot be read: its text encoding is not recognised. Save it as \"CSV UTF-8\" "
                    f"and upload it again.")


def _guess_legacy_encoding(raw: bytes) -> str | None:
    """charset-normalizer's guess, except that Windows-1252 wins when it is as plausible as the best guess:
    on short Western European samples charset-normalizer often picks cp1250 or cp775, which decode é/ü
    the same but get €, ñ or “quotes” wrong; cp1252 is what Excel writes on Western systems."""
    results = charset_normalizer.from_bytes(raw)
    best = results.best()
    if best is None:
        try:
            raw.decode("cp1252")
        except UnicodeDecodeError:
            return None
        return "cp1252"
    for match in results:
        if (match.encoding == "cp1252" or "cp1252" in match.could_be_from_charset) and \
                match.chaos <= best.chaos + 0.05:
            return "cp1252"
    return best.encoding


def _sniff_delimiter(sample: str, complete: bool) -> str:
    """The delimiter that splits the first records into the most consistent number of fields (> 1);
    "," for a one-column file. Parsing (rather than counting characters) ignores delimiters in quotes."""
    text = sample[:SNIFF_CHARS]
    complete = complete and len(sample) <= SNIFF_CHARS
    best, best_score = ",", (0, 0.0, 0)
    for delimiter in DELIMITERS:
        try:
            records = list(itertools.islice(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), 50))
        except csv.Error:
            continue
        if not complete and len(records) > 1:
            records.pop()  # probably cut by the end of the sample
        counts = [len(r) for r in records if any(cell.strip() for cell in r)]
        if not counts:
            continue
        mode = max(set(counts), key=lambda c: (counts.count(c), c))
        score = (int(mode > 1), counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _open_csv(fileobj, name: str, encoding: str, sample: str, complete: bool) -> Table:
    delimiter = _sniff_delimiter(sample, complete)

    def records():
        fileobj.seek(0)
        # newline="" lets csv handle quoted newlines; surrogateescape keeps undecodable bytes so the row and
        # column can be named below instead of failing somewhere inside an 8 KiB read-ahead.
        text = io.TextIOWrapper(fileobj, encoding=encoding, errors="surrogateescape", newline="")
        row_number = 0
        try:
            reader = csv.reader(text, delimiter=delimiter)
            while True:
                try:
                    record = next(reader, None)
                except csv.Error as exc:
                    raise FileError(_csv_error(name, row_number + 1, exc)) from None
                if record is None:
                    return
                row_number += 1
                values = [cell.strip() for cell in record]
                if not any(values):
                    continue
                if _UNDECODABLE.search("".join(values)):
                    column = next(i for i, v in enumerate(values) if _UNDECODABLE.search(v))
                    raise FileError(f"{name}, row {row_number}, column {column_letter(column)}: this text "
                                    f"cannot be read as {encoding}; save the file as \"CSV UTF-8\" and upload "
                                    f"it again.")
                yield row_number, values
        finally:
            text.detach()  # or closing the wrapper would close the caller's file

    return Table(name, "csv", records, encoding=encoding, delimiter=delimiter)


def _csv_error(name: str, row_number: int, exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return (f"{name}, row {row_number}: a cell is longer than {FIELD_SIZE_LIMIT:,} characters; is a "
                f"quote (\") missing its closing quote?")
    return f"{name}, row {row_number}: the CSV cannot be read ({exc})."


# --- XLSX / XLS ------------------------------------------------------------------------------------------------

def _open_workbook(fileobj, name: str, fmt: str, size: int) -> Table:
    from python_calamine import CalamineWorkbook

    if fmt == "xlsx":
        _check_zip(fileobj, name, size)
    fileobj.seek(0)
    try:
        workbook = CalamineWorkbook.from_filelike(fileobj)
        sheets = workbook.sheets_metadata
        # The first visible worksheet: what Excel shows when it opens the file.
        index = next((i for i, s in enumerate(sheets)
                      if str(s.visible).endswith("Visible") and str(s.typ).endswith("WorkSheet")), 0)
        sheet = workbook.get_sheet_by_index(index)
    except Exception as exc:  # calamine raises its own exception types and, on odd input, others
        raise FileError(f"{name} is not a valid {FORMAT_NAMES[fmt]} file, or it is damaged or password-protected "
                        f"({exc}).") from None

    def records():
        # iter_rows starts at row 1 but at the first used column: pad so column letters match Excel's.
        padding = [""] * (sheet.start[1] if sheet.start else 0)
        width = 0
        try:
            for row_number, row in enumerate(sheet.iter_rows(), start=1):
                values = padding + [_cell(value) for value in row]
                if not any(values):
                    continue
                if not width:  # the header row: its trailing empty cells are only the sheet's used range
                    while values and not values[-1]:
                        values.pop()
                    width = len(values)
                else:
                    # A spreadsheet is a grid, not ragged: drop the empty cells beyond the header, but keep
                    # any value there so the caller can report it.
                    end = len(values)
                    while end > width and not values[end - 1]:
                        end -= 1
                    del values[end:]
                yield row_number, values
        except FileError:
            raise
        except Exception as exc:
            raise FileError(f"{name} cannot be read: the workbook is damaged ({exc}).") from None

    return Table(name, fmt, records)


def _check_zip(fileobj, name: str, size: int) -> None:
    fileobj.seek(0)
    if not zipfile.is_zipfile(fileobj):
        raise FileError(f"{name} is not a valid XLSX file (it is not a zip archive).")
    fileobj.seek(0)
    try:
        with zipfile.ZipFile(fileobj) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileError(f"{name} is not a valid XLSX file (the zip archive is damaged: {exc}).") from None
    names = {m.filename for m in members}
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        raise FileError(f"{name} is a zip archive but not an Excel workbook.")
    unpacked = sum(m.file_size for m in members)
    if unpacked > min(ZIP_ABSOLUTE_MAX, max(ZIP_MAX_RATIO * size, ZIP_ALWAYS_ALLOWED)):
        raise FileError(f"{name} expands to {_size(unpacked)} when unpacked: refused as a possible zip bomb.")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Excel stores every number as a float: 4155550100.0 is the integer 4155550100.
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.isoformat(timespec="seconds")
    return str(value).strip()


# --- vCard -----------------------------------------------------------------------------------------------------

VCARD_COLUMNS = ("First Name", "Middle Name", "Last Name", "Full Name", "E-mail", "Phone", "Mobile Phone",
                 "Organization", "Department", "Title", "Birthday", "Website", "Street", "City", "Region",
                 "Postal Code", "Country", "Notes", "Categories")

MOBILE_TYPES = frozenset({"cell", "mobile", "iphone"})
NOT_PHONE_TYPES = frozenset({"fax", "pager", "textphone", "video"})


class _VCardLines:
    """readline() over a text stream without the binary properties (PHOTO, LOGO, SOUND, KEY) and their folded
    continuation lines: they are not imported, can be megabytes each, and a damaged photo would otherwise
    make vobject reject the whole card."""

    _BINARY_PROPERTY = re.compile(r"(?:[\w-]+\.)?(?:PHOTO|LOGO|SOUND|KEY)[;:]", re.IGNORECASE)

    def __init__(self, stream):
        self._stream = stream
        self._skipping = False

    def readline(self):
        while True:
            line = self._stream.readline()
            if not line:
                return line
            if line[:1] in (" ", "\t"):
                if not self._skipping:
                    return line
                continue
            self._skipping = bool(self._BINARY_PROPERTY.match(line))
            if not self._skipping:
                return line

    def read(self, size=-1):  # vobject only calls read() when quoted-printable support is off
        return "".join(iter(self.readline, ""))


def _open_vcard(fileobj, name: str, encoding: str, sample: str) -> Table:
    if sample.lstrip()[:11].upper() != "BEGIN:VCARD":
        raise FileError(f"{name} is not a vCard file (it does not start with BEGIN:VCARD).")

    def cards():
        """(card number, values by column) for every card, in order."""
        import vobject

        fileobj.seek(0)
        text = io.TextIOWrapper(fileobj, encoding=encoding, errors="replace", newline=None)
        number = 0
        try:
            components = vobject.readComponents(_VCardLines(text), allowQP=True)
            while True:
                try:
                    card = next(components, None)
                except Exception as exc:  # vobject raises ParseError, and binascii/ValueError on bad values
                    raise FileError(f"{name}, card {number + 1}: this card cannot be read ({exc}).") from None
                if card is None:
                    return
                if card.name.upper() != "VCARD":
                    continue
                number += 1
                try:
                    yield number, _card_values(card)
                except Exception as exc:
                    raise FileError(f"{name}, card {number}: this card cannot be read ({exc}).") from None
        finally:
            text.detach()

    # vCards have no header row: the columns are those that any card fills, in VCARD_COLUMNS order.
    # Finding them reads the whole file once, which also finds a broken card before the import starts.
    used = set()
    count = 0
    for _, values in cards():
        count += 1
        used.update(column for column, value in values.items() if value)
    if not count:
        raise FileError(f"{name} contains no contacts (no BEGIN:VCARD ... END:VCARD card).")
    if not used:
        raise FileError(f"{name} has cards, but none of them has a name, email or other value to import.")
    columns = [c for c in VCARD_COLUMNS if c in used]

    def records():
        rows = cards()
        try:
            yield 1, list(columns)
            for number, values in rows:
                row = [values.get(c, "") for c in columns]
                if any(row):
                    yield number + 1, row
        finally:
            rows.close()

    return Table(name, "vcard", records, encoding=encoding)


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_text(v) for v in value if _text(v))
    return value.strip() if isinstance(value, str) else ""


def _types(prop) -> set[str]:
    """TYPE values, lowercased: TYPE=WORK;TYPE=pref, TYPE="cell,voice" (4.0) and bare 2.1 parameters."""
    types = set()
    for value in prop.params.get("TYPE", []):
        types.update(t.strip().strip('"').lower() for t in value.split(","))
    types.update(p.lower() for p in getattr(prop, "singletonparams", []))
    return types


def _preferred(props):
    """The property marked preferred (TYPE=pref in 3.0, PREF=1 in 4.0), else the first."""
    props = [p for p in props if p.value and (_text(p.value) or not isinstance(p.value, (str, list, tuple)))]
    for prop in props:
        if "pref" in _types(prop) or prop.params.get("PREF"):
            return prop
    return props[0] if props else None


def _card_values(card) -> dict[str, str]:
    contents = card.contents
    values: dict[str, str] = {}

    def first(key):
        prop = _preferred(contents.get(key, []))
        return prop.value if prop is not None else None

    name = first("n")
    if name is not None and not isinstance(name, str):
        values["First Name"] = _text(name.given)
        values["Middle Name"] = _text(name.additional)
        values["Last Name"] = _text(name.family)
    values["Full Name"] = _text(first("fn"))
    if not values.get("First Name") and not values.get("Last Name") and values["Full Name"]:
        # No structured name (some phones write FN only): the last word is taken as the last name.
        *given, family = values["Full Name"].split()
        values["First Name"], values["Last Name"] = (" ".join(given), family) if given else (family, "")

    values["E-mail"] = _text(first("email"))
    phones = [p for p in contents.get("tel", []) if not _types(p) & MOBILE_TYPES and not _types(p) & NOT_PHONE_TYPES]
    mobiles = [p for p in contents.get("tel", []) if _types(p) & MOBILE_TYPES]
    for column, props in (("Phone", phones), ("Mobile Phone", mobiles)):
        prop = _preferred(props)
        if prop is not None:
            number = _text(prop.value)
            values[column] = number[4:] if number.lower().startswith("tel:") else number

    org = first("org")
    if isinstance(org, (list, tuple)):
        values["Organization"] = _text(org[0]) if org else ""
        values["Department"] = _text(org[1]) if len(org) > 1 else ""
    else:
        values["Organization"] = _text(org)
    values["Title"] = _text(first("title"))
    bday = _preferred(contents.get("bday", []))
    if bday is not None:
        values["Birthday"] = _birthday(bday)
    values["Website"] = _text(first("url"))

    address = first("adr")
    if address is not None and not isinstance(address, str):
        values["Street"] = _text(address.street)
        values["City"] = _text(address.city)
        values["Region"] = _text(address.region)
        values["Postal Code"] = _text(address.code)
        values["Country"] = _text(address.country)

    values["Notes"] = "\n".join(_text(p.value) for p in contents.get("note", []) if _text(p.value))
    categories = []
    for prop in contents.get("categories", []):
        items = prop.value if isinstance(prop.value, (list, tuple)) else str(prop.value).split(",")
        categories.extend(item.strip() for item in items if isinstance(item, str) and item.strip())
    values["Categories"] = ", ".join(dict.fromkeys(categories))
    return values


def _birthday(prop) -> str:
    """BDAY as YYYY-MM-DD; "" when the year is unknown (--MMDD, or Apple's X-APPLE-OMIT-YEAR placeholder year).
    Anything else is passed on as written, for the caller to report."""
    raw = _text(prop.value)
    if raw.startswith("--"):
        return ""
    match = re.match(r"(\d{4})-?(\d{2})-?(\d{2})(?:$|T)", raw)
    if not match:
        return raw
    year, month, day = match.groups()
    if year in prop.params.get("X-APPLE-OMIT-YEAR", []):
        return ""
    return f"{year}-{month}-{day}"
