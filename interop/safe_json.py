"""Reading untrusted JSON: size, encoding, syntax, duplicate keys and nesting depth.

Hostile input is normal input: every way a file can be wrong becomes an ``Issue`` with a
line and column where there is one, never a traceback.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from typing import Any

from interop.errors import InputError
from interop.issues import Issue, IssueCode, error


@dataclass(frozen=True)
class JsonLimits:
    """Bounds on what is read: bytes, nesting depth."""

    max_bytes: int = 5 * 1024 * 1024
    max_depth: int = 64


DEFAULT_LIMITS = JsonLimits()


class JsonInputError(InputError):
    """The input is not usable JSON; ``issue`` says what and where."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


_UTF16_32_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _check_size(size: int, limits: JsonLimits) -> None:
    if size > limits.max_bytes:
        raise JsonInputError(
            error(
                IssueCode.TOO_COSTLY,
                "$",
                f"the input is {size:,} bytes; the limit is {limits.max_bytes:,}",
            )
        )


def decode_utf8(data: bytes, limits: JsonLimits = DEFAULT_LIMITS) -> str:
    """Bytes to text: within the size limit, UTF-8 (a UTF-8 byte order mark is dropped)."""
    _check_size(len(data), limits)
    for bom, name in _UTF16_32_BOMS:
        if data.startswith(bom):
            raise JsonInputError(
                error(IssueCode.INVALID, "$", f"the input is {name}; it must be UTF-8")
            )
    if len(data) >= 2 and (data[0] == 0) != (data[1] == 0):
        raise JsonInputError(
            error(
                IssueCode.INVALID,
                "$",
                "the input looks like UTF-16 without a byte order mark; it must be UTF-8",
            )
        )
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        line, column = _position(good, len(good))
        raise JsonInputError(
            error(
                IssueCode.INVALID,
                "$",
                f"byte {exc.start} (0x{data[exc.start]:02x}) is not UTF-8; save the file as "
                "UTF-8 (it may be Windows-1252 or Latin-1)",
                line=line,
                column=column,
            )
        ) from None


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        children = node.values() if isinstance(node, dict) else node
        # only containers nest: leaves need no visit
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def parse_json(data: bytes | str, limits: JsonLimits = DEFAULT_LIMITS) -> Any:
    """Parse untrusted JSON, or raise ``JsonInputError`` with what is wrong and where."""
    if isinstance(data, bytes):
        text = decode_utf8(data, limits)
    else:
        text = data
        _check_size(len(text), limits)
    if not text.strip():
        raise JsonInputError(error(IssueCode.INVALID, "$", "the input is empty"))
    try:
        value = json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        message = exc.msg
        # an unterminated string runs to the end of the input, wherever it started
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            message += " (the input ends early: is it truncated?)"
        raise JsonInputError(
            error(IssueCode.INVALID, "$", message, line=exc.lineno, column=exc.colno)
        ) from None
    except _DuplicateKey as exc:
        raise JsonInputError(
            error(IssueCode.STRUCTURE, "$", f"the key '{exc.key}' appears twice in one object")
        ) from None
    except ValueError as exc:  # NaN / Infinity
        raise JsonInputError(error(IssueCode.INVALID, "$", str(exc))) from None
    except RecursionError:
        raise JsonInputError(
            error(IssueCode.TOO_COSTLY, "$", f"nesting is deeper than {limits.max_depth} levels")
        ) from None
    if _depth_exceeds(value, limits.max_depth):
        raise JsonInputError(
            error(IssueCode.TOO_COSTLY, "$", f"nesting is deeper than {limits.max_depth} levels")
        )
    return value
