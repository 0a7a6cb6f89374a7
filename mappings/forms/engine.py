"""One QuestionnaireResponse engine for the toolkit's forms, driven by a table per form.

A form is a tuple of ``Item``: each says its linkId, its text, its FHIR item type, the artefact
field it fills and, for a choice, the code system it answers from. From that one table the
engine
- generates the Questionnaire item tree (``Form.questionnaire``);
- writes the answered items of a QuestionnaireResponse from an artefact's field dict
  (``Form.response_items``): unanswered questions and empty groups are left out;
- reads a response back into a field dict by linkId (``Form.read``), recording every problem
  at the item, answer or value it concerns, and where each artefact field came from, so that
  a domain error found later is located at the answer too (``fhir_common.build``).

What a form does beyond its table (extensions, resources beside the answers, a field the form
derives) stays in its mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal

from interop.codes import CodedEnum
from interop.identifiers import SNOMED_SYSTEM
from interop.issues import IssueCode
from interop.mappings.fhir_common import JSON, Node, Reader, coding, fhir_datetime, value_set_url

#: The QuestionnaireResponse answer element of each item type.
ANSWER_KEYS = {
    "boolean": "valueBoolean",
    "string": "valueString",
    "text": "valueString",
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "choice": "valueCoding",
    # a coded answer; a name typed instead of a code is a valueString (``_open_choice``)
    "open-choice": "valueCoding",
}
#: The JSON type each answer element holds.
_JSON_TYPES: dict[str, type[Any]] = {
    "valueBoolean": bool,
    "valueString": str,
    "valueDate": str,
    "valueDateTime": str,
    "valueCoding": dict,
}
#: Statuses of a response that is a finished form.
FINISHED = ("completed", "amended")
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class External:
    """Codes from a system the toolkit does not enumerate (ISO 3166 countries, say)."""

    value_set: str
    system: str


#: Clinical findings (disorders included) in SNOMED CT, as an implicit ValueSet: what a
#: condition question answers from (SNOMED CT's implicit ValueSet URL, ``isa`` 404684003).
SNOMED_FINDINGS = External("http://snomed.info/sct?fhir_vs=isa/404684003", SNOMED_SYSTEM)


@dataclass(frozen=True)
class Item:
    """One item of a form and the artefact field it fills.

    ``field`` is a dotted path relative to the object of the enclosing group: a group with a
    field fills that object (a repeating group, a list of objects), a group without one only
    lays the form out and its questions fill the enclosing object; a repeating question fills a
    list of values. A group with ``match`` (key, code) answers for the element of the list
    ``field`` whose ``key`` is ``code`` (one risk factor's finding, say), and carries the code.

    An ``open-choice`` question answers a condition from the ``external`` code system or, when
    the person answering has no code, by name: its field holds what a ``ConditionEntry``
    writes, the bare name (answered ``valueString``) or ``{"name", "snomed_code"}`` (answered
    ``valueCoding`` with the code and the name as ``display``).
    """

    link_id: str
    text: str
    kind: str  # group | string | text | date | dateTime | boolean | choice | open-choice
    field: str = ""
    required: bool = False
    repeats: bool = False
    max_length: int | None = None
    codes: type[CodedEnum] | None = None
    #: the answer options when the form offers only some codes of ``codes``
    options: tuple[CodedEnum, ...] = ()
    #: options listed in the Questionnaire (answerOption), or else its toolkit ValueSet named
    listed: bool = True
    external: External | None = None
    items: tuple[Item, ...] = ()
    #: (linkId of a boolean question, the answer that shows this item)
    enable_when: tuple[str, bool] | None = None
    match: tuple[str, CodedEnum] | None = None

    def answer(self, value: Any) -> JSON:
        """The QuestionnaireResponse answer holding one field value."""
        if self.kind == "open-choice":
            if isinstance(value, str):
                return {"valueString": value}
            assert self.external is not None, "an open-choice item names its code system"
            code, name = value["snomed_code"], value["name"]
            return {"valueCoding": {"system": self.external.system, "code": code, "display": name}}
        if self.external is not None:
            return {"valueCoding": {"system": self.external.system, "code": value}}
        if self.codes is not None:
            member = self.codes.lookup(value)
            assert member is not None, "the artefact holds only valid codes"
            return {"valueCoding": coding(member)}
        if isinstance(value, datetime):
            return {ANSWER_KEYS[self.kind]: fhir_datetime(value)}
        if isinstance(value, date):
            return {ANSWER_KEYS[self.kind]: value.isoformat()}
        return {ANSWER_KEYS[self.kind]: value}


def qualified(items: tuple[Item, ...], prefix: str = "") -> tuple[Item, ...]:
    """``items`` with each linkId prefixed by its parent's (a table written with short names)."""
    done = []
    for item in items:
        link = f"{prefix}.{item.link_id}" if prefix else item.link_id
        done.append(replace(item, link_id=link, items=qualified(item.items, link)))
    return tuple(done)


@dataclass(frozen=True)
class Conventions:
    """Where a form's reader locates what it finds.

    The three forms were written apart and their locations are pinned by the conformance
    fixtures and by suppliers' expectations, so each keeps its own:
    ``at_value`` locates an answer (and a domain error in it) at its value element
    (``answer[0].valueString``) rather than at the answer; ``misfit`` is the issue code of an
    answer of the wrong type; ``unknown`` says whether an item with a linkId the form does not
    have is ignored or reported at the item or at its linkId.
    """

    at_value: bool = False
    misfit: IssueCode = IssueCode.VALUE
    unknown: Literal["ignore", "item", "linkId"] = "item"


@dataclass(frozen=True)
class Form:
    """A form: its Questionnaire's canonical URL, header and items, and how it is read."""

    url: str
    header: JSON
    items: tuple[Item, ...]
    #: the Questionnaire version a response must name, if it names one (None: any)
    version: str | None = None
    #: earlier versions whose responses are still read (their items are a subset of this one's)
    earlier_versions: tuple[str, ...] = ()
    conventions: Conventions = Conventions()

    def questionnaire(self) -> JSON:
        """The Questionnaire: the header with the item tree of the table."""
        return {**self.header, "item": [_questionnaire_item(i) for i in self.items]}

    def response_items(self, data: Mapping[str, Any]) -> list[JSON]:
        """The answered items for an artefact's field dict (``model_dump()``)."""
        return _response_items(self.items, data)

    def check_resource(self, reader: Reader, node: Node) -> None:
        """Stop unless ``node`` is a QuestionnaireResponse."""
        value = node.value
        if not isinstance(value, dict) or value.get("resourceType") != "QuestionnaireResponse":
            reader.problem(node.path, "expected a FHIR QuestionnaireResponse", IssueCode.STRUCTURE)
            reader.fail()

    def check_header(self, reader: Reader, qr: Node) -> None:
        """The response answers this form's Questionnaire and is finished."""
        canonical = reader.string(reader.required(qr.child("questionnaire"), qr, "questionnaire"))
        if canonical is not None:
            url, _, version = canonical.partition("|")
            if url != self.url:
                reader.problem(
                    f"{qr.path}.questionnaire", f"answers another questionnaire, not {self.url}"
                )
            elif version and self.version and version not in (self.version, *self.earlier_versions):
                reader.problem(
                    f"{qr.path}.questionnaire",
                    f"unknown version {version} of the questionnaire; expected {self.version}",
                )
        status = reader.string(reader.required(qr.child("status"), qr, "status"))
        if status is not None and status not in FINISHED:
            reader.problem(
                f"{qr.path}.status", f"only a finished response ({', '.join(FINISHED)}) is read"
            )

    def read(self, reader: Reader, root: Node, out: JSON, origins: dict[str, str]) -> None:
        """Read the answers under ``root`` into ``out`` (the artefact, ``$``) by linkId.

        Problems go to ``reader``; ``origins`` gets, per artefact path, the FHIR location of
        the answer or group it came from.
        """
        _Reading(self.conventions, reader, origins).group(root, self.items, out, "$")


# --- the Questionnaire ---------------------------------------------------------------------


def _questionnaire_item(item: Item) -> JSON:
    built: JSON = {"linkId": item.link_id, "text": item.text, "type": item.kind}
    if item.match is not None:
        built["code"] = [coding(item.match[1])]
    if item.enable_when is not None:
        on, answer = item.enable_when
        built["enableWhen"] = [{"question": on, "operator": "=", "answerBoolean": answer}]
    if item.required:
        built["required"] = True
    if item.repeats:
        built["repeats"] = True
    if item.max_length is not None:
        built["maxLength"] = item.max_length
    if item.codes is not None:
        if item.listed:
            offered = item.options or tuple(item.codes)
            built["answerOption"] = [{"valueCoding": coding(code)} for code in offered]
        else:
            built["answerValueSet"] = value_set_url(item.codes)
    if item.external is not None:
        built["answerValueSet"] = item.external.value_set
    if item.items:
        built["item"] = [_questionnaire_item(child) for child in item.items]
    return built


# --- writing -------------------------------------------------------------------------------


def _get(data: Any, dotted: str) -> Any:
    """The value at a dotted field path (None when any step is missing)."""
    value = data
    for part in dotted.split(".") if dotted else []:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _elements(item: Item, data: Mapping[str, Any]) -> list[Any]:
    """The objects a group answers for."""
    if item.match is not None:
        key, code = item.match
        return [e for e in _get(data, item.field) or [] if e.get(key) == code]
    if not item.field:
        return [data]
    value = _get(data, item.field)
    if item.repeats:
        return list(value or [])
    return [value] if value is not None else []


def _response_items(items: tuple[Item, ...], data: Mapping[str, Any]) -> list[JSON]:
    answered: list[JSON] = []
    for item in items:
        if item.kind == "group":
            for element in _elements(item, data):
                children = _response_items(item.items, element)
                if children:
                    answered.append({"linkId": item.link_id, "text": item.text, "item": children})
            continue
        value = _get(data, item.field)
        values = (value or []) if item.repeats else [value]
        answers = [item.answer(v) for v in values if v is not None]
        if answers:
            answered.append({"linkId": item.link_id, "text": item.text, "answer": answers})
    return answered


# --- reading -------------------------------------------------------------------------------


def _put(data: JSON, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


@dataclass
class _Reading:
    """Reads answers by linkId into artefact fields, noting where each field came from."""

    conventions: Conventions
    reader: Reader
    origins: dict[str, str]

    def group(self, parent: Node, items: tuple[Item, ...], out: JSON, at: str) -> None:
        """Fill ``out`` (the object at artefact path ``at``) from the items under ``parent``."""
        found = self._by_link_id(parent, items)
        for item in items:
            nodes = found.get(item.link_id, [])
            if not nodes:
                if item.required:
                    self.reader.problem(
                        f"{parent.path}.item",
                        f"no item '{item.link_id}' ({item.text})",
                        IssueCode.REQUIRED,
                    )
                continue
            # only a repeating group repeats its item; a repeating question repeats its answers
            if len(nodes) > 1 and not (item.kind == "group" and item.repeats):
                self.reader.problem(
                    nodes[1].path,
                    f"item '{item.link_id}' appears more than once",
                    IssueCode.STRUCTURE,
                )
                nodes = nodes[:1]
            if item.kind == "group":
                self._subgroups(nodes, item, out, at)
            else:
                self._question(nodes[0], item, out, at)

    def _by_link_id(self, parent: Node, items: tuple[Item, ...]) -> dict[str, list[Node]]:
        known = {i.link_id for i in items}
        found: dict[str, list[Node]] = {}
        for child in parent.items("item"):
            link = child.value.get("linkId") if isinstance(child.value, dict) else None
            if isinstance(link, str) and link in known:
                found.setdefault(link, []).append(child)
            elif self.conventions.unknown != "ignore":
                where = f"{child.path}.linkId" if self.conventions.unknown == "linkId" else ""
                self.reader.problem(
                    where or child.path,
                    "linkId not in this group of the Questionnaire",
                    IssueCode.STRUCTURE,
                )
        return found

    def _subgroups(self, nodes: list[Node], item: Item, out: JSON, at: str) -> None:
        """Fill the object (a repeating group: the list of objects) of a group."""
        if item.match is not None:
            key, code = item.match
            elements: list[JSON] = out.setdefault(item.field, [])
            where = f"{at}.{item.field}[{len(elements)}]"
            self.origins[where] = nodes[0].path
            elements.append({key: code})
            self.group(nodes[0], item.items, elements[-1], where)
            return
        if not item.field:
            self.group(nodes[0], item.items, out, at)
            return
        here = f"{at}.{item.field}"
        objects: list[JSON] = []
        for i, node in enumerate(nodes):
            where = f"{here}[{i}]" if item.repeats else here
            self.origins[where] = node.path
            objects.append({})
            self.group(node, item.items, objects[-1], where)
        _put(out, item.field, objects if item.repeats else objects[0])

    def _question(self, node: Node, item: Item, out: JSON, at: str) -> None:
        """Read the answer(s) of a question into its field."""
        answers = node.items("answer")
        if not answers:
            if item.required:
                self.reader.problem(
                    f"{node.path}.answer", f"'{item.link_id}' needs an answer", IssueCode.REQUIRED
                )
            return
        if len(answers) > 1 and not item.repeats:
            self.reader.problem(
                answers[1].path, f"'{item.link_id}' takes one answer", IssueCode.STRUCTURE
            )
            answers = answers[:1]
        here = f"{at}.{item.field}"
        values = []
        for i, answer in enumerate(answers):
            found = self._value(answer, item)
            if found is None:
                continue  # the problem is recorded, so the artefact will not be built
            value, where = found
            field_at = f"{here}[{i}]" if item.repeats else here
            self.origins[field_at] = where
            if item.kind == "open-choice" and isinstance(value, dict):
                # a wrong code is the code's fault, not the whole answer's
                self.origins[f"{field_at}.snomed_code"] = f"{answer.path}.valueCoding.code"
            values.append(value)
        if values:
            _put(out, item.field, values if item.repeats else values[0])

    def _value(self, answer: Node, item: Item) -> tuple[Any, str] | None:
        """One answer's value (a code member for a choice) and its location, or a problem."""
        reader, key = self.reader, ANSWER_KEYS[item.kind]
        given = answer.value if isinstance(answer.value, dict) else {}
        if item.kind == "open-choice" and "valueString" in given:
            key = "valueString"
        at_value = f"{answer.path}.{key}"
        misfit_at = at_value if self.conventions.at_value else answer.path
        if key not in given:
            others = sorted(k for k in given if k.startswith("value"))
            if others:
                wanted = f"{key} or valueString" if item.kind == "open-choice" else key
                reader.problem(
                    misfit_at,
                    f"'{item.link_id}' is a {item.kind} question: expected {wanted}, "
                    f"found {others[0]}",
                    self.conventions.misfit,
                )
            else:
                reader.problem(misfit_at, f"expected an answer with {key}", IssueCode.REQUIRED)
            return None
        value = given[key]
        if not isinstance(value, _JSON_TYPES[key]):
            reader.problem(misfit_at, f"expected a {item.kind} ({key})", self.conventions.misfit)
            return None
        where = misfit_at
        if item.kind == "open-choice":
            return self._open_choice(item, value, at_value, where)
        if item.external is not None:
            if value.get("system") != item.external.system:
                reader.problem(
                    f"{at_value}.system", f"expected the code system {item.external.system}"
                )
            coded = Node(value, at_value)
            code = reader.string(reader.required(coded.child("code"), coded, "code"))
            return (code, where) if code is not None else None
        if item.codes is not None:
            member = reader.code(answer, item.codes)
            if member is None:
                return None
            if item.options and member not in item.options:
                reader.problem(
                    f"{at_value}.code",
                    "not one of this question's answer options: "
                    + ", ".join(o.value for o in item.options),
                    IssueCode.CODE_INVALID,
                )
                return None
            return member, where
        if item.kind == "date" and not _FULL_DATE.match(value):
            reader.problem(at_value, "expected a full date (YYYY-MM-DD)")
            return None
        return value, where

    def _open_choice(
        self, item: Item, value: Any, at_value: str, where: str
    ) -> tuple[Any, str] | None:
        """A name (valueString) as it is, a coding as ``{"name": display, "snomed_code"}``."""
        if isinstance(value, str):
            return value, where
        reader, coded = self.reader, Node(value, at_value)
        system = item.external.system if item.external else None
        if value.get("system") != system:
            reader.problem(f"{at_value}.system", f"expected the code system {system}")
        code = reader.string(reader.required(coded.child("code"), coded, "code"))
        name = reader.string(reader.required(coded.child("display"), coded, "display"))
        if code is None or name is None:
            return None
        return {"name": name, "snomed_code": code}, where
