"""Forms of the CSV pages: the upload's options and the export's filters and columns."""

from __future__ import annotations

from django import forms
from django.conf import settings

from campaigns.models import Campaign
from leadmgr.middleware import E_UPLOAD_TOO_LARGE, upload_limit_bytes

from .csv.columns import CORE_COLUMNS

SKIP, UPDATE = "skip", "update"


AUTO = ""
DELIMITER_CHOICES = [
    (AUTO, "Detect from the header"),
    (",", "Comma ,"),
    (";", "Semicolon ;"),
    ("tab", "Tab"),
    ("|", "Pipe |"),
]


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV or Excel file",
        help_text="A header row, then one row per lead: CSV (UTF-8) or an Excel workbook (.xlsx).",
    )
    delimiter = forms.ChoiceField(
        choices=DELIMITER_CHOICES,
        required=False,
        initial=AUTO,
        label="CSV delimiter",
        help_text="What separates the columns of a CSV file; Excel saves ; in many languages.",
    )
    sheet = forms.CharField(
        required=False,
        max_length=31,  # Excel's own limit for a sheet name
        label="Excel sheet",
        help_text="The sheet to read from an .xlsx file (default: the first).",
    )
    campaign = forms.ModelChoiceField(
        Campaign.objects.all(),
        required=False,
        empty_label="Each row's campaign column",
        help_text="The campaign for every row; rows naming another campaign are rejected.",
    )
    region = forms.CharField(
        required=False,
        max_length=2,
        label="Region for national numbers",
        help_text="e.g. US or GB; numbers written with a + and country code need none.",
    )
    duplicates = forms.ChoiceField(
        choices=[(SKIP, "Skip the row"), (UPDATE, "Update that lead's variables")],
        initial=SKIP,
        widget=forms.RadioSelect,
        label="A phone number already in the campaign",
    )
    skip_invalid = forms.BooleanField(
        required=False,
        label="Skip invalid rows",
        help_text="Import the valid rows and offer the invalid ones as a CSV to fix. "
        "Otherwise one invalid row means nothing is imported.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].initial = settings.LEADMGR_DEFAULT_REGION or ""
        self.fields["file"].help_text += f" At most {settings.LEADMGR_MAX_UPLOAD_MB} MB."

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > upload_limit_bytes():
            raise forms.ValidationError(E_UPLOAD_TOO_LARGE.format(limit=settings.LEADMGR_MAX_UPLOAD_MB))
        return upload


class ExportColumnsForm(forms.Form):
    columns = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every column (the file then imports back as it is). "
        "The phone number is always included.",
    )
    with_secondary = forms.BooleanField(required=False, label="Include secondary contacts")

    def __init__(self, *args, variable_names: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        names = [*CORE_COLUMNS, *(n for n in variable_names if n not in CORE_COLUMNS)]
        self.fields["columns"].choices = [(n, column_label(n)) for n in names]


# What people call the export's fixed columns; the page shows the header name beside it.
COLUMN_LABELS = {
    "id": "Lead id",
    "phone": "Phone number",
    "campaign": "Campaign",
    "status": "Status",
    "next_attempt_at": "Next attempt",
    "attempts": "Attempts",
    "created_at": "Created",
    "updated_at": "Last changed",
}


def column_label(name: str) -> str:
    """A column's name for people: ``customer_name`` reads "Customer name"."""
    return COLUMN_LABELS.get(name) or name.replace("_", " ").strip().capitalize() or name
