"""Conformance resources by canonical URL: the knowledge the profile and terminology stages use.

A ``ConformanceRegistry`` holds StructureDefinitions, ValueSets and CodeSystems (any other
resource type is ignored) by canonical URL and by ``url|version``. Sources compose like HAPI's
validation support chain: ``ConformanceRegistry.toolkit()`` is the toolkit's own ``profiles/``,
``load_folder`` adds an implementation guide (JSON and XML, recursively; an unpacked FHIR
package's ``package/`` folder included), ``load_package`` one distributed as a FHIR NPM
package (``.tgz``), and ``combine`` puts
registries together, the first one that knows a URL winning::

    registry = ConformanceRegistry.toolkit().with_folders(["../shared/ukcore"])
    registry.load_issues  # the files that could not be read, as warnings

A file that cannot be read becomes a warning ``Issue`` located at its path, never a crash.
FHIR XML is read with ``interop.fhir.wire.read_fhir_xml`` (DTDs refused, size-limited); only a
file whose root element is a conformance resource is read in full, so an IG's examples cost a
glance. An ElementDefinition's ``id`` names its slice (``Patient.identifier:nhsNumber.system``);
where a file has none they are inferred from the order of the differential (``element_ids``).
The registry also keeps what the stages compile from it (``memo``), dropped whenever a resource
is added, so a profile is compiled once per registry.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterable, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

from lxml import etree

from interop.fhir.wire import FHIR_NS, MAX_XML_BYTES, FhirInputError, read_fhir_xml
from interop.issues import DTD_DECLARATION, Issue, IssueCode, Severity
from interop.safe_json import JsonInputError, JsonLimits, parse_json
from interop.validators.constraint import Constraint

JSON = dict[str, Any]

#: the resource types a registry keeps; the others in an IG folder (examples...) are skipped
CONFORMANCE_TYPES = ("StructureDefinition", "ValueSet", "CodeSystem")
#: files of a FHIR package that are not resources
_NOT_RESOURCES = frozenset({"package.json", ".index.json", "package-lock.json"})
_PEEK_BYTES = 64 * 1024
#: the most a FHIR package may hold uncompressed (UK Core is ~40 MB; R4 core ~150 MB)
_MAX_PACKAGE_BYTES = 1024 * 1024 * 1024
#: the bounds ``interop.fhir.wire`` puts on FHIR JSON
_JSON_LIMITS = JsonLimits(max_bytes=MAX_XML_BYTES, max_depth=100)


class StageContext(Protocol):
    """What the profile and terminology stages need from the validation chain's context."""

    @property
    def registry(self) -> ConformanceRegistry:
        """The conformance resources to validate against."""
        ...

    @property
    def profiles(self) -> tuple[str, ...]:
        """Profiles the caller names (``--profile``), beside each resource's ``meta.profile``."""
        ...


