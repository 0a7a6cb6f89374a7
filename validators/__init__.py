"""Validation: files of every format, and the guidance's business rules.

``validate_paths`` checks files and folders (artefact JSON, FHIR JSON/XML, CP-IS XML) and
reports per file; ``business_rules`` checks the timescales of Working Together (T06-T11, in
working days over England and Wales bank holidays) on an artefact or across a child's
artefacts, not yet wired into ``interop validate``. Every stage returns
``interop.issues.Issue`` objects. Installed as ``interop.validators``.
"""

from interop.issues import Issue, IssueCode, Severity
from interop.validators.files import FileReport, collect_files, validate_file, validate_paths

__all__ = [
    "FileReport",
    "Issue",
    "IssueCode",
    "Severity",
    "collect_files",
    "validate_file",
    "validate_paths",
]
