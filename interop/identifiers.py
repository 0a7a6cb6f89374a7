"""NHS numbers, ODS codes and SNOMED CT concept ids: checking them, and saying *why* one is wrong.

The NHS number check digit arithmetic and the number ranges come from the ``nhs-number``
package; this module adds the reason a number fails, which users ask for and the package does
not give. Nothing here ever puts a full NHS number into an error message. A SNOMED CT concept
id is checked as the SNOMED CT Technical Implementation Guide defines an SCTID: digits, a
partition identifier saying it is a concept, and a Verhoeff check digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from nhs_number.constants import REGION_SCOTLAND
from nhs_number.details import NhsNumber as _NhsNumberDetails
from nhs_number.validate import calculate_checksum, is_valid
from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from interop.errors import InputError

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_ORGANISATION_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
ODS_SITE_SYSTEM = "https://fhir.nhs.uk/Id/ods-site-code"
SNOMED_SYSTEM = "http://snomed.info/sct"

#: The block NHS England reserves for synthetic and test patients (never issued to people).
TEST_BLOCK = (9_000_000_000, 9_999_999_999)

_SEPARATORS = re.compile(r"[ \-]")


class InvalidNhsNumber(InputError, ValueError):
    """An NHS number that fails; ``reason`` is a stable code, ``str()`` the explanation."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class NhsNumberInfo:
    """What is known about a valid NHS number."""

    number: str
    region: str
    is_test_number: bool


def check_nhs_number(value: object) -> str:
    """Return the 10-digit NHS number in ``value``, or raise ``InvalidNhsNumber`` saying why.

    Spaces and hyphens between digit groups are accepted ("943 476 5919", "943-476-5919").
    """
    if not isinstance(value, str):
        raise InvalidNhsNumber(
            "nhs_number_type", f"an NHS number must be a string, not {type(value).__name__}"
        )
    if len(value) == 10 and value.isdigit() and value.isascii():
        digits = value  # already bare digits, as in most exports: nothing to strip
    else:
        digits = _SEPARATORS.sub("", value.strip())
    if not digits:
        raise InvalidNhsNumber("nhs_number_empty", "the NHS number is empty")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidNhsNumber(
            "nhs_number_non_digit",
            "an NHS number has only digits (spaces or hyphens may separate groups)",
        )
    if len(digits) != 10:
        raise InvalidNhsNumber(
            "nhs_number_length", f"an NHS number has 10 digits; this one has {len(digits)}"
        )
    expected = calculate_checksum(digits[:9])
    if expected == 10:
        raise InvalidNhsNumber(
            "nhs_number_check_digit",
            "no valid NHS number starts with these nine digits (the modulus 11 check gives 10)",
        )
    if expected != int(digits[9]):
        raise InvalidNhsNumber(
            "nhs_number_check_digit",
            f"the check digit is {digits[9]} but the modulus 11 check of the first nine "
            f"digits gives {expected} (a digit is mistyped or two are swapped)",
        )
    in_chi_range: bool = REGION_SCOTLAND.contains_number(digits)  # type: ignore[no-untyped-call]
    if in_chi_range and not is_valid(digits):
        # Passes modulus 11 but the package still refuses it: a Scottish CHI number whose
        # first six digits are not a date of birth. Only a CHI number can be refused here, so
        # no other number pays for the package's second modulus 11 check (a national export
        # checks 150,000 numbers).
        raise InvalidNhsNumber(
            "nhs_number_range",
            "the number is in the Scottish CHI range but its first six digits are not a date",
        )
    return digits


def describe_nhs_number(number: str) -> NhsNumberInfo:
    """Region and test-block membership of a valid NHS number."""
    digits = check_nhs_number(number)
    details = _NhsNumberDetails(digits)  # type: ignore[no-untyped-call]
    return NhsNumberInfo(
        number=digits,
        region=str(details.region_comment),
        is_test_number=TEST_BLOCK[0] <= int(digits) <= TEST_BLOCK[1],
    )


def _pydantic_nhs_number(value: object) -> str:
    try:
        return check_nhs_number(value)
    except InvalidNhsNumber as exc:
        raise PydanticCustomError(
            exc.reason, "invalid NHS number: {why}", {"why": str(exc)}
        ) from None


#: A validated NHS number, normalised to 10 digits.
NhsNumber = Annotated[
    str,
    BeforeValidator(_pydantic_nhs_number),
    Field(
        description="NHS number: 10 digits with a valid modulus 11 check digit "
        f"(FHIR system {NHS_NUMBER_SYSTEM})",
        examples=["9434765919"],
        json_schema_extra={"pattern": r"^\d{3}[ -]?\d{3}[ -]?\d{4}$"},
    ),
]

# ODS codes: organisations have 3 to 6 characters (trusts RR8, practices A81001, LAs and
# other bodies alike); sites add up to 3 more (RR801). Mailbox-style codes stay within 10.
_ODS_CODE = re.compile(r"^[A-Z0-9]{3,10}$")


