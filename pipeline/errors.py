"""Errors raised by ``pipeline``.

Bad input from the web is data, not an exception: an unparseable date becomes a flagged date, a
broken piece of HTML becomes whatever text could be read. Exceptions are kept for the few cases
where an item cannot become an :class:`~pipeline.items.Article` at all, so the caller can count
them per source and carry on with the next entry.

::

    PipelineError            base of everything raised here
    ├── SkipItem             the entry cannot be stored (e.g. it has neither link nor GUID)
    └── BadURL               a URL is not a usable http(s) URL (also a ValueError)
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of the errors raised by ``pipeline``."""


class SkipItem(PipelineError):
    """The entry cannot become an article; the caller counts it and moves on.

    ``reason`` is a short, stable string suitable as a stats key suffix ("no link or guid").
    """

    def __init__(self, reason: str, *, source_id: str | None = None) -> None:
        self.reason = reason
        self.source_id = source_id
        message = f"{source_id}: {reason}" if source_id else reason
        super().__init__(message)


class BadURL(PipelineError, ValueError):
    """A URL that must not be stored or followed: not http(s), no host, or not parseable."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        shown = url if len(url) <= 200 else url[:200] + "…"
        super().__init__(f"{reason}: {shown!r}")
