"""NHS numbers, ODS codes and SNOMED CT concept ids: valid ones pass, wrong ones say why,
nothing leaks."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nhs_number.validate import is_valid
from strategies import SNOMED_CONCEPT_IDS

from interop.identifiers import (
    InvalidNhsNumber,
    InvalidSnomedCode,
    check_nhs_number,
    check_ods_code,
    check_snomed_concept_id,
    describe_nhs_number,
    verhoeff_check_digit,
)
from interop.privacy import mask_date_of_birth, mask_name, mask_nhs_number


def check_digit(first_nine: str) -> int:
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    return (11 - total % 11) % 11


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        ("9434765919", "9434765919"),
        ("943 476 5919", "9434765919"),
        ("943-476-5919", "9434765919"),
        ("  9000000009 ", "9000000009"),
    ],
)
def test_valid_numbers_are_normalised(given_value: str, expected: str) -> None:
    assert check_nhs_number(given_value) == expected


@pytest.mark.parametrize(
    ("bad", "reason", "says"),
    [
        ("9434765918", "nhs_number_check_digit", "check digit is 8"),
        ("943476591", "nhs_number_length", "this one has 9"),
        ("94347659190", "nhs_number_length", "this one has 11"),
        ("94347A5919", "nhs_number_non_digit", "only digits"),
        ("٩٤٣٤٧٦٥٩١٩", "nhs_number_non_digit", "only digits"),  # Arabic-Indic digits
        ("", "nhs_number_empty", "empty"),
        ("9000000000", "nhs_number_check_digit", "gives 9"),
        ("9000000051", "nhs_number_check_digit", "gives 10"),  # no valid number starts 900000005
    ],
)
def test_invalid_numbers_say_why(bad: str, reason: str, says: str) -> None:
    with pytest.raises(InvalidNhsNumber) as caught:
        check_nhs_number(bad)
    assert caught.value.reason == reason
    assert says in str(caught.value)
    if len(bad) >= 6:
        assert bad not in str(caught.value), "the message must not repeat the number"


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidNhsNumber) as caught:
        check_nhs_number(9434765919)
    assert caught.value.reason == "nhs_number_type"


@given(st.integers(min_value=900_000_000, max_value=999_999_999))
def test_exactly_the_computed_check_digit_passes(nine: int) -> None:
    first_nine = str(nine)
    digit = check_digit(first_nine)
    passing = []
    for candidate in range(10):
        with contextlib.suppress(InvalidNhsNumber):
            passing.append(check_nhs_number(f"{first_nine}{candidate}"))
    assert passing == ([] if digit == 10 else [f"{first_nine}{digit}"])


@given(st.integers(min_value=900_000_000, max_value=999_999_999), st.data())
def test_a_single_mistyped_digit_is_always_caught(nine: int, data: st.DataObject) -> None:
    first_nine = str(nine)
    digit = check_digit(first_nine)
    if digit == 10:
        return
    valid = f"{first_nine}{digit}"
    assert check_nhs_number(valid) == valid
    position = data.draw(st.integers(min_value=0, max_value=9))
    replacement = data.draw(st.sampled_from([d for d in "0123456789" if d != valid[position]]))
    typo = valid[:position] + replacement + valid[position + 1 :]
    with pytest.raises(InvalidNhsNumber):
        check_nhs_number(typo)


@given(
    st.one_of(
        st.integers(min_value=0, max_value=999_999_999).map(lambda n: f"{n:09d}"),
        # the Scottish CHI range, where the first six digits must be a date (DDMMYY)
        st.tuples(st.integers(1, 39), st.integers(0, 19), st.integers(0, 999)).map(
            lambda t: f"{t[0]:02d}{t[1]:02d}{t[2] % 100:02d}{t[2]:03d}"
        ),
    ),
    st.booleans(),
)
def test_the_chi_shortcut_accepts_exactly_what_the_nhs_number_package_does(
    nine: str, right_digit: bool
) -> None:
    # check_nhs_number asks nhs_number.is_valid only about CHI-range numbers (speed): for any
    # ten digits it must still accept exactly what the modulus 11 check and is_valid accept
    digit = check_digit(nine) % 10 if right_digit else (check_digit(nine) + 1) % 10
    digits = f"{nine}{digit}"
    expected = check_digit(nine) == digit and is_valid(digits)
    try:
        check_nhs_number(digits)
        accepted = True
    except InvalidNhsNumber:
        accepted = False
    assert accepted == expected


def test_test_block_is_recognised() -> None:
    assert describe_nhs_number("9434765919").is_test_number
    info = describe_nhs_number("4010232137")
    assert not info.is_test_number
    assert "England" in info.region


@pytest.mark.parametrize("code", ["RR8", "a81001", "RR801", " X26ABC1 "])
def test_ods_codes_are_upper_cased(code: str) -> None:
    assert check_ods_code(code) == code.strip().upper()


@pytest.mark.parametrize("code", ["R8", "RR8-01", "RR8 01", "ABCDEFGHIJK", ""])
def test_bad_ods_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError, match="ODS code"):
        check_ods_code(code)


def test_masks_keep_only_what_tells_records_apart() -> None:
    from datetime import date

    assert mask_nhs_number("9434765919") == "*** *** 5919"
    assert mask_nhs_number("12") == "*** *** ****"
    assert mask_name("Poppy", "Ashworth") == "P. A."
    assert mask_name(None, " ") == "?"
    assert mask_date_of_birth(date(2016, 4, 12)) == "2016-**-**"


# --- SNOMED CT concept ids -------------------------------------------------------------------

#: concept ids as SNOMED International and NHS England publish them: short format (partition
#: 00) of 8 and 9 digits, the 18-digit core module, and UK extension concepts (partition 10)
REAL_CONCEPTS = [
    "195967001",  # Asthma
    "46635009",  # Diabetes mellitus type 1
    "84757009",  # Epilepsy
    "13213009",  # Congenital heart disease
    "709044004",  # Chronic kidney disease
    "404684003",  # Clinical finding
    "138875005",  # SNOMED CT Concept (the root)
    "900000000000207008",  # SNOMED CT core module
    "1064311000000109",  # Child protection plan (UK extension)
    "764841000000100",  # Looked after child (UK extension)
]


@pytest.mark.parametrize("code", REAL_CONCEPTS)
def test_published_concept_ids_pass(code: str) -> None:
    assert check_snomed_concept_id(code) == code
    assert verhoeff_check_digit(code[:-1]) == int(code[-1])


@pytest.mark.parametrize(
    ("bad", "reason", "says"),
    [
        ("195967002", "snomed_check_digit", "the check digit is 2 but the Verhoeff check"),
        ("159967001", "snomed_check_digit", "two are swapped"),
        ("2148514019", "snomed_partition", "is 01, so this is not a concept id"),
        ("100022", "snomed_partition", "02 or 12 a relationship id"),
        ("12345", "snomed_length", "6 to 18 digits; this one has 5"),
        ("1" * 17 + "0001", "snomed_length", "this one has 21"),
        ("0195967001", "snomed_leading_zero", "never starts with 0"),
        ("19596700A", "snomed_non_digit", "only digits"),
        ("١٩٥٩٦٧٠٠١", "snomed_non_digit", "only digits"),  # Arabic-Indic digits are not codes
        ("", "snomed_non_digit", "only digits"),
    ],
)
def test_malformed_concept_ids_say_why(bad: str, reason: str, says: str) -> None:
    with pytest.raises(InvalidSnomedCode) as caught:
        check_snomed_concept_id(bad)
    assert caught.value.reason == reason
    assert says in str(caught.value)


def test_a_number_is_not_a_concept_id_string() -> None:
    with pytest.raises(InvalidSnomedCode) as caught:
        check_snomed_concept_id(195967001)
    assert caught.value.reason == "snomed_type"


@given(SNOMED_CONCEPT_IDS, st.data())
def test_a_single_mistyped_digit_of_a_concept_id_is_always_caught(
    code: str, data: st.DataObject
) -> None:
    assert check_snomed_concept_id(code) == code
    position = data.draw(st.integers(min_value=0, max_value=len(code) - 1))
    replacement = data.draw(st.sampled_from([d for d in "0123456789" if d != code[position]]))
    typo = code[:position] + replacement + code[position + 1 :]
    with pytest.raises(InvalidSnomedCode):
        check_snomed_concept_id(typo)


@given(SNOMED_CONCEPT_IDS, st.data())
def test_two_adjacent_digits_swapped_are_always_caught(code: str, data: st.DataObject) -> None:
    positions = [i for i in range(len(code) - 1) if code[i] != code[i + 1]]
    if not positions:
        return
    i = data.draw(st.sampled_from(positions))
    swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
    with pytest.raises(InvalidSnomedCode):
        check_snomed_concept_id(swapped)
