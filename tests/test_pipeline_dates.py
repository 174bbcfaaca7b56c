"""pipeline.dates: every published date becomes an aware UTC datetime or a flagged first-seen time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.dates import DateResult, parse_date, translate_date

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "tz", "expected"),
    [
        pytest.param("Tue, 10 Jun 2003 04:00:00 GMT", None, utc(2003, 6, 10, 4), id="rfc822-gmt"),
        pytest.param("Mon, 01 Jan 2024 10:00:00 +0200", "America/Lima", utc(2024, 1, 1, 8),
                     id="rfc822-offset-beats-source-tz"),
        pytest.param("Mon, 01 Jan 2024 10:00:00 EST", None, utc(2024, 1, 1, 15), id="rfc822-est"),
        pytest.param("Mon, 01 Jan 2024 10:00:00 CEST", None, utc(2024, 1, 1, 8),
                     id="zone-abbreviation-not-in-rfc822"),
        pytest.param("10 Jun 03 04:00 +0200", None, utc(2003, 6, 10, 2), id="rfc822-two-digit-year"),
        pytest.param("2024-01-12T10:00:00+02:00", None, utc(2024, 1, 12, 8), id="iso-offset"),
        pytest.param("2024-01-12T10:00:00Z", "Asia/Tokyo", utc(2024, 1, 12, 10), id="iso-z"),
        pytest.param("2024-01-12T10:00:00.123456-05:00", None, utc(2024, 1, 12, 15, 0, 0, 123456),
                     id="w3cdtf-fraction"),
        pytest.param("2024-01-12 10:00", "Africa/Nairobi", utc(2024, 1, 12, 7),
                     id="naive-takes-source-tz"),
        pytest.param("2024-05-01 10:00", "Europe/Paris", utc(2024, 5, 1, 8),
                     id="naive-source-tz-summer-time"),
        pytest.param("2024-01-12 10:00", None, utc(2024, 1, 12, 10), id="naive-without-tz-is-utc"),
        pytest.param("2024-01-12 10:00", "Not/A_Zone", utc(2024, 1, 12, 10), id="bad-tz-name-utc"),
        pytest.param("Friday, January 12, 2024 3:15 PM", None, utc(2024, 1, 12, 15, 15),
                     id="english-free-form"),
        pytest.param("12 janvier 2024", None, utc(2024, 1, 12), id="french"),
        pytest.param("1er mars 2024", None, utc(2024, 3, 1), id="french-1er"),
        pytest.param("lundi 12 février 2024 à 14h30", None, utc(2024, 2, 12, 14, 30),
                     id="french-weekday-and-time"),
        pytest.param("3 de marzo de 2024", None, utc(2024, 3, 3), id="spanish"),
        pytest.param("martes, 3 de marzo de 2024", None, utc(2024, 3, 3), id="spanish-weekday"),
        pytest.param("12 de março de 2024", None, utc(2024, 3, 12), id="portuguese"),
        pytest.param("segunda-feira, 5 de fevereiro de 2024", None, utc(2024, 2, 5),
                     id="portuguese-weekday"),
        pytest.param("12 января 2024", None, utc(2024, 1, 12), id="russian"),
        pytest.param("12 января 2024 г.", None, utc(2024, 1, 12), id="russian-year-mark"),
        pytest.param("٣ مارس ٢٠٢٤", None, utc(2024, 3, 3), id="arabic-indic-digits"),
        pytest.param("٣ آذار ٢٠٢٤", None, utc(2024, 3, 3), id="arabic-levantine-month"),
        pytest.param("الأحد ١٥ كانون الثاني ٢٠٢٣", None, utc(2023, 1, 15),
                     id="arabic-two-word-month"),
        pytest.param("15 تشرين الأول 2023", None, utc(2023, 10, 15), id="arabic-tishrin"),
        pytest.param("March 2024", None, utc(2024, 3, 1), id="no-day-first-of-month"),
        pytest.param("12 March", None, utc(2024, 3, 12), id="no-year-latest-past"),
        pytest.param("12 December", None, utc(2023, 12, 12), id="no-year-not-in-future"),
    ],
)
def test_parses(raw: str, tz: str | None, expected: datetime) -> None:
    result = parse_date(raw, tz=tz, now=NOW)
    assert result == DateResult(expected, None, raw)
    assert result.value.tzinfo is UTC


@pytest.mark.parametrize(
    ("raw", "flag"),
    [
        pytest.param(None, "missing", id="none"),
        pytest.param("", "missing", id="empty"),
        pytest.param("   ", "missing", id="blank"),
        pytest.param("not a date", "unparseable", id="words"),
        pytest.param("Monday", "unparseable", id="weekday-only"),
        pytest.param("2024", "unparseable", id="year-only"),
        pytest.param("10:30", "unparseable", id="time-only"),
        pytest.param("31 February 2024", "unparseable", id="impossible-day"),
        pytest.param("Mon, 31 Feb 2024 10:00:00 +0000", "unparseable", id="impossible-rfc822"),
        pytest.param("2024-13-01", "unparseable", id="impossible-month"),
        pytest.param("99999-01-01", "unparseable", id="year-overflow"),
        pytest.param("x" * 10_000, "unparseable", id="huge"),
        pytest.param("2099-01-01T00:00:00Z", "future", id="far-future"),
        pytest.param("Sun, 02 Jun 2024 12:00:01 +0000", "future", id="just-over-a-day-ahead"),
        pytest.param("1985-05-05", "before-1990", id="1985"),
        pytest.param("Tue, 31 Dec 1989 23:59:59 GMT", "before-1990", id="1989"),
    ],
)
def test_untrusted_dates_are_flagged_and_replaced_by_now(raw: str | None, flag: str) -> None:
    result = parse_date(raw, tz="Africa/Accra", now=NOW)
    assert (result.value, result.flag, result.raw) == (NOW, flag, raw)


def test_a_few_hours_ahead_is_accepted() -> None:  # clocks and zones are sloppy
    result = parse_date("2024-06-01T20:00:00Z", now=NOW)
    assert (result.value, result.flag) == (utc(2024, 6, 1, 20), None)


@pytest.mark.parametrize(
    ("raw", "parsed", "expected"),
    [
        pytest.param(None, utc(2024, 2, 1, 9), utc(2024, 2, 1, 9), id="parsed-when-no-raw"),
        pytest.param("garbage", utc(2024, 2, 1, 9), utc(2024, 2, 1, 9), id="parsed-when-raw-bad"),
        pytest.param("2024-03-01T00:00:00Z", utc(2024, 2, 1), utc(2024, 3, 1), id="raw-first"),
        pytest.param(None, datetime(2024, 2, 1, 9), utc(2024, 2, 1, 6), id="naive-parsed-tz"),
    ],
)
def test_collector_parse_is_a_fallback(
    raw: str | None, parsed: datetime, expected: datetime
) -> None:
    result = parse_date(raw, parsed=parsed, tz="Europe/Moscow", now=NOW)
    assert (result.value, result.flag) == (expected, None)


def test_collector_parse_is_checked_too() -> None:
    result = parse_date(None, parsed=utc(1970, 1, 1), now=NOW)
    assert (result.value, result.flag) == (NOW, "before-1990")


def test_naive_now_is_taken_as_utc() -> None:
    result = parse_date(None, now=datetime(2024, 6, 1, 12))
    assert result.value == NOW


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12 janvier 2024", "12 January 2024"),
        ("3 de marzo de 2024", "3 March 2024"),
        ("٣ مارس ٢٠٢٤", "3 March 2024"),
        ("Tue, 10 Jun 2003 04:00:00 GMT", "Tue, 10 Jun 2003 04:00:00 GMT"),
    ],
)
def test_translate_date(raw: str, expected: str) -> None:
    assert translate_date(raw) == expected
