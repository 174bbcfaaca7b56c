"""Text and metadata of a PDF report (pypdf).

Members publish their longer reports as PDFs linked from a listing page. :func:`extract_pdf`
returns the text layer and the document's own metadata (``/Title``, ``/CreationDate``, ``/Lang``),
or raises a :class:`PdfError` saying why the file cannot become an article:

::

    PdfError (a pipeline.errors.PipelineError)
    ├── NotAPdf        the bytes are not a PDF (an HTML error page, a truncated download...)
    ├── EncryptedPdf   needs a password to open
    ├── NoTextLayer    no extractable text (a scan without OCR, images only)
    └── BrokenPdf      pypdf cannot read it

The caller turns the error into a per-item failure and goes on with the rest of the listing.
Work is bounded: at most ``max_pages`` pages and ``max_chars`` characters are read.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.errors import PipelineError

__all__ = ["BrokenPdf", "EncryptedPdf", "NoTextLayer", "NotAPdf", "PdfError", "PdfText",
           "extract_pdf", "looks_like_pdf"]

_MIN_TEXT = 40  # characters: less than this over the whole file is a scan, not a report
_PDF_DATE = re.compile(r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?([Zz]|[+-]\d{2}'?\d{2}'?)?")


class PdfError(PipelineError):
    """The PDF cannot become an article."""


class NotAPdf(PdfError):
    pass


class EncryptedPdf(PdfError):
    pass


class NoTextLayer(PdfError):
    pass


class BrokenPdf(PdfError):
    pass


@dataclass
class PdfText:
    text: str
    title: str | None
    raw_date: str | None  # ISO 8601, from /CreationDate (or /ModDate)
    language: str | None
    pages: int  # pages in the file
    pages_read: int


def looks_like_pdf(body: bytes) -> bool:
    # The header may follow a little garbage (the spec allows it within the first 1024 bytes).
    return b"%PDF-" in body[:1024]


def pdf_date(value: object) -> str | None:
    """``D:20261005093000+01'00'`` → ``2026-10-05T09:30:00+01:00``; ``None`` if unreadable."""
    match = _PDF_DATE.match(str(value or "").strip())
    if not match:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    text = f"{year}-{month or '01'}-{day or '01'}T{hour or '00'}:{minute or '00'}:{second or '00'}"
    if zone:
        if zone in ("Z", "z"):
            text += "+00:00"
        else:
            digits = zone.replace("'", "")
            text += f"{digits[:3]}:{digits[3:5]}"
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return None
    return text


def extract_pdf(data: bytes, *, max_pages: int = 300, max_chars: int = 2_000_000) -> PdfText:
    if not looks_like_pdf(data):
        raise NotAPdf("not a PDF (no %PDF- header)")
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    # pypdf logs every oddity of a damaged file as a warning; the error raised here says enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except (PyPdfError, NotImplementedError) as exc:
                raise EncryptedPdf(f"encrypted PDF ({exc})") from exc
            if not opened:
                raise EncryptedPdf("encrypted PDF: a password is needed to read it")
        pages = len(reader.pages)
        chunks: list[str] = []
        size = 0
        read = 0
        for page in reader.pages[:max_pages]:
            read += 1
            chunk = page.extract_text() or ""
            chunks.append(chunk)
            size += len(chunk)
            if size >= max_chars:
                break
        text = "\n\n".join(c.strip() for c in chunks if c.strip())[:max_chars]
        meta: Any = reader.metadata or {}
        title = str(meta.get("/Title") or "").strip() or None
        raw_date = pdf_date(meta.get("/CreationDate")) or pdf_date(meta.get("/ModDate"))
        root = reader.trailer.get("/Root")
        lang = root.get_object().get("/Lang") if root is not None else None
    except PdfError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError,
            IndexError, RecursionError, OSError) as exc:
        raise BrokenPdf(f"unreadable PDF ({type(exc).__name__}: {exc})") from exc
    if len("".join(text.split())) < _MIN_TEXT:
        raise NoTextLayer(f"no text layer ({pages} page(s) of images or blank pages: a scan?)")
    language = str(lang).strip().split("-")[0].lower() if lang else None
    return PdfText(text=text, title=title, raw_date=raw_date, language=language or None,
                   pages=pages, pages_read=read)
