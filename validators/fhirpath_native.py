"""The native FHIRPath evaluator: the common subset of FHIRPath, compiled into Python closures.

``compile_native(node)`` turns a node of fhirpathpy's syntax tree into a closure over a list of
``Item``s (navigation, existence, logic, equality of codes and strings, a few string functions).
Whenever the closure meets anything it does not handle exactly as fhirpathpy does (dates,
decimals, unknown functions, odd shapes) it raises ``Bail`` and the invariants stage lets
fhirpathpy evaluate that node. ``Env`` holds what ``%resource`` and ``%rootResource`` name.
Tests check that both evaluators give the same outcome on every node of the fixtures and of
mutated resources.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interop.validators.fhirpath_guard import constant_name, member_name
from interop.validators.fhirpath_model import CHOICES, ELSEWHERE, PARENT, PATH2TYPE, type_chain

JSON = dict[str, Any]
AST = dict[str, Any]
_DATE_TYPES = frozenset({"date", "dateTime", "instant", "time"})
_UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class Env:
    """The resource being checked (``%resource``) and its container (``%rootResource``)."""

    resource: JSON
    root: JSON


class Bail(Exception):
    """The native evaluator met something it does not handle exactly as fhirpathpy does."""


@dataclass(slots=True)
class Item:
    """A node for the native evaluator: its data and fhirpathpy's type path for it."""

    data: Any
    path: str


#: a compiled expression: the focus and the scope in, the result out
Native = Callable[[list[Any], "Scope"], list[Any]]


@dataclass(slots=True)
class Scope:
    """The environment and, inside a function's argument, the item ``$this`` names."""

    env: Env
    this: list[Any] | None = None


def compile_native(node: AST) -> Native:
    """A FHIRPath AST node as a Python closure; raises Bail for what is not supported."""
    kind = node.get("type")
    compiler = _COMPILERS.get(str(kind))
    if compiler is None:
        return _bailing(str(kind))
    try:
        return compiler(node)
    except (Bail, LookupError, ValueError) as exc:  # give up only if evaluation gets here
        return _bailing(str(exc))


def _bailing(reason: str) -> Native:
    def run(focus: list[Any], scope: Scope) -> list[Any]:
        raise Bail(reason)

    return run


def _c_passthrough(node: AST) -> Native:
    return compile_native(node["children"][0])


def _c_invocation(node: AST) -> Native:
    left = compile_native(node["children"][0])
    right = compile_native(node["children"][1])

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        return right(left(focus, scope), scope)

    return run


def _c_member(node: AST) -> Native:
    name = str(node["children"][0]["text"]).replace("`", "")
    if name[:1].isupper():
        raise Bail("type name")  # fhirpathpy filters resources by type only in some cases

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        out: list[Any] = []
        for item in focus:
            out.extend(_navigate(item, name))
        return out

    return run


#: per (type path, name): the JSON keys a navigation reads and the type path of what it finds
_Step = tuple[tuple[str, str, str], ...]
_STEPS: dict[tuple[str, str], _Step] = {}


def _step(path: str, name: str) -> _Step:
    found = _STEPS.get((path, name))
    if found is None:
        child = f"{path}.{name}"
        child = ELSEWHERE.get(child, child)
        types = CHOICES.get(child)
        if types:  # a choice: the first type present wins
            keys = tuple(
                (name + t, f"_{name}{t}", PATH2TYPE.get(child + t, child + t)) for t in types
            )
            found = keys
        else:
            target = "Extension" if name == "extension" else child
            found = ((name, "_" + name, PATH2TYPE.get(target, target)),)
        _STEPS[(path, name)] = found
    return found


def _navigate(item: Any, name: str) -> list[Any]:
    """fhirpathpy's member navigation: choice types by the model, and a primitive's value and
    its ``_name`` element as two items."""
    if not isinstance(item, Item) or not isinstance(item.data, dict):
        raise Bail("navigation from a primitive")
    data: JSON = item.data
    for key, ext_key, child_type in _step(item.path, name):
        value = data.get(key)
        ext = data.get(ext_key)
        if value is not None or ext is not None:
            return _items(value, ext, child_type)
    return []


