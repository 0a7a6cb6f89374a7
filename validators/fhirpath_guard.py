"""The invariants stage's fast path guard: the names an expression navigates from its node.

An expression that only looks at its node through the names it navigates, when none of those
names is in the node, gives the same result as on an empty node, so the invariants stage
computes that result once per expression and element type. ``navigated_names(ast)`` finds those
names in fhirpathpy's syntax tree, or refuses (None) when the expression can look further:
``$this``, ``%resource``, ``children()``... ``member_name`` and ``constant_name`` read a
member's and an external constant's name from the tree (the native evaluator uses them too).
"""

from __future__ import annotations

from typing import Any

AST = dict[str, Any]


#: functions whose argument is evaluated once per item of their input (never on empty input)
_LAMBDAS = frozenset({"where", "select", "all", "exists", "repeat"})
#: functions that give an empty result on an empty input
_EMPTY_PRESERVING = frozenset({"where", "select", "first", "last", "tail", "trace", "ofType"})
#: functions on the node itself whose result depends on more than named children
_NODE_FUNCTIONS = frozenset({"children", "descendants", "resolve", "hasValue", "toString"})


class _Unsafe(Exception):
    pass


def navigated_names(ast: AST) -> frozenset[str] | None:
    """The names an expression navigates from its context node, or None when it may look at
    the node in any other way (``$this``, ``%resource``, ``children()``...)."""
    names: set[str] = set()
    try:
        _first_steps(ast["children"][0], names)
    except (_Unsafe, LookupError, ValueError):  # a malformed tree: no fast path
        return None
    return frozenset(names)


def _first_steps(node: AST, names: set[str]) -> None:
    """Collect the first-step names of ``node`` evaluated against the context node."""
    kind = node.get("type")
    if kind == "InvocationExpression":
        chain = _chain(node)
        head = chain[0]
        if member_name(head) is not None:
            names.add(str(member_name(head)))
            _chain_rest(chain[1:], names)
            return
        # a chain starting on the node itself: every name in it counts, nothing unsafe
        _node_function(head)
        _whole(node, names)
        return
    if kind in ("TermExpression", "InvocationTerm", "ParenthesizedTerm"):
        member = member_name(node)
        if member is not None:
            names.add(member)
            return
        for child in node.get("children", []):
            _first_steps(child, names)
        return
    if kind in ("LiteralTerm", "StringLiteral", "NumberLiteral", "BooleanLiteral", "NullLiteral"):
        return
    if kind == "ExternalConstantTerm":
        if constant_name(node) != "ucum":
            raise _Unsafe
        return
    if kind == "FunctionInvocation":
        _node_function(node)
        _whole(node, names)
        return
    if kind in ("ThisInvocation", "IndexInvocation", "TotalInvocation"):
        raise _Unsafe
    for child in node.get("children", []):  # operators: every operand is evaluated on the node
        _first_steps(child, names)


#: functions that, applied to the node itself, see no more of it than the names in their
#: arguments (others, like length() or not(), read or print the node's own value)
_ON_NODE = frozenset(
    {"where", "select", "all", "exists", "empty", "count", "first", "last", "single", "iif"}
    | {"trace", "is", "as", "ofType", "distinct", "isDistinct"}
)


def _node_function(node: AST) -> None:
    function = _function(node)
    if function is not None and function[0] not in _ON_NODE:
        raise _Unsafe


def _chain(node: AST) -> list[AST]:
    """``a.b.f()`` as [a, b, f()]."""
    if node.get("type") == "InvocationExpression":
        left, right = node["children"]
        return [*_chain(left), right]
    return [node]


def member_name(node: AST) -> str | None:
    """The name of a member term (``code``, under any term wrappers); None for anything else."""
    current = node
    while current.get("type") in ("TermExpression", "InvocationTerm"):
        current = current["children"][0]
    if current.get("type") == "MemberInvocation":
        return str(current["children"][0]["text"]).replace("`", "")
    return None


def _function(node: AST) -> tuple[str, list[AST]] | None:
    current = node
    while current.get("type") in ("TermExpression", "InvocationTerm"):
        current = current["children"][0]
    if current.get("type") != "FunctionInvocation":
        return None
    functn = current["children"][0]
    name = str(functn["children"][0]["text"])
    params = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
    return name, list(params)


def constant_name(node: AST) -> str:
    """The name of an external constant (``resource`` for ``%resource``)."""
    constant = node["children"][0]
    return str(constant["children"][0]["text"]).replace("`", "")


def _chain_rest(steps: list[AST], names: set[str]) -> None:
    """Steps after a first member: lambdas never run while the chain is still empty-preserving;
    other functions' arguments are evaluated on the context node."""
    preserving = True
    for step in steps:
        if member_name(step) is not None:
            continue
        function = _function(step)
        if function is None:
            raise _Unsafe
        name, params = function
        if name in _NODE_FUNCTIONS - {"hasValue", "toString"}:
            if not preserving:
                raise _Unsafe
            continue  # only ever applied to children of an absent member
        if name in _LAMBDAS and preserving:
            continue  # never evaluated when the chain is empty
        if name in _LAMBDAS:
            for param in params:
                _whole(param, names)
        else:
            for param in params:
                _first_steps(param, names)
        preserving = preserving and name in _EMPTY_PRESERVING


def _reaches_past_children(node: AST) -> bool:
    kind = node.get("type")
    if kind in ("ThisInvocation", "IndexInvocation", "TotalInvocation"):
        return True
    if kind == "ExternalConstantTerm":
        return constant_name(node) != "ucum"
    return kind == "Functn" and str(node["children"][0]["text"]) in _NODE_FUNCTIONS


def _whole(node: AST, names: set[str]) -> None:
    """Every member name anywhere in ``node``; refuse anything that reaches past them."""
    kind = node.get("type")
    if kind == "MemberInvocation":
        names.add(str(node["children"][0]["text"]).replace("`", ""))
    elif _reaches_past_children(node):
        raise _Unsafe
    for child in node.get("children", []):
        _whole(child, names)
