"""``{{date 'FORMAT' tz='Zone'}}``: format a fixed instant with Moment.js format tokens, as metadata-action does.

The instant is always given (the commit time or ``SOURCE_DATE_EPOCH``); this module never reads
the clock. Tokens follow Moment's English locale: ``YYYY MM DD HH mm ss SSS``, ``Do``, ``MMM``,
``dddd``, ISO and locale weeks (``W``, ``w``), ``X``/``x``, ``Z``/``ZZ``, ``z``, localized formats
(``L``, ``LLL``, ``LT`` …) and ``[literal text]``. Any other character is printed as is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shipyard.errors import InvalidInput

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_LOCALIZED = {
    "LTS": "h:mm:ss A",
    "LT": "h:mm A",
    "LLLL": "dddd, MMMM D, YYYY h:mm A",
    "LLL": "MMMM D, YYYY h:mm A",
    "LL": "MMMM D, YYYY",
    "L": "MM/DD/YYYY",
    "llll": "ddd, MMM D, YYYY h:mm A",
    "lll": "MMM D, YYYY h:mm A",
    "ll": "MMM D, YYYY",
    "l": "M/D/YYYY",
}
_LOCALIZED_TOKEN = re.compile(r"(\[[^\[]*\])|(\\)?(LTS|LT|LL?L?L?|l{1,4})")
# Same alternation order as Moment: the first alternative that matches wins, '.' takes one character.
_TOKEN = re.compile(
    r"(\[[^\[]*\])|(\\)?([Hh]mm(?:ss)?|Mo|MM?M?M?|Do|DDDo|DD?D?D?|ddd?d?|do?|w[o|w]?|W[o|W]?|Qo?|N{1,5}"
    r"|YYYYYY|YYYYY|YYYY|YY|y{2,4}|yo?|gg(?:ggg?)?|GG(?:GGG?)?|e|E|a|A|hh?|HH?|kk?|mm?|ss?|S{1,9}|x|X|zz?|ZZ?|.)",
    re.DOTALL,
)
UTC_ZONE = "UTC"


def ordinal(n: int) -> str:
    if (n % 100) // 10 == 1:
        return f"{n}th"
    return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _js_weekday(d: datetime) -> int:
    return (d.weekday() + 1) % 7  # Sunday = 0


def _week(d: datetime, first_day: int, anchor_offset: int) -> tuple[int, int]:
    """(week-year, week) for weeks starting on ``first_day``; ISO is (1, 3), Moment's English locale (0, 6)."""
    start = d - timedelta(days=(_js_weekday(d) - first_day) % 7)
    anchor = start + timedelta(days=anchor_offset)
    return anchor.year, (anchor.timetuple().tm_yday - 1) // 7 + 1


def _offset(d: datetime, sep: str) -> str:
    minutes = int((d.utcoffset() or timedelta()).total_seconds() / 60)  # whole minutes, as Moment prints them
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{sep}{mins:02d}"


def _year(y: int, width: int, signed: bool = False) -> str:
    text = f"{abs(y):0{width}d}"
    return ("-" if y < 0 else "+" if signed else "") + text


def _fraction(ms: int, digits: int) -> Callable[[], str]:
    return lambda: f"{ms:03d}000000"[:digits]