def _items(value: Any, ext: Any, child_type: str) -> list[Any]:
    out: list[Any] = []
    for part in (value, ext):
        if part is None or part == []:
            continue
        for v in part if isinstance(part, list) else (part,):
            if v is None or isinstance(v, float | list):
                raise Bail("null, decimal or nested list")
            if isinstance(v, dict) and "resourceType" in v:
                out.append(Item(v, str(v["resourceType"])))
            else:
                out.append(Item(v, child_type))
    return out


def _c_literal(node: AST) -> Native:
    term = node["children"][0]
    kind = term.get("type")
    text = str(term.get("text"))
    value: Any
    if kind == "StringLiteral":
        if "\\" in text:
            raise Bail("escape")
        value = text[1:-1]
    elif kind == "BooleanLiteral":
        value = text == "true"
    elif kind == "NumberLiteral" and text.isdigit():
        value = int(text)
    else:
        raise Bail(kind)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        return [value]

    return run


def _c_constant(node: AST) -> Native:
    name = constant_name(node)
    if name not in ("resource", "rootResource", "ucum"):
        raise Bail(name)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        if name == "ucum":
            return [_UCUM]
        target = scope.env.resource if name == "resource" else scope.env.root
        return [Item(target, str(target.get("resourceType")))]

    return run


def _c_this(node: AST) -> Native:
    def run(focus: list[Any], scope: Scope) -> list[Any]:
        if scope.this is None:
            raise Bail("$this outside a function")
        return scope.this

    return run


def _c_function(node: AST) -> Native:
    functn = node["children"][0]
    name = str(functn["children"][0]["text"])
    params = list(functn["children"][1]["children"]) if len(functn["children"]) > 1 else []
    make = _FUNCTIONS.get(name)
    if make is None:
        return _bailing(name)
    return make(params)


def _literal_param(params: list[AST], index: int) -> Any:
    """A function argument that must be a literal (fhirpathpy evaluates others elsewhere)."""
    node = params[index]
    while node.get("type") == "TermExpression":
        node = node["children"][0]
    if node.get("type") != "LiteralTerm":
        raise Bail("argument is not a literal")
    return _c_literal(node)([], Scope(Env({}, {})))[0]


def _fixed_arity(params: list[AST], *allowed: int) -> None:
    if len(params) not in allowed:
        raise Bail("arity")


def _f_exists(params: list[AST]) -> Native:
    _fixed_arity(params, 0, 1)
    if params:
        where = _f_where(params)

        def run_where(focus: list[Any], scope: Scope) -> list[Any]:
            return [len(where(focus, scope)) > 0]

        return run_where

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        return [len(focus) > 0]

    return run


def _f_empty(params: list[AST]) -> Native:
    _fixed_arity(params, 0)
    return lambda focus, scope: [len(focus) == 0]


def _f_count(params: list[AST]) -> Native:
    _fixed_arity(params, 0)
    return lambda focus, scope: [len(focus)]


def _f_first(params: list[AST]) -> Native:
    _fixed_arity(params, 0)
    return lambda focus, scope: focus[:1]


def _f_not(params: list[AST]) -> Native:
    _fixed_arity(params, 0)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        if len(focus) != 1:
            return []
        value = focus[0]
        if value is True or value is False:
            return [not value]
        raise Bail("not() of a non-boolean")

    return run


def _lambda(params: list[AST]) -> Native:
    _fixed_arity(params, 1)
    return compile_native(params[0])


def _f_where(params: list[AST]) -> Native:
    body = _lambda(params)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        out = []
        for item in focus:
            result = body([item], Scope(scope.env, [item]))
            if result and result[0] is not True and result[0] is not False:
                raise Bail("non-boolean criteria")
            if result and result[0] is True:
                out.append(item)
        return out

    return run


