"""The validation chain: artefact and (in later stages) FHIR, CP-IS and HL7 v2 input.

Every stage returns ``interop.issues.Issue`` objects; ``validate_paths`` checks files and
folders and reports per file. Installed as ``interop.validators``.
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