def _tokens(d: datetime, epoch_ms: int) -> dict[str, Callable[[], str]]:
    h12 = d.hour % 12 or 12
    iso_year, iso_week = _week(d, 1, 3)
    loc_year, loc_week = _week(d, 0, 6)
    doy = d.timetuple().tm_yday
    quarter = (d.month - 1) // 3 + 1
    ms = d.microsecond // 1000
    return {
        "M": lambda: str(d.month),
        "MM": lambda: f"{d.month:02d}",
        "MMM": lambda: _MONTHS[d.month - 1][:3],
        "MMMM": lambda: _MONTHS[d.month - 1],
        "Mo": lambda: ordinal(d.month),
        "Q": lambda: str(quarter),
        "Qo": lambda: ordinal(quarter),
        "D": lambda: str(d.day),
        "DD": lambda: f"{d.day:02d}",
        "Do": lambda: ordinal(d.day),
        "DDD": lambda: str(doy),
        "DDDD": lambda: f"{doy:03d}",
        "DDDo": lambda: ordinal(doy),
        "d": lambda: str(_js_weekday(d)),
        "do": lambda: ordinal(_js_weekday(d)),
        "dd": lambda: _DAYS[_js_weekday(d)][:2],
        "ddd": lambda: _DAYS[_js_weekday(d)][:3],
        "dddd": lambda: _DAYS[_js_weekday(d)],
        "e": lambda: str(_js_weekday(d)),
        "E": lambda: str(d.isoweekday()),
        "w": lambda: str(loc_week),
        "ww": lambda: f"{loc_week:02d}",
        "wo": lambda: ordinal(loc_week),
        "W": lambda: str(iso_week),
        "WW": lambda: f"{iso_week:02d}",
        "Wo": lambda: ordinal(iso_week),
        "Y": lambda: _year(d.year, 4) if d.year <= 9999 else f"+{d.year}",
        "YY": lambda: f"{d.year % 100:02d}",
        "YYYY": lambda: _year(d.year, 4),
        "YYYYY": lambda: _year(d.year, 5),
        "YYYYYY": lambda: _year(d.year, 6, signed=True),
        "y": lambda: str(d.year),
        "yy": lambda: f"{d.year:02d}",
        "yyy": lambda: f"{d.year:03d}",
        "yyyy": lambda: f"{d.year:04d}",
        "yo": lambda: ordinal(d.year),
        "gg": lambda: f"{loc_year % 100:02d}",
        "gggg": lambda: _year(loc_year, 4),
        "ggggg": lambda: _year(loc_year, 5),
        "GG": lambda: f"{iso_year % 100:02d}",
        "GGGG": lambda: _year(iso_year, 4),
        "GGGGG": lambda: _year(iso_year, 5),
        "N": lambda: "AD",
        "NN": lambda: "AD",
        "NNN": lambda: "AD",
        "NNNN": lambda: "Anno Domini",
        "NNNNN": lambda: "AD",
        "a": lambda: "am" if d.hour < 12 else "pm",
        "A": lambda: "AM" if d.hour < 12 else "PM",
        "H": lambda: str(d.hour),
        "HH": lambda: f"{d.hour:02d}",
        "h": lambda: str(h12),
        "hh": lambda: f"{h12:02d}",
        "k": lambda: str(d.hour or 24),
        "kk": lambda: f"{d.hour or 24:02d}",
        "Hmm": lambda: f"{d.hour}{d.minute:02d}",
        "Hmmss": lambda: f"{d.hour}{d.minute:02d}{d.second:02d}",
        "hmm": lambda: f"{h12}{d.minute:02d}",
        "hmmss": lambda: f"{h12}{d.minute:02d}{d.second:02d}",
        "m": lambda: str(d.minute),
        "mm": lambda: f"{d.minute:02d}",
        "s": lambda: str(d.second),
        "ss": lambda: f"{d.second:02d}",
        **{"S" * n: _fraction(ms, n) for n in range(1, 10)},
        "X": lambda: str(epoch_ms // 1000),
        "x": lambda: str(epoch_ms),
        "z": lambda: d.tzname() or "",
        "zz": lambda: d.tzname() or "",
        "Z": lambda: _offset(d, ":"),
        "ZZ": lambda: _offset(d, ""),
    }


def _expand_localized(fmt: str) -> str:
    def sub(match: re.Match[str]) -> str:
        if match.group(1) or match.group(2):
            return match.group(0)
        return _LOCALIZED[match.group(3)]

    for _ in range(5):  # Moment expands nested localized formats at most five times
        expanded = _LOCALIZED_TOKEN.sub(sub, fmt)
        if expanded == fmt:
            break
        fmt = expanded
    return fmt


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("tz", name, "is not a known time zone", "Use an IANA name such as UTC, Europe/Paris or Asia/Tokyo.") from None


def format_instant(epoch: int, fmt: str | None, tz: str = UTC_ZONE) -> str:
    """Format ``epoch`` (seconds, UTC) in zone ``tz``; ``fmt=None`` is Moment's default ISO 8601 form."""
    when = datetime.fromtimestamp(epoch, UTC).astimezone(zone(tz))
    if fmt is None:
        fmt = "YYYY-MM-DDTHH:mm:ss[Z]" if not when.utcoffset() else "YYYY-MM-DDTHH:mm:ssZ"
    tokens = _tokens(when, epoch * 1000)
    out: list[str] = []
    for match in _TOKEN.finditer(_expand_localized(fmt)):
        literal, escaped, token = match.group(1), match.group(2), match.group(3)
        if literal:
            out.append(literal[1:-1])
        elif escaped:
            out.append(token)
        else:
            render = tokens.get(token)
            out.append(render() if render else token)
    return "".join(out)