def _f_all(params: list[AST]) -> Native:
    body = _lambda(params)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        for item in focus:
            result = body([item], Scope(scope.env, [item]))
            if len(result) == 1 and result[0] is True:
                continue
            if result and result[0] is not False:
                raise Bail("non-boolean criteria")
            return [False]
        return [True]

    return run


def _f_select(params: list[AST]) -> Native:
    body = _lambda(params)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        out: list[Any] = []
        for item in focus:
            out.extend(body([item], Scope(scope.env, [item])))
        return out

    return run


def _f_is_distinct(params: list[AST]) -> Native:
    _fixed_arity(params, 0)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        values = [_text(item) for item in focus]
        return [len(set(values)) == len(values)]

    return run


def _text(value: Any) -> str:
    """A string value (not a date) for string operations; anything else is fhirpathpy's."""
    if isinstance(value, Item):
        if value.path in _DATE_TYPES:
            raise Bail("date as text")
        value = value.data
    if isinstance(value, str):
        return value
    raise Bail("not a string")


def _f_trace(params: list[AST]) -> Native:
    _fixed_arity(params, 1, 2)
    _literal_param(params, 0)
    return lambda focus, scope: focus


def _string(focus: list[Any]) -> str | None:
    """The one string of a string function's input; None for an empty input."""
    if not focus:
        return None
    if len(focus) != 1:
        raise Bail("string function on a collection")
    value = focus[0].data if isinstance(focus[0], Item) else focus[0]
    if not isinstance(value, str) or (isinstance(focus[0], Item) and focus[0].path in _DATE_TYPES):
        raise Bail("string function on a non-string")
    return value


def _f_starts_with(params: list[AST]) -> Native:
    _fixed_arity(params, 1)
    prefix = _literal_param(params, 0)
    if not isinstance(prefix, str):
        raise Bail("prefix")

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        text = _string(focus)
        if text is None:
            return []
        return [bool(text) and text.startswith(prefix)]

    return run


def _f_contains(params: list[AST]) -> Native:
    _fixed_arity(params, 1)
    part = _literal_param(params, 0)
    if not isinstance(part, str):
        raise Bail("substring")

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        text = _string(focus)
        return [] if text is None else [part in text]

    return run


def _f_substring(params: list[AST]) -> Native:
    _fixed_arity(params, 1, 2)
    start = _literal_param(params, 0)
    length = _literal_param(params, 1) if len(params) == 2 else None
    if not isinstance(start, int) or not isinstance(length, int | None):
        raise Bail("substring bounds")

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        text = _string(focus)
        if text is None or start < 0 or start >= len(text):
            return []
        return [text[start:] if length is None else text[start : start + length]]

    return run


def _f_has_value(params: list[AST]) -> Native:
    _fixed_arity(params, 0)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        if len(focus) != 1:
            return [False]
        value = focus[0].data if isinstance(focus[0], Item) else focus[0]
        return [value is not None and not isinstance(value, dict | list)]

    return run


def _f_type_test(params: list[AST]) -> Native:
    """is(T) on resources (bdl-11, bdl-12): the resource type itself, nothing subtler."""
    _fixed_arity(params, 1)
    type_name = member_name(params[0])
    if type_name is None:
        raise Bail("type")

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        if not focus:
            return []
        if len(focus) != 1:
            raise Bail("is() on a collection")
        item = focus[0]
        if not isinstance(item, Item) or not isinstance(item.data, dict):
            raise Bail("is() on a primitive")
        rtype = item.data.get("resourceType")
        if not isinstance(rtype, str) or type_name in type_chain(rtype)[1:]:
            raise Bail("is() of an abstract type")
        return [rtype == type_name]

    return run


