from __future__ import annotations

import pytest

from leads.phones import InvalidPhone, check_region, normalize_phone


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("+14155551234", "+14155551234"),
        ("+1 (415) 555-1234", "+14155551234"),
        ("+44 20 7946 0958", "+442079460958"),
        ("  +49 30 901820  ", "+4930901820"),
        ("'+14155551234", "+14155551234"),  # a spreadsheet's text prefix
    ],
)
def test_it_normalises_international_input_to_e164(raw, expected):
    assert normalize_phone(raw) == expected


def test_it_normalises_a_national_number_with_a_region():
    assert normalize_phone("(415) 555-1234", "US") == "+14155551234"
    assert normalize_phone("020 7946 0958", "gb") == "+442079460958"


def test_it_uses_the_default_region_setting(settings):
    settings.LEADMGR_DEFAULT_REGION = "US"
    assert normalize_phone("415-555-1234") == "+14155551234"


def test_it_refuses_a_national_number_without_a_region_and_says_to_add_the_country_code(settings):
    settings.LEADMGR_DEFAULT_REGION = None
    with pytest.raises(InvalidPhone) as exc:
        normalize_phone("(415) 555-1234")
    assert exc.value.messages == [
        "'(415) 555-1234' has no country code: write it in international format (for example +14155551234)."
    ]


@pytest.mark.parametrize("raw", ["+1 415 555", "+999 123 456 789", "call me", "+1415555123456789"])
def test_it_rejects_an_invalid_number_naming_the_value(raw):
    with pytest.raises(InvalidPhone) as exc:
        normalize_phone(raw)
    assert exc.value.messages == [
        f"{raw!r} is not a valid phone number: check the digits and the country code."
    ]


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_it_rejects_an_empty_number(raw):
    with pytest.raises(InvalidPhone) as exc:
        normalize_phone(raw)
    assert exc.value.code == "empty"


def test_it_checks_region_codes():
    assert check_region(" gb ") == "GB"
    assert check_region("") is None
    with pytest.raises(InvalidPhone, match="'XX' is not a known region code"):
        check_region("xx")
