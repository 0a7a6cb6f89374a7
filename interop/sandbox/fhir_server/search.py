"""Search requests the sandbox understands, parsed into a ``SearchQuery`` the store runs as SQL.

Supported (anything else is ignored and listed in the answer's OperationOutcome, as FHIR's
lenient handling says, or refused with a 400 naming the parameter under
``Prefer: handling=strict`` and in the criteria of a conditional interaction):

- ``patient:identifier`` / ``subject:identifier`` = ``system|value`` (or ``value``): resources
  whose patient Reference carries that ``Reference.identifier`` (FHIR's ``:identifier``
  modifier; the NHS number: ``https://fhir.nhs.uk/Id/nhs-number``);
- ``patient.identifier`` / ``subject.identifier``: the chain, resources whose patient reference
  points at a stored Patient with that identifier;
- ``patient`` / ``subject`` = ``Patient/{id}`` (or ``{id}``);
- ``code``, ``category``, ``identifier``, ``status``: tokens ``system|code``, ``code`` (any
  system), ``system|`` (any code of the system), ``|code`` (no system);
- ``_id``; ``_lastUpdated`` = ``[eq|gt|ge|lt|le]`` + a date or dateTime (repeat for a range);
- ``_count`` (page size), ``_include=Type:element`` (a top-level Reference element), and
  ``_cursor`` (opaque: only ever taken from a ``next`` link);
- ``_summary=count`` (the total, no entries), ``_total`` (``none``, ``estimate``, ``accurate``:
  the total is always exact), ``_sort`` = ``_lastUpdated`` or ``-_lastUpdated``.

Comma-separated values are alternatives (OR); repeated parameters all apply (AND). ``\\,``,
``\\|`` and ``\\\\`` escape the separators, as FHIR's search syntax says.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

#: parameters that are tokens indexed under their own name
TOKEN_PARAMETERS = ("code", "category", "identifier", "status")
#: what the sandbox supports, for error messages and the CapabilityStatement
SUPPORTED = (
    "patient:identifier",
    "subject:identifier",
    "patient.identifier",
    "subject.identifier",
    "patient",
    "subject",
    *TOKEN_PARAMETERS,
    "_id",
    "_lastUpdated",
    "_count",
    "_include",
    "_cursor",
    "_summary",
    "_total",
    "_sort",
)
SORTS = ("_lastUpdated", "-_lastUpdated")
#: parameters about the answer's format, read by the HTTP layer, not by the search
FORMAT_PARAMETERS = ("_format", "_pretty")
MAX_COUNT = 1000
_ELEMENT = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_CURSOR = re.compile(r"^(\d{1,18})\.(\d{1,18})$")
_DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d{1,6})?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_PREFIXES = ("eq", "gt", "ge", "lt", "le")


class SearchError(ValueError):
    """A search parameter the sandbox cannot run; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class TokenClause:
    """One indexed parameter with its alternatives, any of which may match.

    Each alternative is ``(system, value)``: ``system`` None matches any system and ``""`` no
    system; ``value`` None matches any value of the system.
    """

    param: str
    alternatives: tuple[tuple[str | None, str | None], ...]


@dataclass(frozen=True)
class DateClause:
    """``_lastUpdated`` compared with an instant range [low, high) (UTC, the store's form)."""

    prefix: str
    low: str
    high: str


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after creation sequence ``after``, up to ``upto`` (the snapshot)."""

    after: int
    upto: int

    def token(self) -> str:
        """The ``_cursor`` value of a next link."""
        return f"{self.after}.{self.upto}"


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search of one resource type."""

    resource_type: str
    tokens: tuple[TokenClause, ...] = ()
    ids: tuple[tuple[str, ...], ...] = ()
    last_updated: tuple[DateClause, ...] = ()
    count: int = 50
    cursor: Cursor | None = None
    includes: tuple[str, ...] = ()
    #: ``_sort``: None (creation order), ``_lastUpdated`` or ``-_lastUpdated``
    sort: str | None = None
    #: ``_summary=count``: the total only
    count_only: bool = False
    #: ``_total=none``: no total
    no_total: bool = False
    #: parameters ignored under lenient handling, with why
    ignored: tuple[str, ...] = ()

    def with_count(self, count: int) -> SearchQuery:
        """The same search with another page size."""
        return replace(self, count=count)

    def token_values(self, param: str) -> list[tuple[str | None, str | None]]:
        """Every alternative given for an indexed parameter."""
        return [
            alt for clause in self.tokens if clause.param == param for alt in clause.alternatives
        ]


