"""Reading real uploaded files: CSV in several encodings and delimiters, XLSX, XLS, vCard, and bad input.

The fixture files are written to tmp_path; nothing is mocked and no database is needed.
"""

from __future__ import annotations

import datetime
import tracemalloc
import zipfile

import openpyxl
import pytest
import xlsxwriter

from contacts.import_files import FileError, column_letter, open_table
from contacts.import_mapping import guess_mapping


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def table_of(path, **kwargs):
    with open(path, "rb") as f:
        table = open_table(f, path.name, **kwargs)
        return table, list(table.rows())


def error_of(path, **kwargs) -> str:
    with open(path, "rb") as f, pytest.raises(FileError) as info:
        table = open_table(f, path.name, **kwargs)
        list(table.rows())
    assert info.value.message == str(info.value)
    return info.value.message


def test_column_letter():
    assert [column_letter(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == \
        ["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]


# --- CSV -----------------------------------------------------------------------------------------------------

TEXT = "First name,Last name,Email,Note\nRené,Müller,rene@example.com,Café 3 €\nZoë,Ørsted,zoe@example.com,\n"


@pytest.mark.parametrize("encoding, data", [
    ("utf-8", TEXT.encode("utf-8")),
    ("utf-8-sig", TEXT.encode("utf-8-sig")),
    ("utf-16", TEXT.encode("utf-16")),  # with its BOM (little-endian here)
    ("utf-16", b"\xfe\xff" + TEXT.encode("utf-16-be")),
    ("cp1252", TEXT.encode("cp1252")),
])
def test_csv_encodings(tmp_path, encoding, data):
    table, rows = table_of(write(tmp_path, "contacts.csv", data))
    assert (table.format, table.encoding, table.delimiter) == ("csv", encoding, ",")
    assert table.headers == ["First name", "Last name", "Email", "Note"]
    assert rows == [(2, ["René", "Müller", "rene@example.com", "Café 3 €"]),
                    (3, ["Zoë", "Ørsted", "zoe@example.com", ""])]


def test_csv_cp1252_short_sample_is_not_mistaken_for_another_codepage(tmp_path):
    table, rows = table_of(write(tmp_path, "prices.csv", "Name;Price\nCafé crème;3 €\nGâteau “maison”;4 €\n"
                                 .encode("cp1252")))
    assert table.encoding == "cp1252" and table.delimiter == ";"
    assert rows == [(2, ["Café crème", "3 €"]), (3, ["Gâteau “maison”", "4 €"])]


def test_csv_utf8_multibyte_character_across_the_sample_boundary(tmp_path):
    # "é" is two bytes; put its first byte exactly at the end of the 1 MiB sample.
    filler = "x" * (1024 * 1024 - len("Name\n") - 1)
    table, rows = table_of(write(tmp_path, "big.csv", f"Name\n{filler}é\nZoë\n".encode()))
    assert table.encoding == "utf-8"
    assert rows[-1] == (3, ["Zoë"]) and rows[0][1][0].endswith("xé")


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_csv_delimiters_with_quoted_delimiters_and_newlines(tmp_path, delimiter):
    d = delimiter
    text = (f'Name{d}Email{d}Note\r\n"Smith, Jane"{d}jane@example.com{d}"two\r\nlines; and {d} inside"\r\n'
            f'Bob{d}bob@example.com{d}plain\r\n')
    table, rows = table_of(write(tmp_path, "c.csv", text.encode()))
    assert table.delimiter == delimiter
    assert rows == [(2, ["Smith, Jane", "jane@example.com", f"two\r\nlines; and {d} inside"]),
                    (3, ["Bob", "bob@example.com", "plain"])]


def test_csv_row_numbers_count_records_and_skip_blank_rows(tmp_path):
    text = 'Name,Note\n"Ann","line 1\nline 2\nline 3"\n\n , \nBob,x\n'
    table, rows = table_of(write(tmp_path, "c.csv", text.encode()))
    assert rows == [(2, ["Ann", "line 1\nline 2\nline 3"]), (5, ["Bob", "x"])]
    with open(tmp_path / "c.csv", "rb") as f:
        assert list(open_table(f, "c.csv").rows(start=1)) == [(5, ["Bob", "x"])]


def test_csv_one_column_ragged_rows_and_stripping(tmp_path):
    table, rows = table_of(write(tmp_path, "emails.txt", b"  Email \nann@example.com\n  bob@example.com  \n"))
    assert table.delimiter == "," and table.headers == ["Email"]
    assert rows == [(2, ["ann@example.com"]), (3, ["bob@example.com"])]
    table, rows = table_of(write(tmp_path, "ragged.csv", b"a,b,c\n1,2\n1,2,3,4\n"))
    assert rows == [(2, ["1", "2"]), (3, ["1", "2", "3", "4"])]  # neither padded nor truncated


def test_csv_long_cell(tmp_path):
    note = "lorem ipsum " * 1000  # 12,000 characters
    table, rows = table_of(write(tmp_path, "c.csv", f'Name,Note\nAnn,"{note}"\n'.encode()))
    assert rows == [(2, ["Ann", note.strip()])]


def test_csv_unclosed_quote_names_the_row(tmp_path):
    text = 'Name,Note\nAnn,ok\nBob,"never closed\n' + ("x" * 100 + "\n") * 12000
    message = error_of(write(tmp_path, "broken.csv", text.encode()))
    assert message.startswith("broken.csv, row 3: a cell is longer than 1,048,576 characters")


def test_csv_undecodable_bytes_further_down_name_row_and_column(tmp_path):
    # Valid UTF-8 for the first MiB (so the file is detected as UTF-8), then a Latin-1 byte in row 3, column B.
    filler = "x" * (1024 * 1024)
    data = f"Name,City\nAnn,{filler}\n".encode() + b"Bob,K\xf6ln\n"
    message = error_of(write(tmp_path, "mixed.csv", data))
    assert message.startswith("mixed.csv, row 3, column B: this text cannot be read as utf-8")


def test_csv_that_is_really_a_workbook_is_read_as_one(tmp_path):
    path = tmp_path / "export.xlsx"
    workbook = xlsxwriter.Workbook(path)
    workbook.add_worksheet().write_row(0, 0, ["Email"])
    workbook.worksheets()[0].write_row(1, 0, ["ann@example.com"])
    workbook.close()
    renamed = write(tmp_path, "export.csv", path.read_bytes())
    table, rows = table_of(renamed)
    assert table.format == "xlsx" and rows == [(2, ["ann@example.com"])]


def test_csv_streams_in_constant_memory(tmp_path):
    path = tmp_path / "big.csv"
    block = "".join(f"Firstname{i},Lastname{i},person{i}@example.com,+1415555{i:04d}\n" for i in range(10_000))
    with open(path, "wb") as f:
        f.write(b"First name,Last name,Email,Phone\n")
        for _ in range(20):
            f.write(block.encode())
    assert path.stat().st_size > 10_000_000
    tracemalloc.start()
    try:
        with open(path, "rb") as f:
            table = open_table(f, "big.csv")
            count = last = 0
            for count, (last, values) in enumerate(table.rows(), start=1):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (count, last, values) == (200_000, 200_001, ["Firstname9999", "Lastname9999", "person9999@example.com",
                                                        "+14155559999"])
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


# --- XLSX / XLS ------------------------------------------------------------------------------------------------

def test_xlsx_values(tmp_path):
    path = tmp_path / "contacts.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["First name", " Email ", "Phone", "Birth date", "Met at", "VIP", "Score", None])
    sheet.append(["Ann", "ann@example.com", 4155550100, datetime.date(1985, 4, 12),
                  datetime.datetime(2024, 5, 1, 13, 4, 5), True, 1.5])
    sheet.append([])
    sheet.append(["Bob", "bob@example.com"])
    sheet.append(["Cy", None, None, None, None, None, None, None, "stray"])
    workbook.save(path)
    table, rows = table_of(path)
    assert table.format == "xlsx" and table.encoding is None
    assert table.headers == ["First name", "Email", "Phone", "Birth date", "Met at", "VIP", "Score"]
    assert rows[0] == (2, ["Ann", "ann@example.com", "4155550100", "1985-04-12", "2024-05-01T13:04:05", "true",
                           "1.5"])
    assert rows[1] == (4, ["Bob", "bob@example.com", "", "", "", "", ""])
    assert rows[2] == (5, ["Cy", "", "", "", "", "", "", "", "stray"])  # a value outside the headers is kept


def test_xlsx_table_not_at_a1_keeps_spreadsheet_rows_and_columns(tmp_path):
    path = tmp_path / "offset.xlsx"
    workbook = xlsxwriter.Workbook(path)
    sheet = workbook.add_worksheet()
    sheet.write_row("B3", ["Email", "Name"])
    sheet.write_row("B4", ["ann@example.com", "Ann"])
    workbook.close()
    table, rows = table_of(path)
    assert table.headers == ["Column A", "Email", "Name"]
    assert rows == [(4, ["", "ann@example.com", "Ann"])]


def test_xlsx_duplicate_headers_name_the_columns(tmp_path):
    path = tmp_path / "dup.xlsx"
    workbook = xlsxwriter.Workbook(path)
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["Name", "Phone", "Email"] + [f"x{i}" for i in range(23)] + ["email "])
    sheet.write_row(1, 0, ["Ann"])
    workbook.close()
    assert error_of(path) == 'dup.xlsx, row 1, columns C and AA: the header "Email" appears twice.'


def test_xlsx_not_a_zip(tmp_path):
    assert error_of(write(tmp_path, "c.xlsx", b"\x00\x01garbage" * 100)) == \
        "c.xlsx is not a valid XLSX file (it is not a zip archive)."
    message = error_of(write(tmp_path, "renamed.xlsx", b"Name,Email\nAnn,ann@example.com\n"))
    assert message == "renamed.xlsx is not a valid XLSX file (it is not a zip archive); if it is a CSV file, " \
                      "rename it to .csv."


def test_xlsx_zip_that_is_not_a_workbook_and_corrupt_workbook(tmp_path):
    path = tmp_path / "doc.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    assert error_of(path) == "doc.xlsx is a zip archive but not an Excel workbook."
    path = tmp_path / "corrupt.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types")
        archive.writestr("xl/workbook.xml", "<not really")
    assert error_of(path).startswith("corrupt.xlsx is not a valid XLSX file, or it is damaged")


def test_xlsx_zip_bomb(tmp_path):
    path = tmp_path / "bomb.xlsx"
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            for _ in range(300):
                member.write(chunk)
    assert path.stat().st_size < 2 * 1024 * 1024
    assert error_of(path) == "bomb.xlsx expands to 300 MB when unpacked: refused as a possible zip bomb."


def test_xls_magic_is_checked(tmp_path):
    # No XLS writer is available here, so only the checks on the container are tested: a file named .xls
    # that is not an OLE2 compound file, and a damaged one that is.
    assert error_of(write(tmp_path, "old.xls", b"<html><table><tr><td>x</td></tr></table></html>")) == \
        "old.xls is not a valid XLS file (it is not an Excel 97-2003 workbook); if it is a CSV file, rename it " \
        "to .csv."
    message = error_of(write(tmp_path, "damaged.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)))
    assert message.startswith("damaged.xls is not a valid XLS file, or it is damaged")


# --- vCard -----------------------------------------------------------------------------------------------------

APPLE = """BEGIN:VCARD\r
VERSION:3.0\r
PRODID:-//Apple Inc.//macOS 14.4//EN\r
N:Appleseed;Johnny;Q.;Mr.;\r
FN:Johnny Q. Appleseed\r
ORG:Apple Inc.;Engineering;\r
TITLE:Engineer\r
item1.EMAIL;type=INTERNET;type=pref:johnny@example.com\r
item1.X-ABLabel:_$!<Other>!$_\r
EMAIL;type=INTERNET;type=WORK:j.appleseed@work.example\r
TEL;type=CELL;type=VOICE;type=pref:+1 (408) 555-0101\r
TEL;type=WORK;type=VOICE:+1 408 555 0102\r
TEL;type=WORK;type=FAX:+1 408 555 0199\r
item2.ADR;type=HOME;type=pref:;;1 Infinite Loop;Cupertino;CA;95014;United St\r
 ates\r
NOTE:A long note that is folded over\r
  two lines\\, with a comma\r
BDAY;X-APPLE-OMIT-YEAR=1604:1604-03-15\r
CATEGORIES:Friends,VIP\r
PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD-not-valid-base64\r
 morephotodata\r
END:VCARD\r
BEGIN:VCARD\r
VERSION:3.0\r
N:Doe;Jane;;;\r
FN:Jane Doe\r
item1.TEL;type=IPHONE;type=CELL:+44 7700 900123\r
BDAY:1990-07-01\r
END:VCARD\r
"""

GOOGLE_V4 = """BEGIN:VCARD
VERSION:4.0
FN:Zoë Müller
N:Müller;Zoë;;;
EMAIL;TYPE=home:zoe.home@example.de
EMAIL;TYPE=work;PREF=1:zoe@example.de
TEL;VALUE=uri;TYPE="cell,voice":tel:+49-170-1234567
TEL;VALUE=uri;TYPE=work:tel:+49-30-1234567
BDAY:19850412
ORG:Acme GmbH
URL:https://acme.example
ADR;TYPE=work:;;Hauptstr. 1;Berlin;;10115;Germany
END:VCARD
BEGIN:VCARD
VERSION:4.0
FN:Prince
BDAY:--0412
END:VCARD
"""


def test_vcard_apple(tmp_path):
    table, rows = table_of(write(tmp_path, "contacts.vcf", APPLE.encode()))
    assert table.format == "vcard"
    values = [dict(zip(table.headers, row)) for _, row in rows]
    assert [number for number, _ in rows] == [2, 3]
    ann = values[0]
    assert (ann["First Name"], ann["Middle Name"], ann["Last Name"]) == ("Johnny", "Q.", "Appleseed")
    assert ann["E-mail"] == "johnny@example.com"
    assert ann["Phone"] == "+1 408 555 0102" and ann["Mobile Phone"] == "+1 (408) 555-0101"
    assert (ann["Organization"], ann["Department"], ann["Title"]) == ("Apple Inc.", "Engineering", "Engineer")
    assert (ann["Street"], ann["City"], ann["Region"], ann["Postal Code"], ann["Country"]) == \
        ("1 Infinite Loop", "Cupertino", "CA", "95014", "United States")
    assert ann["Notes"] == "A long note that is folded over two lines, with a comma"
    assert ann["Birthday"] == "" and ann["Categories"] == "Friends, VIP"
    assert values[1]["Mobile Phone"] == "+44 7700 900123" and values[1]["Birthday"] == "1990-07-01"
    assert "Website" not in table.headers  # no card has one
    mapping = dict(zip(table.headers, guess_mapping(table.headers)))
    assert mapping["E-mail"] == "email" and mapping["Mobile Phone"] == "mobile" and mapping["Title"] == "job_title"


def test_vcard_4_and_name_from_fn(tmp_path):
    table, rows = table_of(write(tmp_path, "google.vcf", GOOGLE_V4.encode("utf-8-sig")))
    zoe, prince = (dict(zip(table.headers, row)) for _, row in rows)
    assert zoe["E-mail"] == "zoe@example.de"  # PREF=1 wins over the first
    assert zoe["Mobile Phone"] == "+49-170-1234567" and zoe["Phone"] == "+49-30-1234567"
    assert zoe["Birthday"] == "1985-04-12" and zoe["Organization"] == "Acme GmbH"
    assert zoe["Website"] == "https://acme.example" and zoe["City"] == "Berlin"
    assert prince["First Name"] == "Prince" and prince["Birthday"] == ""


def test_vcard_2_1_quoted_printable(tmp_path):
    text = ("BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Dupont;=C3=89lise;;;\r\n"
            "TEL;CELL:+33612345678\r\nTEL;HOME;VOICE:+33112345678\r\nEMAIL;INTERNET:elise@example.fr\r\nEND:VCARD\r\n")
    table, rows = table_of(write(tmp_path, "phone.vcf", text.encode()))
    row = dict(zip(table.headers, rows[0][1]))
    assert (row["First Name"], row["Last Name"]) == ("Élise", "Dupont")
    assert row["Mobile Phone"] == "+33612345678" and row["Phone"] == "+33112345678"


def test_vcard_broken_card_is_named(tmp_path):
    text = APPLE + "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Broken\r\nthis line has no colon\r\nEND:VCARD\r\n"
    assert error_of(write(tmp_path, "contacts.vcf", text.encode())).startswith(
        "contacts.vcf, card 3: this card cannot be read")
    text = APPLE.replace("END:VCARD\r\nBEGIN:VCARD", "BEGIN:VCARD", 1)
    assert error_of(write(tmp_path, "nested.vcf", text.encode())).startswith("nested.vcf, card 1:")


def test_vcard_without_cards(tmp_path):
    assert error_of(write(tmp_path, "notes.vcf", b"Hello, this is not a vCard\n")) == \
        "notes.vcf is not a vCard file (it does not start with BEGIN:VCARD)."
    assert error_of(write(tmp_path, "empty.vcf", b"BEGIN:VCARD\nVERSION:3.0\nEND:VCARD\n")) == \
        "empty.vcf has cards, but none of them has a name, email or other value to import."


# --- bad input ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, data", [
    ("empty.csv", b""), ("blank.csv", b"  \r\n\r\n \t\n"), ("blank.csv", "\n\n".encode("utf-16")),
    ("empty.xlsx", None), ("empty.vcf", b""),
])
def test_empty_files(tmp_path, name, data):
    if data is None:
        path = tmp_path / name
        xlsxwriter.Workbook(path).close()
    else:
        path = write(tmp_path, name, data)
    assert error_of(path) == f"{name} is empty."


@pytest.mark.parametrize("name, data", [
    ("header.csv", b"Name,Email\n"), ("header.csv", b"Name,Email\n,\n\n"), ("header.csv", b"Name,Email"),
])
def test_header_row_only(tmp_path, name, data):
    assert error_of(write(tmp_path, name, data)) == f"{name} has a header row but no data rows."


def test_wrong_extension(tmp_path):
    assert error_of(write(tmp_path, "report.pdf", b"%PDF-1.7\n...")) == \
        "report.pdf is not a file type that can be imported: upload a CSV, XLSX, XLS or vCard (.vcf) file."
    assert error_of(write(tmp_path, "noextension", b"Name\nAnn\n")).startswith("noextension is not a file type")
    message = error_of(write(tmp_path, "notes.txt", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 20))
    assert message.startswith("notes.txt is not a text file, so it cannot be read as CSV")


def test_pdf_renamed_to_csv_is_refused(tmp_path):
    data = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 44 >>\nstream\n\x00\x01\x02\x03\nendstream\n"
    assert error_of(write(tmp_path, "contacts.csv", data)).startswith("contacts.csv is not a text file")


def test_file_over_the_size_limit(tmp_path):
    path = write(tmp_path, "contacts.csv", b"Name\n" + b"Ann\n" * 1000)
    assert error_of(path, max_bytes=1000) == "contacts.csv is 3.9 KB; the limit is 1000 bytes."
    with open(path, "rb") as f:
        assert open_table(f, "contacts.csv", max_bytes=4005).headers == ["Name"]


def test_size_message_in_megabytes(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as f:
        f.truncate(600 * 1024 * 1024)  # sparse: takes no disk space
    assert error_of(path, max_bytes=512 * 1024 * 1024) == "huge.csv is 600 MB; the limit is 512 MB."


def test_unknown_encoding(tmp_path):
    # Bytes that are neither UTF-8 nor any single-byte text encoding (0x81, 0x8d, 0x8f, 0x90, 0x9d are undefined
    # in cp1252) and no legible text in any other.
    data = b"Name,Email\n" + bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D, 0xFE, 0xFF, 0xC0]) * 40 + b"\n"
    message = error_of(write(tmp_path, "weird.csv", data))
    assert message == 'weird.csv cannot be read: its text encoding is not recognised. Save it as "CSV UTF-8" and ' \
                      'upload it again.'


