"""--ig takes an implementation guide as NHS England distributes it: a FHIR NPM package
(.tgz), or its unpacked folder (``package/package.json``), as well as a folder of resources."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from r4_package import ukcore

from interop.validators.registry import ConformanceRegistry

UK_PATIENT = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
UK_IMMUNIZATION = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Immunization"


def _package(folder: Path, target: Path) -> Path:
    """``folder``'s files as a FHIR NPM package: every file under ``package/``."""
    with tarfile.open(target, "w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.add(path, arcname=f"package/{path.relative_to(folder).as_posix()}")
    return target


def test_a_package_loads_what_its_folder_loads(tmp_path: Path) -> None:
    folder = ukcore()
    from_folder = ConformanceRegistry.toolkit().with_folders([folder])
    tarball = _package(folder, tmp_path / "ukcore.tgz")
    from_package = ConformanceRegistry.toolkit().with_folders([tarball])
    assert from_package.load_issues == []
    for kind in ("StructureDefinition", "ValueSet", "CodeSystem"):
        assert from_package.urls(kind) == from_folder.urls(kind)
    assert from_package.structure_definition(UK_PATIENT) is not None


def test_an_unpacked_package_folder_loads(tmp_path: Path) -> None:
    folder = ukcore()
    with tarfile.open(_package(folder, tmp_path / "p.tgz")) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    assert (tmp_path / "unpacked" / "package" / "package.json").is_file()
    registry = ConformanceRegistry.toolkit().with_folders([tmp_path / "unpacked"])
    assert registry.structure_definition(UK_PATIENT) is not None


def test_validate_takes_a_package(tmp_path: Path) -> None:
    folder = ukcore()
    tarball = _package(folder, tmp_path / "ukcore.tgz")
    example = folder / "examples" / "UKCore-Immunization-Sn-PatientConformVaccination-Example.xml"
    mutant = example.read_bytes().replace(b'<status value="completed"', b'<status value="banana"')
    assert mutant != example.read_bytes()
    (tmp_path / "p.xml").write_bytes(mutant)
    run = [str(Path(sys.executable).parent / "interop"), "validate", "--ig", str(tarball)]
    good = subprocess.run([*run, str(example)], capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = subprocess.run(
        [*run, "--profile", UK_IMMUNIZATION, str(tmp_path / "p.xml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "Immunization.status" in bad.stdout
    assert "banana" in bad.stdout


def _hostile(target: Path) -> Path:
    with tarfile.open(target, "w:gz") as archive:
        link = tarfile.TarInfo("package/link.json")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
        outside = b'{"resourceType": "ValueSet", "url": "http://x/outside"}'
        info = tarfile.TarInfo("../outside.json")
        info.size = len(outside)
        archive.addfile(info, io.BytesIO(outside))
        bad = b'{"resourceType": "ValueSet", "url": '
        info = tarfile.TarInfo("package/broken.json")
        info.size = len(bad)
        archive.addfile(info, io.BytesIO(bad))
    return target


def test_a_hostile_package_is_read_safely(tmp_path: Path) -> None:
    registry = ConformanceRegistry("x")
    issues = registry.load_package(_hostile(tmp_path / "h.tgz"))
    assert registry.urls("ValueSet") == []  # neither the link nor the file outside package/
    assert [i.location for i in issues] == [f"{tmp_path / 'h.tgz'}!package/broken.json"]
    assert not (tmp_path / "outside.json").exists()


@pytest.mark.parametrize("content", [b"not a tarball", b""])
def test_a_file_that_is_not_a_package_is_an_issue(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.tgz"
    path.write_bytes(content)
    registry = ConformanceRegistry("x")
    [issue] = registry.load_package(path)
    assert issue.is_error
    assert "not a readable FHIR package" in issue.message