class ConformanceRegistry:
    """StructureDefinitions, ValueSets and CodeSystems by canonical URL (and ``url|version``)."""

    def __init__(self, name: str = "registry") -> None:
        self.name = name
        #: resources by url and url|version; a Path is an XML file indexed but not read yet
        self._by_type: dict[str, dict[str, JSON | Path]] = {t: {} for t in CONFORMANCE_TYPES}
        #: what loading reported (files that could not be read), in loading order
        self.load_issues: list[Issue] = []
        #: derived knowledge (compiled profiles, expansions) keyed by its maker; see ``add``
        self.memo: dict[tuple[str, str], Any] = {}
        self._frozen = False

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def toolkit(cls) -> ConformanceRegistry:
        """The toolkit's own conformance resources (``interop.profiles``), read once per process.

        The returned registry is shared and frozen: combine it with others instead of adding.
        """
        return _toolkit_registry()

    @classmethod
    def combine(cls, *registries: ConformanceRegistry) -> ConformanceRegistry:
        """One registry knowing what each knows; for a URL in several, the first one wins."""
        merged = cls("+".join(r.name for r in registries))
        for registry in registries:
            for resource_type, resources in registry._by_type.items():
                target = merged._by_type[resource_type]
                for key, resource in resources.items():
                    target.setdefault(key, resource)
            merged.load_issues.extend(registry.load_issues)
        return merged

    def with_folders(self, folders: Iterable[str | Path]) -> ConformanceRegistry:
        """A new registry: this one plus each implementation guide folder (``--ig``), in order.

        What loading the folders reported is in the new registry's ``load_issues``.
        """
        registry = self.combine(self)
        for folder in folders:
            if Path(folder).is_file():
                registry.load_package(folder)
            else:
                registry.load_folder(folder)
        return registry

    def add(self, resource: JSON) -> bool:
        """Keep a conformance resource (by url and url|version); False when it is not one."""
        if self._frozen:
            raise RuntimeError(f"the {self.name} registry is shared; combine it with another")
        kept = self._by_type.get(str(resource.get("resourceType")))
        url = resource.get("url")
        if kept is None or not isinstance(url, str):
            return False
        kept.setdefault(url, resource)
        version = resource.get("version")
        if isinstance(version, str):
            kept.setdefault(f"{url}|{version}", resource)
        self.memo.clear()  # what was compiled may depend on what was missing
        return True

    def load_folder(self, folder: str | Path) -> list[Issue]:
        """Add every conformance resource under ``folder`` (JSON and FHIR XML, recursively).

        Returns (and records in ``load_issues``) a warning per file that cannot be read, or an
        error when the folder itself cannot be read.
        """
        root = Path(folder)
        if not root.is_dir():
            found = [
                Issue(
                    Severity.ERROR,
                    IssueCode.INVALID,
                    str(root),
                    "not a folder of conformance resources",
                )
            ]
            self.load_issues += found
            return found
        if self._frozen:
            raise RuntimeError(f"the {self.name} registry is shared; combine it with another")
        issues: list[Issue] = []
        for path in _resource_files(root):
            try:
                data = path.read_bytes()
                if path.suffix.lower() == ".json":
                    resource = _conformance_json(data)
                    if resource is not None:
                        self.add(resource)
                else:
                    self._index_xml(path, data)
            except FhirInputError as exc:
                issues.append(_unreadable(path, exc.issues))
            except OSError as exc:
                issues.append(_unreadable(path, exc.strerror or str(exc)))
        self.load_issues += issues
        return issues

    def load_package(self, tarball: str | Path) -> list[Issue]:
        """Add every conformance resource of a FHIR NPM package (``.tgz``), as NHS England and
        HL7 distribute implementation guides, read in place (nothing is extracted to disk).

        Only regular files under ``package/`` are read, each within the FHIR size limit and
        all within ``_MAX_PACKAGE_BYTES`` uncompressed, so a hostile archive (links, paths
        outside the package, a decompression bomb) is refused or cut short with an issue.
        """
        if self._frozen:
            raise RuntimeError(f"the {self.name} registry is shared; combine it with another")
        path = Path(tarball)
        issues: list[Issue] = []
        try:
            with tarfile.open(path, "r:*") as archive:
                total = 0
                for member in archive:
                    name = member.name
                    if not member.isfile() or not name.startswith("package/"):
                        continue
                    leaf = name.rpartition("/")[2]
                    if leaf in _NOT_RESOURCES or not leaf.lower().endswith((".json", ".xml")):
                        continue
                    where = Path(f"{path}!{name}")
                    if member.size > MAX_XML_BYTES or total + member.size > _MAX_PACKAGE_BYTES:
                        issues.append(_unreadable(where, "larger than the limit"))
                        continue
                    handle = archive.extractfile(member)
                    if handle is None:
                        continue
                    data = handle.read(MAX_XML_BYTES + 1)
                    total += len(data)
                    try:
                        if leaf.lower().endswith(".json"):
                            resource = _conformance_json(data)
                        else:
                            root_name, _, _ = _peek(data)
                            resource = _read_xml(data) if root_name is not None else None
                        if resource is not None:
                            self.add(resource)
                    except FhirInputError as exc:
                        issues.append(_unreadable(where, exc.issues))
        except (OSError, tarfile.TarError, EOFError) as exc:
            issues.append(
                Issue(
                    Severity.ERROR,
                    IssueCode.INVALID,
                    str(path),
                    f"not a readable FHIR package (.tgz): {exc}",
                )
            )
        self.load_issues += issues
        return issues

    def _index_xml(self, path: Path, data: bytes) -> None:
        """Note where an XML conformance resource is; it is read in full when first needed."""
        root_name, url, version = _peek(data)
        if root_name is None:
            return  # examples and other resources
        if root_name not in CONFORMANCE_TYPES or url is None:
            self.add(_read_xml(data))  # not well-formed, or no url: the full read says why
            return
        kept = self._by_type[root_name]
        kept.setdefault(url, path)
        if version is not None:
            kept.setdefault(f"{url}|{version}", path)
        self.memo.clear()

    def read_all(self) -> list[Issue]:
        """Read every indexed XML file now (they are otherwise read when first needed), and
        return what that reported: for a caller that wants every unreadable file up front."""
        before = len(self.load_issues)
        for resource_type in CONFORMANCE_TYPES:
            for url in self.urls(resource_type):
                self._get(resource_type, url)
        return self.load_issues[before:]

    def freeze(self) -> ConformanceRegistry:
        """Refuse further additions (for a registry shared between callers)."""
        self._frozen = True
        return self

    # -- reading ----------------------------------------------------------------------------

    def _get(self, resource_type: str, url: str) -> JSON | None:
        kept = self._by_type[resource_type]
        found = kept.get(url)
        if found is None and "|" in url:
            found = kept.get(url.partition("|")[0])
        if isinstance(found, Path):
            return self._read_indexed(kept, found)
        return found

    def _read_indexed(self, kept: dict[str, JSON | Path], path: Path) -> JSON | None:
        """Read an indexed XML file in full; a file that fails is dropped and reported."""
        keys = [key for key, value in kept.items() if value == path]
        try:
            resource: JSON | None = _read_xml(path.read_bytes())
        except FhirInputError as exc:
            self.load_issues.append(_unreadable(path, exc.issues))
            resource = None
        except OSError as exc:
            self.load_issues.append(_unreadable(path, exc.strerror or str(exc)))
            resource = None
        for key in keys:
            if resource is None:
                del kept[key]
            else:
                kept[key] = resource
        return resource

    def structure_definition(self, url: str) -> JSON | None:
        """The StructureDefinition of a canonical URL (``url|version`` falls back to ``url``)."""
        return self._get("StructureDefinition", url)

    def value_set(self, url: str) -> JSON | None:
        """The ValueSet of a canonical URL."""
        return self._get("ValueSet", url)

    def code_system(self, url: str) -> JSON | None:
        """The CodeSystem of a canonical URL."""
        return self._get("CodeSystem", url)

    def urls(self, resource_type: str) -> list[str]:
        """The canonical URLs (without versions) of one resource type, sorted."""
        return sorted(u for u in self._by_type[resource_type] if "|" not in u)

    def __len__(self) -> int:
        return sum(len(self.urls(t)) for t in CONFORMANCE_TYPES)

    def base_chain(self, url: str) -> list[JSON]:
        """A profile and the baseDefinitions above it that the registry has, nearest first."""
        chain: list[JSON] = []
        seen: set[str] = set()
        current: str | None = url
        while current and current not in seen:
            seen.add(current)
            definition = self.structure_definition(current)
            if definition is None:
                break
            chain.append(definition)
            base = definition.get("baseDefinition")
            current = base if isinstance(base, str) else None
        return chain

    def constraints(self, url: str) -> list[Constraint]:
        """The invariants a profile and its available baseDefinitions declare (differentials).

        Constraints on an element inside a slice are left out: a slice has no element path
        that would select only its members.
        """
        found: list[Constraint] = []
        seen: set[tuple[str, str]] = set()
        for definition in self.base_chain(url):
            source = str(definition.get("url"))
            elements = _differential(definition)
            for element, element_id in zip(elements, element_ids(elements), strict=True):
                path = element.get("path")
                if not isinstance(path, str) or ":" in element_id:
                    continue
                for raw in element.get("constraint") or ():
                    key, expression = raw.get("key"), raw.get("expression")
                    if not isinstance(key, str) or not isinstance(expression, str):
                        continue
                    if (key, path) in seen:
                        continue
                    seen.add((key, path))
                    severity = (
                        Severity.WARNING if raw.get("severity") == "warning" else Severity.ERROR
                    )
                    found.append(
                        Constraint(
                            key=key,
                            severity=severity,
                            human=str(raw.get("human", key)),
                            expression=expression,
                            path=path,
                            source=str(raw.get("source") or source),
                        )
                    )
        return found