def test_duplicate_headers_are_case_insensitive_and_name_columns(tmp_path):
    data = b"Name,Phone,Email,x,y, EMAIL \nAnn,1,a@example.com,,,b@example.com\n"
    assert error_of(write(tmp_path, "contacts.csv", data)) == \
        'contacts.csv, row 1, columns C and F: the header "Email" appears twice.'
    data = b"Email,Phone,email,phone,EMAIL\n1,2,3,4,5\n"
    assert error_of(write(tmp_path, "two.csv", data)) == \
        'two.csv, row 1: headers appear more than once: "Email" in columns A, C and E; "Phone" in columns B and D.'


def test_empty_header_cells_get_column_names(tmp_path):
    table, rows = table_of(write(tmp_path, "c.csv", b"Name,,Email,\nAnn,x,a@example.com,\n"))
    assert table.headers == ["Name", "Column B", "Email", "Column D"]
    assert rows == [(2, ["Ann", "x", "a@example.com", ""])]
    assert guess_mapping(table.headers) == ["full_name", None, "email", None]


def test_file_error_from_a_django_file(tmp_path):
    from django.core.files import File

    path = write(tmp_path, "contacts.csv", TEXT.encode("utf-16"))
    with open(path, "rb") as raw:
        django_file = File(raw, name="uploads/contacts.csv")
        table = open_table(django_file, django_file.name)
        assert table.name == "contacts.csv"
        assert len(list(table.rows())) == 2
        assert len(list(table.rows())) == 2  # rows() can be read again: the file is not closed
        assert not raw.closed
