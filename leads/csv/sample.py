"""A campaign's sample file: the contract's columns and its assistant's variables, with one
example row whose phone is reserved for fiction (an import refuses that row until it is replaced)."""

from __future__ import annotations

import csv
import io

from campaigns.models import Campaign

from .. import variables as lead_variables
from . import xlsx
from .columns import CAMPAIGN, PHONE, SAMPLE_PHONE, STATUS, neutralise


def sample_rows(campaign: Campaign) -> tuple[list[str], list[str]]:
    """The header and the one example row of a campaign's sample file (formula-safe cells)."""
    names = [v.name for v in lead_variables.definitions(campaign.assistant)]
    header = [PHONE, CAMPAIGN, STATUS, *names, "secondary_1_phone"]
    row = [SAMPLE_PHONE, neutralise(campaign.name), "created", *(f"example {n}" for n in names), ""]
    return header, row


def sample_csv(campaign: Campaign) -> str:
    """A small CSV to start from: the contract's columns and the campaign's assistant's variables."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(sample_rows(campaign))
    return buffer.getvalue()


def sample_xlsx(campaign: Campaign) -> bytes:
    """The same sample as an Excel workbook."""
    out = io.BytesIO()
    xlsx.write_xlsx(sample_rows(campaign), out)
    return out.getvalue()
