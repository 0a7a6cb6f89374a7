"""Each package says what it offers in ``__all__``, and nothing outside a package uses more.

``__all__`` of a package lists the names it re-exports and the submodules other packages may
import. A submodule not listed is private to its package: the test fails when code outside
the package imports it, so the public surface only grows on purpose. Read statically (``ast``),
so no heavy module is imported and lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the source folders and the package each installs as
FOLDERS = {
    "interop": "interop",
    "mappings": "interop.mappings",
    "validators": "interop.validators",
    "cli": "interop.cli",
    "profiles": "interop.profiles",
    "fixtures": "interop.fixtures",
}


def module_name(path: Path) -> str:
    folder, *rest = path.relative_to(ROOT).with_suffix("").parts
    parts = [FOLDERS[folder], *rest]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    return {
        module_name(path): path
        for folder in FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


@cache
def modules() -> dict[str, Path]:
    return source_files()


def packages() -> list[str]:
    return sorted(name for name, path in modules().items() if path.name == "__init__.py")


@cache
def exported(package: str) -> tuple[str, ...] | None:
    """The literal ``__all__`` of ``package``'s ``__init__.py`` (None when it has none)."""
    tree = ast.parse(modules()[package].read_text(encoding="utf-8"))
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            assert node.value is not None
            return tuple(ast.literal_eval(node.value))
    return None


def imports_of(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name) for every import in ``path``; name for ``from m import name``."""
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend((node.lineno, node.module, alias.name) for alias in node.names)
    return found


def crossings(importer: str, target: str) -> list[tuple[str, str]]:
    """(package, member) pairs that an import of ``target`` reaches into from outside."""
    parts = target.split(".")
    steps = []
    for depth in range(2, len(parts)):  # the root package ``interop`` offers all it holds
        package = ".".join(parts[:depth])
        if package in modules() and not (importer + ".").startswith(package + "."):
            steps.append((package, parts[depth]))
    return steps


@pytest.mark.parametrize("package", [p for p in packages() if p.count(".") >= 1])
def test_every_package_declares_what_it_offers(package: str) -> None:
    names = exported(package)
    assert names is not None, f"{package} has no __all__"
    assert len(names) == len(set(names)), f"{package}.__all__ names something twice"
    path = modules()[package]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = (
        {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        | {
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
        }
        | {
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name)
        }
    )
    for name in names:
        assert name in defined or f"{package}.{name}" in modules(), (
            f"{package}.__all__ names {name!r}, which is neither defined there nor a submodule"
        )


def private_imports(importer: str, path: Path) -> list[str]:
    """The imports in ``path`` (module ``importer``) of what a package does not offer."""
    problems = []
    for line, module, name in imports_of(path):
        if not module.startswith("interop."):
            continue
        steps = crossings(importer, module)
        is_package = module in modules() and modules()[module].stem == "__init__"
        # ``from package import name``: a name, or a submodule, the package must offer
        if name is not None and is_package and not (importer + ".").startswith(module + "."):
            steps.append((module, name))
        for package, member in steps:
            offered = exported(package)
            if offered is not None and member not in offered:
                problems.append(f"{path.name}:{line}: {package}.{member} is private")
    return problems


def test_no_package_is_entered_past_its_public_surface() -> None:
    """An import from outside a package names only what its ``__all__`` offers."""
    problems = [p for name, path in modules().items() for p in private_imports(name, path)]
    assert not problems, "\n".join(problems)


def test_the_rule_sees_a_private_import(tmp_path: Path) -> None:
    assert crossings("interop.cli.sync_cmd", "interop.sandbox.fhir_server.app") == [
        ("interop.sandbox", "fhir_server"),
        ("interop.sandbox.fhir_server", "app"),
    ]
    assert crossings("interop.sandbox.fhir_server.app", "interop.sandbox.fhir_server.store") == []
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from interop.attendance import wiring\n"
        "def f():\n"
        "    from interop.attendance.messages import x\n"
        "    from interop.fhir import xml_reader\n",
        encoding="utf-8",
    )
    assert imports_of(probe)[1] == (3, "interop.attendance.messages", "x")
    assert private_imports("interop.cli.probe", probe) == [
        "probe.py:3: interop.attendance.messages is private",
        "probe.py:4: interop.fhir.xml_reader is private",
    ]
    assert private_imports("interop.attendance.probe", probe) == [
        "probe.py:4: interop.fhir.xml_reader is private"
    ]
