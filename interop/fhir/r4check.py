"""R4 structure of FHIR JSON, checked against the R4 base specification (``r4spec``).

One walk over a resource (Bundle entries and contained resources included) reports, each at
its FHIRPath-like location and none hiding another:

- elements R4 does not have, arrays where one value is allowed and the reverse, empty arrays
  and objects, values of the wrong JSON type;
- primitives against their R4 regex, strings with control characters (R4 ``string`` allows
  none below U+0020 but tab, CR and LF), codes and ids with surrounding whitespace;
- ``_name`` siblings of primitives (id and extensions), arrays with ``null`` placeholders,
  everywhere, extensions included;
- cardinality (min and max) of every element, choice elements with one type only;
- bindings of the base specification on ``code``, ``Coding`` and ``CodeableConcept``:
  required → error, extensible → warning, preferred and example → nothing; a ValueSet that
  cannot be listed offline is one warning per walk (file) and system;
- the narrative (``Narrative.div``): txt-1 and txt-2 (``interop.fhir.narrative``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from interop.fhir.narrative import check_div
from interop.fhir.r4spec import ElementDef, R4Spec
from interop.issues import Issue, IssueCode, Severity, error

JSON = dict[str, Any]
#: R4 string: no character below U+0020 but tab, LF and CR (https://hl7.org/fhir/R4/datatypes.html#string);
#: nor U+FFFE or U+FFFF, which XML 1.0 cannot hold (a resource called valid is writable as XML)
_CONTROL = frozenset([*(chr(c) for c in range(32) if c not in (9, 10, 13)), "\ufffe", "\uffff"])
#: types whose values may not start or end with whitespace (their regexes say so)
_TRIMMED = frozenset({"code", "id", "uri", "url", "canonical", "oid", "uuid"})
_DATE_TYPES = frozenset({"date", "dateTime", "instant"})
_NUMBER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt", "decimal"})
_INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt"})
_MAX_DEPTH = 200
#: ValueSets of grammar-based systems, which cannot be listed but whose codes have a form:
#: checked by that form instead (a well-formed code is accepted, a malformed one refused)
_GRAMMARS: dict[str, tuple[re.Pattern[str], str]] = {
    "http://hl7.org/fhir/ValueSet/mimetypes": (
        # json, xml and ttl: the short forms CapabilityStatement.format names beside MIME types
        re.compile(
            r"json|xml|ttl|[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;.*)?"
        ),
        "a MIME type (type/subtype, BCP 13)",
    ),
    "http://hl7.org/fhir/ValueSet/currencies": (re.compile("[A-Z]{3}"), "an ISO 4217 code"),
}


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Walk:
    def __init__(self, spec: R4Spec) -> None:
        self.spec = spec
        self.issues: list[Issue] = []
        self.unlisted: set[str] = set()  # ValueSets already said to be unlistable
        self.warned: set[tuple[str, str]] = set()  # (ValueSet, codes) already warned of

    def add(self, code: IssueCode, where: str, message: str, rule: str | None = None) -> None:
        self.issues.append(error(code, where, message, rule_id=rule))

    def warn(self, code: IssueCode, where: str, message: str, source: str) -> None:
        self.issues.append(Issue(Severity.WARNING, code, where, message, rule_source=source))

    # -- resources and objects ----------------------------------------------------------------

    def resource(self, value: Any, where: str, depth: int) -> None:
        if not isinstance(value, dict):
            self.add(IssueCode.STRUCTURE, where, "a resource is a JSON object")
            return
        resource_type = value.get("resourceType")
        if not isinstance(resource_type, str):
            self.add(IssueCode.REQUIRED, where or "resourceType", "resourceType is required")
            return
        if not self.spec.is_resource(resource_type):
            self.add(
                IssueCode.CODE_INVALID,
                f"{where}.resourceType" if where else "resourceType",
                f"'{resource_type}' is not an R4 resource",
            )
            return
        here = f"{where}.ofType({resource_type})" if where else resource_type
        self.object(value, resource_type, resource_type, here, depth, is_resource=True)

    def object(
        self,
        value: JSON,
        type_name: str,
        path: str,
        where: str,
        depth: int,
        is_resource: bool = False,
    ) -> None:
        if depth > _MAX_DEPTH:
            self.add(IssueCode.TOO_COSTLY, where, f"nesting is deeper than {_MAX_DEPTH} levels")
            return
        children = self.spec.children(type_name, path)
        if not value:
            self.add(IssueCode.STRUCTURE, where, "an empty object (FHIR elements are never empty)")
            return
        present: dict[str, list[str]] = {}  # element name → the JSON keys that gave it
        for key, item in value.items():
            if is_resource and key == "resourceType":
                continue
            extra = key.startswith("_")
            name = key[1:] if extra else key
            found = self._element(children, name)
            if found is None:
                self.add(IssueCode.STRUCTURE, f"{where}.{key}", "an element R4 does not have here")
                continue
            element, type_code = found
            if extra and not self.spec.is_primitive(type_code):
                self.add(
                    IssueCode.STRUCTURE,
                    f"{where}.{key}",
                    f"'{name}' is not a primitive, so it has no '_{name}'",
                )
                continue
            present.setdefault(element.name, [])
            if name not in present[element.name]:
                present[element.name].append(name)
            if extra:
                if name not in value:
                    self.values(element, type_code, type_name, None, item, f"{where}.{name}", depth)
            else:
                self.values(
                    element,
                    type_code,
                    type_name,
                    item,
                    value.get(f"_{key}"),
                    f"{where}.{key}",
                    depth,
                )
        for element in children.values():
            self._cardinality(element, value, present.get(element.name, []), where)

    def _element(self, children: dict[str, ElementDef], name: str) -> tuple[ElementDef, str] | None:
        """The element a JSON name is, and the type it gives (``valueQuantity`` → Quantity)."""
        element = children.get(name)
        if element is not None and not element.choice:
            return element, element.types[0] if element.types else "string"
        for element in children.values():
            if element.choice and name.startswith(element.name):
                suffix = name[len(element.name) :]
                for type_code in element.types:
                    if _upper_first(type_code) == suffix:
                        return element, type_code
        return None

    def _cardinality(self, element: ElementDef, value: JSON, keys: list[str], where: str) -> None:
        if len(keys) > 1:
            self.add(
                IssueCode.STRUCTURE,
                where,
                "a choice element (such as value[x]) holds one type only; several are given",
            )
        count = 0
        for key in keys:
            held, extra = value.get(key), value.get(f"_{key}")
            if isinstance(held, list) or isinstance(extra, list):
                held_list = held if isinstance(held, list) else []
                extra_list = extra if isinstance(extra, list) else []
                count += sum(
                    1
                    for i in range(max(len(held_list), len(extra_list)))
                    if (i < len(held_list) and held_list[i] is not None)
                    or (i < len(extra_list) and extra_list[i] is not None)
                )
            else:
                count += 1
        if count < element.min:
            if element.choice:
                names = ", ".join(f"'{element.name}{_upper_first(t)}'" for t in element.types)
                message = f"one of these is required: {names}"
            else:
                message = f"required (at least {element.min}); absent"
            self.add(IssueCode.REQUIRED, f"{where}.{element.name}", message)
        if element.max is not None and count > element.max and len(keys) <= 1:
            message = (
                "not allowed here" if element.max == 0 else f"at most {element.max}; {count} given"
            )
            self.add(IssueCode.STRUCTURE, f"{where}.{element.name}", message)

    # -- values ---------------------------------------------------------------------------------

    def values(
        self,
        element: ElementDef,
        type_code: str,
        owner: str,
        held: Any,
        extra: Any,
        where: str,
        depth: int,
    ) -> None:
        """An element's value(s) and, for a primitive, its ``_name`` sibling."""
        primitive = self.spec.is_primitive(type_code)
        if element.repeats:
            if held is not None and not isinstance(held, list):
                self.add(IssueCode.STRUCTURE, where, "R4 holds this element in an array")
                return
            if extra is not None and not isinstance(extra, list):
                self.add(IssueCode.STRUCTURE, f"_{where}", "R4 holds this element in an array")
                extra = None
            held_list: list[Any] = held or []
            extra_list: list[Any] = extra or []
            if held is not None and not held_list:
                self.add(IssueCode.STRUCTURE, where, "an empty array (FHIR JSON never has one)")
                return
            if (
                primitive
                and held is not None
                and extra is not None
                and len(held_list) != len(extra_list)
            ):
                self.add(
                    IssueCode.STRUCTURE,
                    where,
                    f"'{element.name}' and '_{element.name}' differ in length",
                )
            for i in range(max(len(held_list), len(extra_list))):
                item = held_list[i] if i < len(held_list) else None
                more = extra_list[i] if i < len(extra_list) else None
                here = f"{where}[{i}]"
                if item is None and more is None:
                    self.add(IssueCode.STRUCTURE, here, "null with no value beside it")
                    continue
                if item is None and not primitive:
                    self.add(IssueCode.STRUCTURE, here, "null is not a value")
                    continue
                self.one(element, type_code, owner, item, more, here, depth + 1)
            return
        if isinstance(held, list) or isinstance(extra, list):
            self.add(IssueCode.STRUCTURE, where, "an array where R4 allows one value")
            return
        self.one(element, type_code, owner, held, extra, where, depth)

    def one(
        self,
        element: ElementDef,
        type_code: str,
        owner: str,
        item: Any,
        extra: Any,
        where: str,
        depth: int,
    ) -> None:
        if extra is not None:
            if isinstance(extra, dict):
                self.object(extra, "Element", "Element", where, depth + 1)
            else:
                self.add(IssueCode.STRUCTURE, where, "the '_' sibling of a primitive is an object")
        if item is None:
            return
        if type_code == "xhtml":
            if not isinstance(item, str):
                self.add(IssueCode.STRUCTURE, where, "the narrative is XHTML in a string")
            else:
                self.issues.extend(check_div(item, where))
            return
        if self.spec.is_primitive(type_code):
            self.primitive(element, type_code, item, where)
            return
        if type_code == "Resource":
            self.resource(item, where, depth + 1)
            return
        if not isinstance(item, dict):
            self.add(IssueCode.STRUCTURE, where, f"a {type_code} is a JSON object")
            return
        node_type, node_path = self.spec.node_of(owner, element, type_code)
        self.object(item, node_type, node_path, where, depth + 1)
        if element.binding is not None and type_code in ("Coding", "CodeableConcept"):
            self.binding(element, type_code, item, where)

    def primitive(self, element: ElementDef, type_code: str, item: Any, where: str) -> None:
        if type_code == "boolean":
            ok = isinstance(item, bool)
        elif type_code in _NUMBER_TYPES:
            ok = isinstance(item, int | float) and not isinstance(item, bool)
            if ok and type_code in _INTEGER_TYPES and not isinstance(item, int):
                ok = False
        else:
            ok = isinstance(item, str)
        if not ok:
            self.add(IssueCode.STRUCTURE, where, f"not a FHIR {type_code} (wrong JSON type)")
            return
        text = item if isinstance(item, str) else None
        if text is None:
            if type_code == "positiveInt" and item < 1:
                self.add(IssueCode.VALUE, where, "a positiveInt is 1 or more")
            elif type_code == "unsignedInt" and item < 0:
                self.add(IssueCode.VALUE, where, "an unsignedInt is 0 or more")
            return
        if not text:
            self.add(IssueCode.VALUE, where, "an empty string (FHIR values are never empty)")
            return
        bad = next((c for c in text if c in _CONTROL), None)
        if bad is not None:
            self.add(
                IssueCode.VALUE,
                where,
                f"the control character U+{ord(bad):04X} is not allowed in a FHIR {type_code}",
            )
            return
        if type_code in _TRIMMED and text != text.strip():
            self.add(IssueCode.VALUE, where, f"a FHIR {type_code} has no surrounding whitespace")
            return
        head, _, name = element.path.partition(".")
        if name == "id" and self.spec.is_resource(head):
            type_code = "id"  # Resource.id is an id; the 4.0.1 snapshots say string
        pattern = self.spec.regexes.get(type_code)
        if (pattern is not None and not pattern.fullmatch(text)) or (
            type_code in _DATE_TYPES and not _real_day(text)
        ):
            self.add(IssueCode.STRUCTURE, where, _format_message(type_code))
            return
        if type_code == "code" and element.binding is not None:
            self.binding(element, type_code, text, where)

    # -- bindings -------------------------------------------------------------------------------

    def binding(self, element: ElementDef, type_code: str, value: Any, where: str) -> None:
        assert element.binding is not None
        strength, url = element.binding
        if strength not in ("required", "extensible"):
            return
        codes = self.spec.value_sets.get(url)
        if codes is None:
            return
        required = strength == "required"
        grammar = _GRAMMARS.get(url)
        if grammar is not None:
            texts = [value] if type_code == "code" else [value.get("code")]
            if type_code == "CodeableConcept":
                texts = [c.get("code") for c in value.get("coding") or () if isinstance(c, dict)]
            for text in texts:
                if isinstance(text, str) and not grammar[0].fullmatch(text):
                    self._out(f"'{text}' is not {grammar[1]} and", url, strength, where)
            return
        if type_code == "code":
            if value in codes.all_codes:
                return
            if codes.open:
                self._unlisted(url, codes.open, where, required)
                return
            self._out(f"'{value}'", url, strength, where)
            return
        codings = [value] if type_code == "Coding" else value.get("coding") or []
        coded = [c for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str)]
        if not coded:
            return  # text only: nothing to check a code against
        for coding in coded:
            system = coding.get("system")
            if isinstance(system, str) and coding["code"] in codes.codes.get(system, ()):
                return
        if codes.open:
            self._unlisted(url, codes.open, where, required)
            return
        shown = ", ".join(f"'{c['code']}' of {c.get('system', 'no system')}" for c in coded)
        at = f"{where}.coding[0]" if type_code == "CodeableConcept" and len(coded) == 1 else where
        self._out(shown, url, strength, at)

    def _out(self, shown: str, url: str, strength: str, where: str) -> None:
        # no rule id: where a profile binds the same element, the chain keeps its issue instead
        message = f"{shown} is not in the R4 value set {url} ({strength} binding)"
        severity = Severity.ERROR if strength == "required" else Severity.WARNING
        if severity is Severity.WARNING:
            # an extensible binding allows other codes: the same one is worth saying once
            if (url, shown) in self.warned:
                return
            self.warned.add((url, shown))
            message += "; said once per file"
        self.issues.append(Issue(severity, IssueCode.CODE_INVALID, where, message, rule_source=url))

    def _unlisted(self, url: str, why: str, where: str, required: bool) -> None:
        if not required or url in self.unlisted:
            return
        self.unlisted.add(url)
        self.warn(
            IssueCode.NOT_SUPPORTED,
            where,
            f"codes bound to {url} could not be checked offline ({why}); reported once per file",
            url,
        )


def _real_day(text: str) -> bool:
    """Whether a date's day exists (the R4 regex lets 31 June through)."""
    if len(text) < 10:
        return True
    try:
        date.fromisoformat(text[:10])
    except ValueError:
        return False
    return True


def _format_message(type_code: str) -> str:
    if type_code == "dateTime":
        return "not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz)"
    if type_code == "date":
        return "not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)"
    if type_code == "instant":
        return "not a FHIR instant (YYYY-MM-DDThh:mm:ss with a time zone)"
    if type_code == "id":
        return "not a FHIR id (1 to 64 of A-Z, a-z, 0-9, '-' and '.')"
    return f"not a FHIR {type_code}"


def check_r4(resource: Any, spec: R4Spec | None = None) -> list[Issue]:
    """Every R4 structural problem of a FHIR JSON resource, located."""
    walk = _Walk(spec or R4Spec.load())
    walk.resource(resource, "", 1)
    return walk.issues
