"""The one phone-number normaliser: human input in, E.164 out, or an error naming the value."""

from __future__ import annotations

import re

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

E_PHONE_EMPTY = "Enter a phone number in international format, for example +14155551234."
E_PHONE_NEEDS_COUNTRY = (
    "{value!r} has no country code: write it in international format (for example +14155551234)."
)
E_PHONE_INVALID = "{value!r} is not a valid phone number: check the digits and the country code."
E_REGION_UNKNOWN = "{region!r} is not a known region code (try US, GB or DE)."

E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
# What a spreadsheet or a human may put around the digits; stripped before parsing.
_NOISE = " \t\r\n\u00a0'"


class InvalidPhone(ValidationError):
    """A phone number that cannot be normalised; its message names the value."""


def check_region(region: str | None) -> str | None:
    if not region:
        return None
    region = region.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidPhone(E_REGION_UNKNOWN.format(region=region), code="region")
    return region


def normalize_phone(value: object, region: str | None = None) -> str:
    """Return ``value`` as E.164, or raise InvalidPhone.

    International input (``+44 20 7946 0958``, ``0044 …`` is not assumed) always works; a national
    form needs ``region`` or the ``LEADMGR_DEFAULT_REGION`` setting.
    """
    text = "" if value is None else str(value).strip(_NOISE)
    if not text:
        raise InvalidPhone(E_PHONE_EMPTY, code="empty")
    region = (region or settings.LEADMGR_DEFAULT_REGION or "").upper() or None
    if not text.startswith("+") and not region and any(ch.isdigit() for ch in text):
        raise InvalidPhone(E_PHONE_NEEDS_COUNTRY.format(value=text), code="needs_country")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(E_PHONE_INVALID.format(value=text), code="invalid") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(E_PHONE_INVALID.format(value=text), code="invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_e164(value: str) -> bool:
    """A cheap shape check for values already stored (the database holds E.164 only)."""
    return bool(E164_RE.match(value))
