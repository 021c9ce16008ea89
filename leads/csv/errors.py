"""What the import says when a file or a row cannot be imported (tests assert these texts).

A problem with the file as a whole raises ``CSVFileError``; a row's problems are ``rows.RowError``
values that name the line, the column and what to fix. The status rules a row must satisfy
(processing cannot arrive, a next attempt only for a scheduled lead) are the lifecycle's, with
their messages (``leads.lifecycle``).
"""

from __future__ import annotations


class CSVFileError(Exception):
    """The file as a whole cannot be imported (not CSV, empty, a bad header, an unknown campaign)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


E_FILE_EMPTY = "The file is empty: it needs a header row (phone, campaign, status, …) and one row per lead."
E_FILE_HEADER_ONLY = "The file has a header row but no leads: add one row per lead under the header."
E_FILE_BINARY = (
    "This is not a CSV file (it contains binary data): save it from your spreadsheet as "
    "“CSV UTF-8 (comma delimited)” and upload that."
)
E_FILE_UTF16 = "The file is UTF-16 text: save it as “CSV UTF-8 (comma delimited)” and upload that."
E_FILE_NOT_UTF8 = (
    "Line {line} is not UTF-8 text: save the file as “CSV UTF-8 (comma delimited)” and upload it again."
)
E_FILE_NUL = (
    "Line {line} contains a NUL byte (binary data, not text): remove it, or save the file again as "
    "“CSV UTF-8 (comma delimited)”, and upload it again."
)
E_FILE_CSV = "Line {line} cannot be read as CSV ({error}): check its quotes."
E_NO_PHONE_COLUMN = (
    "The header has no phone column: name the column with the numbers phone "
    "(phone_number, number, contact_number and to_number work too)."
)
E_NO_CAMPAIGN = (
    "The file has no campaign column: add one with each lead's campaign name, or choose the campaign "
    "for the whole file."
)
E_DUPLICATE_COLUMN = "Columns {first} and {second} both mean {name!r}: keep one of them."
E_BAD_COLUMN = (
    "Column {name!r} is not a variable name: rename it with letters, digits and underscores "
    "(for example {suggestion})."
)
E_TOO_MANY_VARIABLE_COLUMNS = (
    "The file has {count} variable columns{whose}, but a lead carries at most {limit} variables "
    "(the LEADMGR_MAX_VARIABLES_PER_LEAD setting): remove the columns you do not need."
)
E_BAD_SECONDARY_COLUMN = (
    "Column {name!r} is not a secondary-contact column: use secondary_N_phone and "
    "secondary_N_<variable> (N = 1, 2, …)."
)
E_SECONDARY_WITHOUT_PHONE_COLUMN = (
    "Column {name!r} is for secondary contact {n}, but the header has no secondary_{n}_phone column."
)
E_CAMPAIGN_UNKNOWN = "Campaign {name!r} does not exist: use the exact name of an existing campaign."
E_CAMPAIGN_EMPTY = "No campaign: enter the campaign's name, or choose a campaign for the whole file."
E_CAMPAIGN_OTHER = (
    "This row is for campaign {name!r} but the import is into {chosen!r}: clear the cell or import it "
    "separately."
)
E_STATUS_UNKNOWN = "{value!r} is not a status: use one of {choices} (or leave it empty for created)."
E_NEXT_AT_INVALID = (
    "{value!r} is not an ISO 8601 date and time: write it like 2026-05-01T14:30:00+00:00 (or leave it empty)."
)
E_DUPLICATE_IN_FILE = "{phone} is already on line {line} for campaign {campaign!r}: keep one row per lead."
E_CONTACT_VARS_WITHOUT_PHONE = (
    "Secondary contact {n} has variables but no phone: fill in secondary_{n}_phone or clear its cells."
)
E_TOO_MANY_CELLS = (
    "This row has {cells} cells but the header has {columns}: a value with a comma needs double quotes."
)
E_UNNAMED_CELL = "Column {n} has no name in the header: name the column or clear this cell."
E_CHANGED_SINCE_PREVIEW = (
    "The leads changed since the preview ({previewed} previewed, {now} now): nothing was written; "
    "check the new preview and confirm again."
)

E_BAD_DELIMITER = "{value!r} is not a delimiter leadmgr reads: use , ; tab or |."
E_SAMPLE_ROW = (
    "This is the sample file's example row ({phone} is a number reserved for fiction): replace it "
    "with your own leads."
)