def split_raw(text: str, separator: str, maxsplit: int = -1) -> list[str]:
    """Split on ``separator`` where it is not escaped with a backslash; escapes are kept."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == separator and maxsplit != 0:
            parts.append("".join(current))
            current = []
            maxsplit -= 1
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    """A search value with FHIR's backslash escapes (``\\,`` ``\\|`` ``\\$`` ``\\\\``) removed."""
    return re.sub(r"\\(.)", r"\1", text)


def _alternatives(param: str, text: str) -> list[str]:
    parts = split_raw(text, ",")
    if any(not p for p in parts):
        raise SearchError(param, f"{param}: an empty value matches nothing")
    return parts


def _token(param: str, text: str) -> tuple[str | None, str | None]:
    pieces = split_raw(text, "|", maxsplit=1)
    if len(pieces) == 1:
        return None, unescape(text)
    system, value = unescape(pieces[0]), unescape(pieces[1])
    if not system and not value:
        raise SearchError(param, f"{param}: '|' alone matches nothing; give system|code")
    return system, (value or None)


def _tokens(param: str, text: str) -> tuple[tuple[str | None, str | None], ...]:
    return tuple(_token(param, part) for part in _alternatives(param, text))


def _patient_reference(param: str, text: str) -> tuple[str | None, str | None]:
    reference = text.rstrip("/")
    if "/" in reference:
        kind, _, ident = reference.rpartition("/")
        if kind.rpartition("/")[2] != "Patient":
            raise SearchError(param, f"{param}: only references to a Patient are indexed")
        reference = ident
    if not _ID.match(reference):
        raise SearchError(param, f"{param}: '{reference}' is not a FHIR id")
    return None, f"Patient/{reference}"


