"""The validation chain: syntax, structure, terminology, profiles, invariants, business rules.

``validate_paths`` checks files and folders of every format the toolkit reads (artefact JSON,
FHIR JSON/XML, CP-IS XML, HL7 v2 ER7) and reports per file; ``chain`` holds the stages, each
usable alone (``structure_stage``, ``terminology_stage``, ``profile_stage``,
``invariants_stage``, ``nhs_number_stage``, ``snomed_code_stage``) and ``validate_resource`` /
``validate_artefact`` that run them with a ``ValidationContext`` (implementation guides,
profiles, the day and the edition of Working Together the business rules are checked for).
``conformance`` runs the shipped fixtures against their manifest; ``reports`` writes
OperationOutcomes, JUnit XML and HTML. Every stage returns ``interop.issues.Issue`` objects.
Installed as ``interop.validators``.
"""

from interop.issues import Issue, IssueCode, Severity
from interop.validators.chain import ValidationContext, validate_artefact, validate_resource
from interop.validators.files import FileReport, collect_files, validate_file, validate_paths

__all__ = [
    "FileReport",
    "Issue",
    "IssueCode",
    "Severity",
    "ValidationContext",
    "chain",
    "collect_files",
    "conformance",
    "files",
    "reports",
    "rules_across",
    "validate_artefact",
    "validate_file",
    "validate_paths",
    "validate_resource",
]