def _differential(definition: JSON) -> list[JSON]:
    differential = definition.get("differential")
    elements = differential.get("element") if isinstance(differential, dict) else None
    return [e for e in elements or () if isinstance(e, dict)]


@cache
def _toolkit_registry() -> ConformanceRegistry:
    registry = ConformanceRegistry("toolkit")
    root = files("interop.profiles")
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json") or entry.name in _NOT_RESOURCES:
            continue
        try:
            resource = _conformance_json(entry.read_bytes())
        except FhirInputError as exc:  # a packaging fault, reported rather than raised
            registry.load_issues.append(_unreadable(Path(entry.name), exc.issues))
            continue
        if resource is not None:
            registry.add(resource)
    return registry.freeze()


def _unreadable(path: Path, why: str | list[Issue]) -> Issue:
    if not isinstance(why, str):
        why = "; ".join(i.describe() for i in why[:3])
    return Issue(Severity.WARNING, IssueCode.INVALID, str(path), f"file skipped: {why}")


def _resource_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):  # os.walk does not follow symlinked folders
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name in _NOT_RESOURCES or name.startswith("."):
                continue
            if name.lower().endswith((".json", ".xml")):
                found.append(Path(folder) / name)
    return found


def _read_xml(data: bytes) -> JSON:
    """A conformance resource from FHIR XML."""
    return read_fhir_xml(data)