def check_ods_code(value: str) -> str:
    """Return the ODS code upper-cased, or raise ``ValueError`` saying why it is not one."""
    code = value.strip().upper()
    if not _ODS_CODE.fullmatch(code):
        raise ValueError(
            "an ODS code has 3 to 10 letters and digits (for example RR8, A81001 or RR801)"
        )
    return code


def _pydantic_ods_code(value: str) -> str:
    try:
        return check_ods_code(value)
    except ValueError as exc:
        raise PydanticCustomError("ods_code", str(exc)) from None


#: An ODS organisation or site code, upper-cased.
OdsCode = Annotated[
    str,
    AfterValidator(_pydantic_ods_code),
    Field(
        description=f"ODS code (FHIR system {ODS_ORGANISATION_SYSTEM} or {ODS_SITE_SYSTEM})",
        examples=["RR8", "A81001"],
    ),
]

# --- SNOMED CT concept ids --------------------------------------------------------------

# The Verhoeff scheme (dihedral group D5): it catches every single mistyped digit and every
# swap of two adjacent digits, the two mistakes people make copying a long id.
_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)

#: SCTID partition identifiers of a concept: short format (00) and long format, with a
#: namespace (10). 01/11 are descriptions, 02/12 relationships: not codes for a Coding.
_CONCEPT_PARTITIONS = ("00", "10")


def verhoeff_check_digit(payload: str) -> int:
    """The Verhoeff check digit to append to the digit string ``payload``."""
    check = 0
    for position, digit in enumerate(reversed(payload), start=1):
        check = _VERHOEFF_D[check][_VERHOEFF_P[position % 8][int(digit)]]
    return _VERHOEFF_INV[check]


class InvalidSnomedCode(InputError, ValueError):
    """A SNOMED CT concept id that fails; ``reason`` is a stable code, ``str()`` says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_snomed_concept_id(value: object) -> str:
    """Return ``value`` if it is a well-formed SNOMED CT concept id, or raise saying why.

    Well-formed: 6 to 18 digits, no leading zero, a concept partition identifier (00 or 10,
    the second and third digits from the end) and a valid Verhoeff check digit (the last).
    Whether the concept exists in a release needs a terminology server; this check needs none.
    """
    if not isinstance(value, str):
        raise InvalidSnomedCode(
            "snomed_type", f"a SNOMED CT concept id is a string, not {type(value).__name__}"
        )
    code = value.strip()
    if not code.isascii() or not code.isdigit():
        raise InvalidSnomedCode("snomed_non_digit", "a SNOMED CT concept id has only digits")
    if not 6 <= len(code) <= 18:
        raise InvalidSnomedCode(
            "snomed_length", f"a SNOMED CT concept id has 6 to 18 digits; this one has {len(code)}"
        )
    if code.startswith("0"):
        raise InvalidSnomedCode("snomed_leading_zero", "a SNOMED CT id never starts with 0")
    partition = code[-3:-1]
    if partition not in _CONCEPT_PARTITIONS:
        raise InvalidSnomedCode(
            "snomed_partition",
            f"the partition identifier (the 2nd and 3rd digits from the end) is {partition}, "
            "so this is not a concept id (a concept has 00 or 10; 01 or 11 is a description "
            "id, 02 or 12 a relationship id)",
        )
    expected = verhoeff_check_digit(code[:-1])
    if expected != int(code[-1]):
        raise InvalidSnomedCode(
            "snomed_check_digit",
            f"the check digit is {code[-1]} but the Verhoeff check of the other digits gives "
            f"{expected} (a digit is mistyped or two are swapped)",
        )
    return code


def _pydantic_snomed(value: object) -> str:
    try:
        return check_snomed_concept_id(value)
    except InvalidSnomedCode as exc:
        raise PydanticCustomError(
            exc.reason, "invalid SNOMED CT concept id: {why}", {"why": str(exc)}
        ) from None


#: A SNOMED CT concept id with a concept partition and a valid Verhoeff check digit.
SnomedConceptId = Annotated[
    str,
    BeforeValidator(_pydantic_snomed),
    Field(
        description="SNOMED CT concept id (FHIR system http://snomed.info/sct): 6 to 18 "
        "digits, partition identifier 00 or 10, a valid Verhoeff check digit",
        examples=["195967001"],
        json_schema_extra={"pattern": r"^[1-9]\d{2,14}[01]0\d$"},
    ),
]

__all__ = [
    "NHS_NUMBER_SYSTEM",
    "ODS_ORGANISATION_SYSTEM",
    "ODS_SITE_SYSTEM",
    "SNOMED_SYSTEM",
    "TEST_BLOCK",
    "InvalidNhsNumber",
    "InvalidSnomedCode",
    "NhsNumber",
    "NhsNumberInfo",
    "OdsCode",
    "SnomedConceptId",
    "check_nhs_number",
    "check_ods_code",
    "check_snomed_concept_id",
    "describe_nhs_number",
    "verhoeff_check_digit",
]
