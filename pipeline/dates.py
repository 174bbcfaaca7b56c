"""Publication dates: whatever a member wrote, as an aware UTC datetime or a flagged first-seen time.

:func:`parse_date` is the only entry point. The rules, in order:

1. The raw string is parsed when there is one: ISO 8601 / W3CDTF first (``datetime.fromisoformat``,
   cheap), then python-dateutil, which covers RFC 822 feeds and most free-form English dates.
   Dates written in another language ("12 janvier 2024", "3 de marzo de 2024", "12 января 2024",
   "٣ آذار ٢٠٢٤") are translated first: month names become English, weekday names and filler
   words ("de", "le", "г.", "في" ...) are dropped, Arabic-Indic digits become ASCII digits.
2. Otherwise the collector's own parse (``parsed``, e.g. feedparser's ``published_parsed``) is used.
3. A date with an offset or a known zone abbreviation keeps it; a naive date is read in the
   source's IANA zone (``tz``), else UTC. The result is converted to UTC.
4. A date that cannot be trusted is never kept silently: the result carries a short ``flag`` and
   ``value`` is ``now`` (the first-seen time); ``raw`` is kept for audit. Flags: ``"missing"``,
   ``"unparseable"`` (also impossible dates such as 31 February, and text with no month),
   ``"future"`` (more than a day after ``now``), ``"before-1990"``.

A string without a year ("12 March") is read as the latest such day that is not in the future;
one without a day ("March 2024") as the first of the month. ``12/03/2024`` is read month first,
as dateutil does; members that write day first should publish ISO dates or feeds (RFC 822).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_tz
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as _dateutil_parser

__all__ = ["DateResult", "parse_date", "translate_date"]

EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
# Longer strings are not dates; the cap also keeps the parser's cost bounded.
MAX_RAW_CHARS = 200


@dataclass(frozen=True)
class DateResult:
    value: datetime  # aware, UTC
    flag: str | None  # None when trusted; else why ``value`` is the first-seen time
    raw: str | None


# --- time zone abbreviations ------------------------------------------------------------------
# RFC 822 names plus unambiguous ones members use. Ambiguous abbreviations (IST, AST, CST in
# China...) are deliberately absent: an unknown name leaves the date naive, so the source's zone
# applies, which is a better guess than someone else's continent.
_H = 3600
TZ_ABBREVIATIONS: dict[str, int] = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0,
    "EST": -5 * _H, "EDT": -4 * _H, "CST": -6 * _H, "CDT": -5 * _H,
    "MST": -7 * _H, "MDT": -6 * _H, "PST": -8 * _H, "PDT": -7 * _H,
    "AKST": -9 * _H, "AKDT": -8 * _H, "HST": -10 * _H,
    "BRT": -3 * _H, "ART": -3 * _H,
    "BST": 1 * _H, "CET": 1 * _H, "CEST": 2 * _H, "WEST": 1 * _H, "WAT": 1 * _H,
    "CAT": 2 * _H, "SAST": 2 * _H, "EET": 2 * _H, "EEST": 3 * _H, "EAT": 3 * _H, "MSK": 3 * _H,
    "PKT": 5 * _H, "WIB": 7 * _H, "ICT": 7 * _H, "HKT": 8 * _H, "SGT": 8 * _H, "PHT": 8 * _H,
    "JST": 9 * _H, "KST": 9 * _H, "AEST": 10 * _H, "AEDT": 11 * _H,
    "NZST": 12 * _H, "NZDT": 13 * _H,
}  # fmt: skip


def _tzinfos(name: str | None, offset: int | None) -> tzinfo | None:
    """dateutil hook: numeric offsets and known names become zones; anything else stays naive.

    Being a callable, it also stops dateutil from consulting the host's local zone names.
    """
    if offset is not None:
        return timezone(timedelta(seconds=offset))
    if name is not None:
        known = TZ_ABBREVIATIONS.get(name.upper())
        if known is not None:
            return timezone(timedelta(seconds=known))
    return None


# --- other languages --------------------------------------------------------------------------
_MONTH_WORDS: dict[int, tuple[str, ...]] = {
    1: ("janvier", "janv", "enero", "ene", "janeiro", "januar", "jänner", "gennaio", "ocak",
        "января", "январь", "янв", "січня", "січень",
        "يناير", "كانون الثاني", "جانفي"),
    2: ("février", "fevrier", "févr", "fevr", "févier", "febrero", "fevereiro", "fev", "februar",
        "febbraio", "şubat", "subat",
        "февраля", "февраль", "фев", "февр", "лютого", "лютий",
        "فبراير", "شباط", "فيفري"),
    3: ("mars", "marzo", "março", "marco", "märz", "maerz", "mart",
        "марта", "март", "мар", "березня", "березень",
        "مارس", "اذار", "مارش"),
    4: ("avril", "avr", "abril", "abr", "aprile", "nisan",
        "апреля", "апрель", "апр", "квітня", "квітень",
        "ابريل", "نيسان", "افريل"),
    5: ("mai", "mayo", "maio", "maggio", "mayıs", "mayis",
        "мая", "май", "травня", "травень",
        "مايو", "ايار", "ماي"),
    6: ("juin", "junio", "junho", "juni", "giugno", "haziran",
        "июня", "июнь", "июн", "червня", "червень",
        "يونيو", "يونيه", "حزيران", "جوان"),
    7: ("juillet", "juil", "julio", "julho", "juli", "luglio", "temmuz",
        "июля", "июль", "июл", "липня", "липень",
        "يوليو", "يوليه", "تموز", "جويلية", "جويلة"),
    8: ("août", "aout", "agosto", "ago", "ağustos", "agustos",
        "августа", "август", "авг", "серпня", "серпень",
        "اغسطس", "اب", "اوت"),
    9: ("septembre", "septiembre", "setiembre", "setembro", "set", "settembre", "eylül", "eylul",
        "сентября", "сентябрь", "сен", "сент", "вересня", "вересень",
        "سبتمبر", "ايلول", "شتنبر"),
    10: ("octobre", "octubre", "outubro", "out", "oktober", "ottobre", "ekim",
         "октября", "октябрь", "окт", "жовтня", "жовтень",
         "اكتوبر", "تشرين الاول"),
    11: ("novembre", "noviembre", "novembro", "kasım", "kasim",
         "ноября", "ноябрь", "ноя", "нояб", "листопада", "листопад",
         "نوفمبر", "تشرين الثاني", "نونبر"),
    12: ("décembre", "decembre", "déc", "dec", "diciembre", "dic", "dezembro", "dez", "dezember",
         "dicembre", "aralık", "aralik",
         "декабря", "декабрь", "дек", "грудня", "грудень",
         "ديسمبر", "كانون الاول", "دجنبر"),
}  # fmt: skip

_ENGLISH_MONTHS = (
    "", "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip

# Words that carry no date information in the languages above: weekdays, "the", "of", "at",
# ordinal suffixes, "year", AD markers. Dropped before dateutil sees the string.
_FILLER_WORDS = frozenset(
    """
    le la les l du de des à au el del las los em às as o do da dos das di il alle ore den um
    er ère re eme ème º ª h hs г гг года год в
    lundi mardi mercredi jeudi vendredi samedi dimanche
    lunes martes miércoles miercoles jueves viernes sábado sabado domingo
    segunda terça terca quarta quinta sexta feira
    montag dienstag mittwoch donnerstag freitag samstag sonntag
    lunedì lunedi martedì martedi mercoledì mercoledi giovedì giovedi venerdì venerdi
    pazartesi salı sali çarşamba carsamba perşembe persembe cuma cumartesi pazar
    понедельник вторник среда среду четверг пятница пятницу суббота субботу воскресенье
    пн вт ср чт пт сб вс
    في الساعة يوم م هـ
    الاثنين الإثنين الثلاثاء الاربعاء الأربعاء الخميس الجمعة السبت الاحد الأحد
    """.split()
)

_ARABIC_DIGITS = str.maketrans(
    "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹،٫",
    "01234567890123456789,.",
)
# Alef variants, teh marbuta and alef maksura fold to one spelling; harakat and tatweel go.
_ARABIC_LETTER_FOLD = str.maketrans(
    {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ـ": None}
    | {chr(c): None for c in range(0x064B, 0x0660)}
    | {"\u0670": None}
)


def _fold_key(word: str) -> str:
    return word.lower().translate(_ARABIC_LETTER_FOLD)


_MONTH_LOOKUP: dict[str, str] = {
    _fold_key(word): _ENGLISH_MONTHS[number]
    for number, words in _MONTH_WORDS.items()
    for word in words
}
_FILLER_LOOKUP = frozenset(_fold_key(word) for word in _FILLER_WORDS)

# The Levantine two-word months ("كانون الثاني") must be matched before single words.
_TWO_WORD_MONTH = re.compile(r"(كانون|تشرين)\s+(ال[اأإآ]ول|الثاني)")
# A run of letters (any script), optionally followed by an abbreviation dot. No nesting, linear.
_WORD = re.compile(r"[^\W\d_]+\.?")
# French and Latin American "14h30" / "14 h 30".
_H_TIME = re.compile(r"(\d{1,2})\s?h\s?(\d{2})\b")
_PT_FEIRA = re.compile(r"-feira\b", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def _replace_word(match: re.Match[str]) -> str:
    word = match.group(0)
    key = _fold_key(word.rstrip("."))
    month = _MONTH_LOOKUP.get(key)
    if month is not None:
        return month
    if key in _FILLER_LOOKUP:
        return " "
    return word


def translate_date(raw: str) -> str:
    """Rewrite a date written in another language as something dateutil reads.

    Month names become English, filler words disappear, Arabic-Indic digits become ASCII.
    Text that is already English passes through (English words are in neither table).
    """
    text = raw.translate(_ARABIC_DIGITS)
    text = _TWO_WORD_MONTH.sub(lambda m: _MONTH_LOOKUP[_fold_key(f"{m[1]} {m[2]}")], text)
    text = _H_TIME.sub(r"\1:\2", text)
    text = _PT_FEIRA.sub(" ", text)
    text = _WORD.sub(_replace_word, text)
    return _SPACES.sub(" ", text).strip(" ,")


# --- parsing ----------------------------------------------------------------------------------
_PARSER = _dateutil_parser.parser()
# Two defaults that differ in every date field reveal which fields the string did not give.
# Year 4 is a leap year, so 29 February is still a date under either default.
_DEFAULT_A = datetime(4, 1, 1)
_DEFAULT_B = datetime(4, 2, 28)
_HAS_DIGIT = re.compile(r"\d")


class _Unparseable(Exception):
    pass


def _dateutil(text: str, now: datetime) -> datetime:
    try:
        first = _PARSER.parse(text, default=_DEFAULT_A, tzinfos=_tzinfos)
        if first.year != 4 and first.month != 1 and first.day != 1:
            return first
        second = _PARSER.parse(text, default=_DEFAULT_B, tzinfos=_tzinfos)
    except (ValueError, OverflowError, TypeError) as exc:  # ParserError is a ValueError
        raise _Unparseable from exc
    if first.month != second.month:
        raise _Unparseable("no month")
    if first.day != second.day:
        first = first.replace(day=1)
    if first.year == 4 and second.year == 4:
        first = _latest_year(first, now)
    return first


def _latest_year(value: datetime, now: datetime) -> datetime:
    """Put a year-less date in the latest year in which it is not in the future."""
    for year in (now.year, now.year - 1, now.year - 4):  # -4: 29 February
        try:
            candidate = value.replace(year=year)
        except ValueError:
            continue
        aware = candidate if candidate.tzinfo else candidate.replace(tzinfo=now.tzinfo)
        if aware <= now + FUTURE_SLACK:
            return candidate
    raise _Unparseable("no year")


# parsedate_tz reads any unknown zone name ("CEST", "GMT+2") as UTC, so it is only trusted with
# a numeric offset or one of the zone names RFC 822 defines.
# "-0000" means "zone unknown" (RFC 5322 3.3): left to dateutil, read in the source's zone.
_RFC822_ZONE = re.compile(r"\d:\d\d(?::\d\d)? (?:\+\d{4}|-(?!0000)\d{4}|GMT|UTC?|Z|[ECMP][SD]T)$")


# The form nearly every feed writes ("Wed, 28 Oct 2026 12:00:00 +0000", as RFC 2822 recommends
# it), read by one regex instead of parsedate_tz's splitting and trying (most of the cost of a
# feed's date). For it, parsedate_tz gives these very fields (checked on 300,000 generated
# dates, valid and not): the weekday is dropped unchecked, a four-digit year not below 1000 is
# kept as written (lower ones it shifts), and the offset is sign × (hours × 3600 + minutes × 60)
# whatever the digits ("-0000" never gets here, see _RFC822_ZONE). Any other spelling goes to
# parsedate_tz.
_RFC822_COMMON = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"([1-9]\d{3}) (\d\d):(\d\d):(\d\d) ([-+])(\d\d)(\d\d)"
)
_MONTH_NUMBER = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def _rfc822_fields(text: str) -> tuple[int | None, ...] | None:
    """``email.utils.parsedate_tz(text)``."""
    match = _RFC822_COMMON.fullmatch(text)
    if match is None:
        return parsedate_tz(text)
    day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
    offset = int(off_h) * 3600 + int(off_m) * 60
    return (int(year), _MONTH_NUMBER[month], int(day), int(hour), int(minute), int(second),
            0, 1, -1, -offset if sign == "-" else offset)


def _rfc822(text: str) -> datetime | None:
    """The common feed case, cheaply: RFC 822 with a numeric offset (``+0000`` included) or a
    US/GMT zone name.

    Anything else (no zone, "-0000", other zone names, other languages) is left to dateutil.
    """
    if _RFC822_ZONE.search(text) is None:
        return None
    fields = _rfc822_fields(text)
    if fields is None or fields[9] is None:
        return None
    try:
        naive = datetime(*fields[:6])  # type: ignore[misc]
    except (ValueError, OverflowError, TypeError):
        raise _Unparseable from None  # 31 Feb in an otherwise well-formed date
    return naive.replace(tzinfo=timezone(timedelta(seconds=fields[9])))


def _parse_text(raw: str, now: datetime) -> datetime:
    text = raw.strip()
    if not text or len(text) > MAX_RAW_CHARS:
        raise _Unparseable
    if "0" <= text[0] <= "9":  # fromisoformat reads nothing else (a year first); raising costs
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    rfc822 = _rfc822(text)
    if rfc822 is not None:
        return rfc822
    translated = translate_date(text)
    if not _HAS_DIGIT.search(translated):
        raise _Unparseable
    return _dateutil(translated, now)


@lru_cache(maxsize=256)
def _zone(name: str | None) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # A bad zone name is a registry error, reported by the registry check; UTC here.
        return UTC


def _to_utc(value: datetime, tz: str | None) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=_zone(tz))
    return value.astimezone(UTC)


def parse_date(
    raw: str | None,
    *,
    parsed: datetime | None = None,
    tz: str | None = None,
    now: datetime,
) -> DateResult:
    """Parse a published date; see the module docstring for the rules and the flags."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)

    value: datetime | None = None
    unparseable = False
    if raw is not None and raw.strip():
        try:
            value = _to_utc(_parse_text(raw, now), tz)
        except (_Unparseable, OverflowError, ValueError):
            unparseable = True
    if value is None and parsed is not None:
        try:
            value = _to_utc(parsed, tz)
        except (OverflowError, ValueError):
            value = None

    if value is None:
        return DateResult(now, "unparseable" if unparseable else "missing", raw)
    if value > now + FUTURE_SLACK:
        return DateResult(now, "future", raw)
    if value < EARLIEST:
        return DateResult(now, "before-1990", raw)
    return DateResult(value, None, raw)