_FUNCTIONS: dict[str, Callable[[list[AST]], Native]] = {
    "exists": _f_exists,
    "empty": _f_empty,
    "count": _f_count,
    "first": _f_first,
    "not": _f_not,
    "where": _f_where,
    "all": _f_all,
    "trace": _f_trace,
    "select": _f_select,
    "isDistinct": _f_is_distinct,
    "startsWith": _f_starts_with,
    "contains": _f_contains,
    "substring": _f_substring,
    "hasValue": _f_has_value,
    "is": _f_type_test,
}


def _operands(node: AST) -> tuple[Native, Native, str]:
    left, right = node["children"]
    return compile_native(left), compile_native(right), str(node["terminalNodeText"][0])


def _logic_value(result: list[Any]) -> bool | list[Any]:
    if not result:
        return []
    if len(result) == 1 and (result[0] is True or result[0] is False):
        return bool(result[0])
    raise Bail("logic operand")


def _c_logic(node: AST) -> Native:
    left, right, op = _operands(node)
    apply = _LOGIC.get(op)
    if apply is None:
        raise Bail(op)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        # both sides, as fhirpathpy does: an error on either side is an error
        a = _logic_value(left(focus, scope))
        b = _logic_value(right(focus, scope))
        result = apply(a, b)
        return result if isinstance(result, list) else [result]

    return run


def _or(a: bool | list[Any], b: bool | list[Any]) -> bool | list[Any]:
    if isinstance(b, list):
        return True if a is True else []
    if isinstance(a, list):
        return True if b is True else []
    return a or b


def _and(a: bool | list[Any], b: bool | list[Any]) -> bool | list[Any]:
    if isinstance(b, list):
        return False if a is False else []
    if isinstance(a, list):
        return [] if b is True else False
    return a and b


def _xor(a: bool | list[Any], b: bool | list[Any]) -> bool | list[Any]:
    if isinstance(a, list) or isinstance(b, list):
        return []
    return a != b


def _implies(a: bool | list[Any], b: bool | list[Any]) -> bool | list[Any]:
    if isinstance(b, list):
        return True if a is False else []
    if isinstance(a, list):
        return True if b is True else []
    return True if a is False else b


_LOGIC: dict[str, Callable[[bool | list[Any], bool | list[Any]], bool | list[Any]]] = {
    "or": _or,
    "and": _and,
    "xor": _xor,
    "implies": _implies,
}


def _scalar(value: Any) -> str | bool | int:
    """A code, string, boolean or integer to compare; anything else is fhirpathpy's."""
    if isinstance(value, Item):
        if value.path in _DATE_TYPES:
            raise Bail("date comparison")
        value = value.data
    if isinstance(value, str | bool | int):
        return value
    raise Bail("comparison of a complex or decimal value")


_QUANTITIES = frozenset(t for t in PARENT if "Quantity" in type_chain(t)) | {"Quantity"}


def _is_plain_complex(value: Any) -> bool:
    """An element other than a Quantity (whose equality fhirpathpy treats its own way)."""
    if isinstance(value, Item) and isinstance(value.data, dict):
        if value.path in _QUANTITIES or "resourceType" in value.data:
            raise Bail("quantity or resource equality")
        return True
    return False


def _c_equality(node: AST) -> Native:
    left, right, op = _operands(node)
    if op not in ("=", "!="):
        raise Bail(op)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        a, b = left(focus, scope), right(focus, scope)
        if not a or not b:
            return []
        if len(a) != 1 or len(b) != 1:
            raise Bail("collection equality")
        if _is_plain_complex(a[0]) != _is_plain_complex(b[0]):
            return [op != "="]  # an element (not a Quantity) never equals a code or string
        x, y = _scalar(a[0]), _scalar(b[0])
        if type(x) is not type(y):
            raise Bail("mixed types")
        return [(x == y) == (op == "=")]

    return run