def _add_period(moment: datetime, groups: dict[str, str | None]) -> datetime:
    if groups["fraction"]:
        return moment + timedelta(microseconds=10 ** (6 - (len(groups["fraction"]) - 1)))
    if groups["second"]:
        return moment + timedelta(seconds=1)
    if groups["minute"]:
        return moment + timedelta(minutes=1)
    if groups["day"]:
        return moment + timedelta(days=1)
    if groups["month"]:
        year, month = (
            (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        )
        return moment.replace(year=year, month=month)
    return moment.replace(year=moment.year + 1)


def instant_text(moment: datetime) -> str:
    """An instant in the store's fixed-width UTC form, which sorts as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def date_range(param: str, text: str) -> tuple[str, str]:
    """The instant range [low, high) a FHIR date or dateTime stands for (no zone: UTC)."""
    match = _DATE.match(text)
    if match is None:
        raise SearchError(
            param,
            f"{param}: '{text}' is not a date or dateTime "
            "(YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm])",
        )
    g = match.groupdict()
    zone = g["zone"] or "Z"
    iso = (
        f"{g['year']}-{g['month'] or '01'}-{g['day'] or '01'}"
        f"T{g['hour'] or '00'}:{g['minute'] or '00'}:{g['second'] or '00'}"
        f"{g['fraction'] or ''}{'+00:00' if zone == 'Z' else zone}"
    )
    try:
        low = datetime.fromisoformat(iso)
        high = _add_period(low, g)
    except (ValueError, OverflowError):
        raise SearchError(param, f"{param}: '{text}' is not a real date") from None
    return instant_text(low), instant_text(high)


def _date_clause(param: str, text: str) -> DateClause:
    prefix = text[:2] if text[:2] in _PREFIXES else "eq"
    if text[:2].isalpha() and text[:2] not in _PREFIXES:
        raise SearchError(param, f"{param}: prefix '{text[:2]}' is not supported (eq gt ge lt le)")
    value = text[2:] if text[:2] in _PREFIXES else text
    low, high = date_range(param, value)
    return DateClause(prefix, low, high)


def _count(text: str) -> int:
    if not text.isdigit():
        raise SearchError("_count", "_count: a whole number of entries per page")
    return min(int(text), MAX_COUNT)


def _cursor(text: str) -> Cursor:
    match = _CURSOR.match(text)
    if match is None:
        raise SearchError("_cursor", "_cursor: not a cursor this server gave (follow next links)")
    return Cursor(int(match[1]), int(match[2]))


def _include(resource_type: str, text: str) -> str:
    kind, _, element = text.partition(":")
    if kind != resource_type or not _ELEMENT.match(element):
        raise SearchError(
            "_include",
            f"_include: '{text}' is not {resource_type}:element "
            "(a top-level Reference element, e.g. CareTeam:managingOrganization)",
        )
    return element


def parse_search(
    resource_type: str,
    params: Sequence[tuple[str, str]],
    *,
    default_count: int = 50,
    strict: bool = True,
) -> SearchQuery:
    """A ``SearchQuery`` from query-string pairs, or ``SearchError`` naming the bad one.

    ``strict`` False (FHIR's lenient handling): a parameter the sandbox does not support is
    left out and named in ``ignored``; a supported one with a bad value is still an error.
    """
    tokens: list[TokenClause] = []
    ids: list[tuple[str, ...]] = []
    dates: list[DateClause] = []
    includes: list[str] = []
    ignored: list[str] = []
    count = min(default_count, MAX_COUNT)
    cursor: Cursor | None = None
    sort: str | None = None
    count_only = no_total = False
    for name, value in params:
        if name in FORMAT_PARAMETERS:
            continue
        if value == "":
            raise SearchError(name, f"{name}: an empty value matches nothing")
        if name in ("patient:identifier", "subject:identifier"):
            tokens.append(TokenClause("patient", _tokens(name, value)))
        elif name in ("patient.identifier", "subject.identifier"):
            tokens.append(TokenClause("patient-chain", _tokens(name, value)))
        elif name in ("patient", "subject"):
            refs = tuple(_patient_reference(name, v) for v in _alternatives(name, value))
            tokens.append(TokenClause("patient-ref", refs))
        elif name in TOKEN_PARAMETERS:
            tokens.append(TokenClause(name, _tokens(name, value)))
        elif name == "_id":
            wanted = tuple(unescape(v) for v in _alternatives(name, value))
            if not all(_ID.match(i) for i in wanted):
                raise SearchError(name, "_id: FHIR ids are 1-64 of A-Z a-z 0-9 - .")
            ids.append(wanted)
        elif name == "_lastUpdated":
            dates.append(_date_clause(name, value))
        elif name == "_count":
            count = _count(value)
        elif name == "_cursor":
            cursor = _cursor(value)
        elif name == "_include":
            includes.append(_include(resource_type, value))
        elif name == "_summary" and value in ("count", "false"):
            count_only = value == "count"
        elif name == "_total" and value in ("none", "estimate", "accurate"):
            no_total = value == "none"
        elif name == "_sort" and value in SORTS:
            sort = value
        else:
            why = _unsupported(name, value)
            if strict:
                raise SearchError(name, why)
            ignored.append(why)
    return SearchQuery(
        resource_type=resource_type,
        tokens=tuple(tokens),
        ids=tuple(ids),
        last_updated=tuple(dates),
        count=count,
        cursor=cursor,
        includes=tuple(dict.fromkeys(includes)),
        sort=sort,
        count_only=count_only,
        no_total=no_total,
        ignored=tuple(ignored),
    )


def _unsupported(name: str, value: str) -> str:
    base, _, modifier = name.partition(":")
    if name in ("_summary", "_total", "_sort"):
        why = f"the value '{value[:40]}' is not supported"
    elif modifier and base in SUPPORTED:
        why = f"the modifier ':{modifier}' is not supported on {base}"
    else:
        why = "not a search parameter this sandbox supports"
    return f"{name[:64]}: {why} (supported: {', '.join(SUPPORTED)})"