def _conformance_json(data: bytes) -> JSON | None:
    """A conformance resource from JSON; None for any other JSON (examples, data files)."""
    try:
        value = parse_json(data, _JSON_LIMITS)
    except JsonInputError as exc:
        raise FhirInputError([exc.issue]) from None
    if isinstance(value, dict) and value.get("resourceType") in CONFORMANCE_TYPES:
        return value
    return None


def _hardened_parser(**kwargs: Any) -> Any:
    settings = {"resolve_entities": False, "no_network": True, "load_dtd": False}
    return settings | kwargs


#: elements that follow url and version in every conformance resource: the peek stops there
_AFTER_VERSION = frozenset({"name", "title", "status", "differential", "compose", "concept"})


def _peek(data: bytes) -> tuple[str | None, str | None, str | None]:
    """A FHIR XML document's root element name (None for a resource that is not a conformance
    resource, "" for a document that is not well-formed), ``url`` and ``version``, reading only
    as far as they are."""
    if DTD_DECLARATION.search(data):
        raise FhirInputError(
            [
                Issue(
                    Severity.ERROR,
                    IssueCode.INVALID,
                    "",
                    "a document type declaration (DTD) is not allowed",
                )
            ]
        )
    parser = etree.XMLPullParser(events=("start",), **_hardened_parser())
    root: Any = None
    root_name = url = version = None
    try:
        for start in range(0, len(data), _PEEK_BYTES):
            parser.feed(data[start : start + _PEEK_BYTES])
            for _, element in parser.read_events():
                name = etree.QName(element)
                if root is None:
                    root, root_name = element, name.localname
                    if name.namespace != FHIR_NS or root_name not in CONFORMANCE_TYPES:
                        return None, None, None
                elif element.getparent() is root and name.namespace == FHIR_NS:
                    if name.localname == "url":
                        url = element.get("value")
                    elif name.localname == "version":
                        version = element.get("value")
                    elif name.localname in _AFTER_VERSION:
                        return root_name, url, version
    except etree.XMLSyntaxError:
        return "", None, None  # not well-formed: for the full reader to locate
    return root_name, url, version


def element_ids(elements: Sequence[JSON]) -> list[str]:
    """Each element's id, inferred from the order of paths and slice names where it is absent.

    Differentials list a slice's own elements right after the slice, so the nearest earlier
    element whose path is an ancestor supplies the slice names of the id's prefix.
    """
    ids: list[str] = []
    stack: list[tuple[str, str]] = []  # (path, id) of the elements that may be ancestors
    for element in elements:
        path = str(element.get("path", ""))
        given = element.get("id")
        while stack and not (path.startswith(stack[-1][0] + ".") or path == stack[-1][0]):
            stack.pop()
        if stack and path == stack[-1][0]:
            stack.pop()  # a sibling slice of the element on top, not its child
        if isinstance(given, str) and given:
            element_id = given
        else:
            parent_path, parent_id = stack[-1] if stack else ("", "")
            element_id = parent_id + path[len(parent_path) :] if parent_id else path
            slice_name = element.get("sliceName")
            if isinstance(slice_name, str) and slice_name:
                element_id += f":{slice_name}"
        ids.append(element_id)
        stack.append((path, element_id))
    return ids
