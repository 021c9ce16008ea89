"""templates/_table.html and _card_table.html: the small tables of the lead, campaign and webhook pages."""

from django.template import engines
from django.template.loader import render_to_string

# A row template of the test's own (include accepts a template as well as a name).
ROW = engines["django"].from_string('<tr data-n="{{ row.n }}"><td>{{ row.n }}</td></tr>')


def test_the_header_rows_and_ids_come_from_the_parameters():
    html = render_to_string(
        "_card_table.html",
        {
            "title": "Calls",
            "count_id": "n-calls",
            "table_id": "calls",
            "columns": "Lead|Number|",
            "rows": [{"n": 1}, {"n": 2}],
            "row_template": ROW,
            "empty": "No calls yet.",
        },
    )
    assert '<h2 class="h5">Calls <span class="badge text-bg-secondary" id="n-calls">2</span></h2>' in html
    assert '<table class="table table-sm small mb-0" id="calls">' in html
    assert "<thead><tr><th>Lead</th><th>Number</th><th></th></tr></thead>" in html
    assert html.count("<tr data-n=") == 2 and "No calls yet." not in html


def test_no_rows_is_one_muted_row_across_every_column():
    html = render_to_string(
        "_table.html",
        {"table_class": "table", "columns": "A|B|C", "rows": [], "row_template": ROW, "empty": "Nothing."},
    )
    assert '<table class="table">' in html and "id=" not in html
    assert '<tr><td colspan="3" class="text-body-secondary">Nothing.</td></tr>' in html