def _c_membership(node: AST) -> Native:
    left, right, op = _operands(node)
    if op != "in":
        raise Bail(op)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        a, b = left(focus, scope), right(focus, scope)
        if not a:
            return []
        if not b:
            return [False]
        if len(a) != 1:
            raise Bail("in with a collection")
        x = _scalar(a[0])
        return [any(_same(x, _scalar(y)) for y in b)]

    return run


def _same(x: str | bool | int, y: str | bool | int) -> bool:
    if type(x) is not type(y):
        raise Bail("mixed types")
    return x == y


def _c_union(node: AST) -> Native:
    left, right, _ = _operands(node)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        out: list[Any] = []
        for value in left(focus, scope) + right(focus, scope):
            scalar = _scalar(value)
            if not any(type(scalar) is type(o) and scalar == o for o in out):
                out.append(scalar)
        return out

    return run


def _integer(result: list[Any]) -> int | None:
    if not result:
        return None
    if len(result) == 1 and type(result[0]) is int:
        return int(result[0])
    raise Bail("arithmetic on a non-integer")


def _c_additive(node: AST) -> Native:
    left, right, op = _operands(node)
    if op == "&":
        return _concatenation(left, right)
    if op != "+":
        raise Bail(op)

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        a, b = _integer(left(focus, scope)), _integer(right(focus, scope))
        return [] if a is None or b is None else [a + b]

    return run


def _concatenation(left: Native, right: Native) -> Native:
    """``a & b``: strings joined, an empty side read as the empty string."""

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        parts = []
        for side in (left(focus, scope), right(focus, scope)):
            if len(side) > 1:
                raise Bail("& on a collection")
            parts.append(_text(side[0]) if side else "")
        return [parts[0] + parts[1]]

    return run


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _c_inequality(node: AST) -> Native:
    left, right, op = _operands(node)
    compare = _COMPARE[op]

    def run(focus: list[Any], scope: Scope) -> list[Any]:
        a, b = left(focus, scope), right(focus, scope)
        if not a or not b:
            return []
        if len(a) != 1 or len(b) != 1:
            raise Bail("comparison of collections")
        x, y = a[0], b[0]
        if isinstance(x, Item) and isinstance(y, Item):
            return [compare(*_comparable_dates(x, y))]
        return [compare(_integer([x]), _integer([y]))]

    return run


_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FULL_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})")


def _comparable_dates(x: Item, y: Item) -> tuple[Any, Any]:
    """Two dates or two dateTimes of the same full precision (with a time zone); anything
    partial or mixed is fhirpathpy's (FHIRPath's precision rules)."""
    if x.path not in _DATE_TYPES or y.path not in _DATE_TYPES:
        raise Bail("comparison of non-dates")
    a, b = x.data, y.data
    if not isinstance(a, str) or not isinstance(b, str):
        raise Bail("comparison of non-strings")
    if _FULL_DATE.fullmatch(a) and _FULL_DATE.fullmatch(b):
        return a, b
    if _FULL_DATETIME.fullmatch(a) and _FULL_DATETIME.fullmatch(b):
        return datetime.fromisoformat(a), datetime.fromisoformat(b)
    raise Bail("dates of another precision")


_COMPILERS: dict[str, Callable[[AST], Native]] = {
    "TermExpression": _c_passthrough,
    "InvocationTerm": _c_passthrough,
    "ParenthesizedTerm": _c_passthrough,
    "InvocationExpression": _c_invocation,
    "MemberInvocation": _c_member,
    "FunctionInvocation": _c_function,
    "LiteralTerm": _c_literal,
    "ExternalConstantTerm": _c_constant,
    "ThisInvocation": _c_this,
    "AndExpression": _c_logic,
    "OrExpression": _c_logic,
    "ImpliesExpression": _c_logic,
    "EqualityExpression": _c_equality,
    "MembershipExpression": _c_membership,
    "UnionExpression": _c_union,
    "AdditiveExpression": _c_additive,
    "InequalityExpression": _c_inequality,
}
