"""Write the demo's PDF reports (and, for the tests, PDFs with a text layer or without one).

    python demo/make_pdfs.py          # rewrites demo/sites/sahel-voices/reports/*.pdf

A PDF is small enough to write by hand: a catalog, a page tree, one page per chunk of lines in
Helvetica (WinAnsi encoding, so French accents work), an /Info dictionary with /Title and
/CreationDate, and a cross-reference table. No PDF library is needed to *write* them, so the
files do not change when a library is upgraded; pypdf reads them in the harvester.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
LINES_PER_PAGE = 46


def _escape(text: str) -> bytes:
    """A PDF string body: WinAnsi bytes, with anything outside ASCII as an octal escape, so the
    files stay plain ASCII (readable as text, diffable)."""
    out = bytearray()
    for byte in text.encode("cp1252", errors="replace"):
        if byte in b"\\()":
            out += b"\\" + bytes([byte])
        elif 32 <= byte < 127:
            out.append(byte)
        else:
            out += f"\\{byte:03o}".encode("ascii")
    return bytes(out)


def _page_stream(lines: list[str], heading: str | None) -> bytes:
    out = [b"BT", b"/F1 11 Tf", b"14 TL", b"56 780 Td"]
    if heading:
        out += [b"/F1 15 Tf", b"(" + _escape(heading) + b") Tj", b"T*", b"T*", b"/F1 11 Tf"]
    for line in lines:
        out.append(b"(" + _escape(line) + b") Tj T*")
    out.append(b"ET")
    return b"\n".join(out)


def _scan_stream() -> bytes:
    # Grey blocks where a scanner would have put the picture of a page: no text operators at all.
    blocks = [f"0.6 g 56 {700 - 40 * i} 480 24 re f" for i in range(12)]
    return "\n".join(blocks).encode("ascii")


def build_pdf(streams: list[bytes], info: dict[str, str], lang: str | None = None) -> bytes:
    """Assemble a PDF from page content streams and an /Info dictionary."""
    objects: list[bytes] = []  # object n is objects[n - 1]
    n_pages = len(streams)
    page_ids = [4 + 2 * i for i in range(n_pages)]
    kids = " ".join(f"{p} 0 R" for p in page_ids).encode()
    lang_entry = b" /Lang (" + _escape(lang) + b")" if lang else b""
    objects.append(b"<< /Type /Catalog /Pages 2 0 R" + lang_entry + b" >>")
    objects.append(b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(n_pages).encode() + b" >>")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i, stream in enumerate(streams):
        content_id = page_ids[i] + 1
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
            b" /Contents " + str(content_id).encode() + b" 0 R >>"
        )
        length = str(len(stream)).encode()
        objects.append(b"<< /Length " + length + b" >>\nstream\n" + stream + b"\nendstream")
    info_id = len(objects) + 1
    entries = b"".join(b"/" + k.encode() + b" (" + _escape(v) + b") " for k, v in info.items())
    objects.append(b"<< " + entries + b">>")

    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def text_pdf(title: str, created: str, paragraphs: list[str], *, lang: str | None = "en") -> bytes:
    """A report with a text layer. ``created`` is a PDF date, e.g. ``D:20261012090000+00'00'``."""
    lines: list[str] = []
    for paragraph in paragraphs:
        lines += textwrap.wrap(paragraph, 92) + [""]
    pages = [lines[i:i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)] or [[]]
    streams = [_page_stream(chunk, title if i == 0 else None) for i, chunk in enumerate(pages)]
    return build_pdf(streams, {"Title": title, "CreationDate": created, "Producer": "Roundup demo"},
                     lang)


def scanned_pdf(title: str, created: str) -> bytes:
    """A 'scan': metadata, but pages of graphics and no text layer."""
    return build_pdf([_scan_stream(), _scan_stream()], {"Title": title, "CreationDate": created})


def encrypted_pdf(plain: bytes, password: str = "secret") -> bytes:
    """``plain`` encrypted with a user password (RC4, which pypdf handles without extras)."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(plain)))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# --- The demo member's reports ------------------------------------------------------------------

REPORTS = {
    "2026-10-sahel-radio-licences.pdf": (
        "Sahel: three community radio stations lose their licences in one week",
        "D:20261009080000+00'00'",
        [
            "Sahel Voices for Free Expression documented the withdrawal of broadcasting licences "
            "from three community radio stations in Mali and Burkina Faso between 2 and 8 October "
            "2026. In each case the regulator cited a 'threat to public order' without a hearing.",
            "Radio Fanga in Ségou, Mali, was taken off air on 2 October after it broadcast a debate "
            "on the transition charter. Its director, the fictional Awa Traoré, said the station "
            "received the decision by telephone and was never shown a written order.",
            "In Burkina Faso, two stations in Koudougou and Dori were suspended for three months "
            "over their coverage of displaced families. Sahel Voices calls on the authorities in "
            "Bamako and Ouagadougou to restore the licences and to publish the reasons in writing.",
        ],
    ),
    "2026-10-niger-journalists-detained.pdf": (
        "Niger: two journalists held without charge in Niamey for ten days",
        "D:20261021120000+01'00'",
        [
            "Two reporters of an independent news site in Niamey, Niger, have been held without "
            "charge since 11 October 2026, Sahel Voices for Free Expression said in this brief. "
            "Police questioned them about a report on the cost of fuel imports.",
            "Under Nigerien law a suspect must be brought before a judge within 48 hours, a limit "
            "renewable once. Their lawyers have not been allowed to see them. Sahel Voices urges "
            "the authorities to release both journalists or charge them before a court at once.",
        ],
    ),
}


def main() -> int:
    out = HERE / "sites" / "sahel-voices" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    for name, (title, created, paragraphs) in REPORTS.items():
        (out / name).write_bytes(text_pdf(title, created, paragraphs, lang="en"))
    print(f"wrote {len(REPORTS)} PDFs in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
