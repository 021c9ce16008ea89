"""Which variable names the leads (and their secondary contacts) of each campaign use: the columns
of an every-column export, known before its header without reading every lead.

The export promises that its file imports back into equal leads, so its header needs every name
any exported lead sets. Scanning the leads' JSON for them took 2.6 s at a million leads before the
first byte. Instead this keeps a small table of (campaign, lead or contact, name), derived data
like the search index (``textsearch``) and kept up to date the same way:

- ids only grow, and the table covers the leads and contacts up to a mark (``catch_up`` adds the
  names of newer ones in one statement each; the CSV import and the generator call it, inside
  their own transaction); an export reads the names of the few rows past the mark itself, so it
  never writes and never waits for an import's write lock;
- a changed lead or contact (its variables, or the lead's campaign) adds its names from a trigger
  (row by row, on updates only: inserts would pay it on every import row);
- a name nobody uses any more stays: the export then has an empty column, which imports as
  "not set". ``rebuild`` drops such names.

The answer for a set of leads is the names of the campaigns they are in: a superset of what the
set itself uses (an export filtered by status may carry a column all of whose cells are empty).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connections, transaction
from django.db.models import Q

from campaigns.models import Campaign
from leadmgr.storage import jsonkeys
from leadmgr.storage.jsonkeys import CONTACTS, COUNTS, LEAD, LEADS, STATE, TABLE
from leadmgr.storage.pages import parent_scope_q

__all__ = [
    "COUNTS",
    "STATE",
    "TABLE",
    "campaigns_using_q",
    "catch_up",
    "ensure",
    "most_contacts",
    "names",
    "rebuild",
]

# The most contacts of the leads among ``{leads}`` (a subquery of lead ids), per campaign.
_MOST_CONTACTS = (
    f"SELECT l.campaign_id, MAX(c.n) FROM (SELECT lead_id, count(*) AS n FROM {CONTACTS} "
    f"WHERE lead_id IN ({{leads}}) GROUP BY lead_id) c JOIN {LEADS} l ON l.id = c.lead_id WHERE true "
    "GROUP BY l.campaign_id"
)


def _campaigns_where(campaign_ids: Iterable[int] | None) -> tuple[str | None, list[int]]:
    """The WHERE clause for these campaigns ("" for all of them, None for none at all)."""
    if campaign_ids is None:
        return "", []
    ids = sorted(set(campaign_ids))
    if not ids:
        return None, []
    return f"WHERE campaign_id IN ({', '.join(['%s'] * len(ids))})", ids


def names(campaign_ids: Iterable[int] | None, using: str = "default") -> tuple[set[str], set[str]]:
    """(lead variable names, contact variable names) used in these campaigns (None: all of them).
    Reads only: the stored names, plus those of the leads and contacts past the mark."""
    connection = connections[using]
    sql = jsonkeys.names_sql(connection)
    where, params = _campaigns_where(campaign_ids)
    if where is None:
        return set(), set()
    leads_new = f"{sql.lead_names} WHERE l.id > (SELECT leads_through FROM {STATE})"
    contacts_new = f"{sql.contact_names} WHERE c.id > (SELECT contacts_through FROM {STATE})"
    query = (
        f"SELECT DISTINCT contact, name FROM (SELECT campaign_id, contact, name FROM {TABLE} "
        f"UNION ALL {leads_new} UNION ALL {contacts_new}) t {where}"
    )
    lead_names, contact_names = set(), set()
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        for contact, name in cursor.fetchall():
            (contact_names if contact else lead_names).add(name)
    return lead_names, contact_names


def campaigns_using_q(name: str, using: str = "default") -> Q | None:
    """Leads of the campaigns whose leads use the variable ``name``: a superset of the leads that
    set it (the names stored, and those of the leads past the mark), which a filter on the variable
    adds. A first page of such a filter sorted by campaign then walks those campaigns only
    (``storage.pages.parent_scope_q``), not the first by name, which may have no such variable.

    The campaigns are read here, in a query of their own, and given as a list: as a subquery, the
    leads past the mark looked like a third of the table to PostgreSQL's planner, whose estimate
    then had it compile the page's query (JIT, 45 ms) for a plan that reads a few rows.
    None when no lead uses the name (the filter matches nothing)."""
    connection = connections[using]
    sql = jsonkeys.names_sql(connection)
    if sql is None:
        return Q()
    leads_new = f"{sql.lead_names} WHERE l.id > (SELECT leads_through FROM {STATE})"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, id IN (SELECT campaign_id FROM (SELECT campaign_id, contact, name FROM {TABLE} "
            f"UNION ALL {leads_new}) t WHERE contact = {LEAD} AND name = %s) FROM {Campaign._meta.db_table} "
            "ORDER BY id",
            [name],
        )
        campaigns = cursor.fetchall()
    ids = [campaign_id for campaign_id, uses in campaigns if uses]
    if not ids:
        return None  # no lead uses the name: nothing matches
    if len(ids) == len(campaigns):
        return Q()  # every campaign: no narrowing (and no condition for a planner to weigh)
    return parent_scope_q("campaign", ", ".join(["%s"] * len(ids)), ids)


def most_contacts(campaign_ids: Iterable[int] | None, using: str = "default") -> int:
    """The most secondary contacts a lead of these campaigns has (or had): the export's contact
    columns. Reads only: the stored counts, plus those of the leads with contacts past the mark."""
    connection = connections[using]
    where, params = _campaigns_where(campaign_ids)
    if where is None:
        return 0
    recent = _MOST_CONTACTS.format(
        leads=f"SELECT lead_id FROM {CONTACTS} WHERE id > (SELECT contacts_through FROM {STATE})"
    )
    # The same SQL on every database.
    sql = f"SELECT MAX(most) FROM (SELECT campaign_id, most FROM {COUNTS} UNION ALL {recent}) t {where}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0] or 0


def catch_up(using: str = "default") -> None:
    """Store the names of the leads and contacts added since the last call, and move the mark."""
    _catch_up(using, from_scratch=False)


def rebuild(using: str = "default") -> None:
    """Refill the table from the leads and contacts (dropping names nobody uses any more)."""
    _catch_up(using, from_scratch=True)


def _catch_up(using: str, *, from_scratch: bool) -> None:
    connection = connections[using]
    sql = jsonkeys.names_sql(connection)
    if sql is None:
        return
    with transaction.atomic(using), connection.cursor() as cursor:
        if from_scratch:
            cursor.execute(f"DELETE FROM {TABLE}")
            cursor.execute(f"DELETE FROM {COUNTS}")
            cursor.execute(f"DELETE FROM {STATE}")
            cursor.execute(f"INSERT INTO {STATE} VALUES (1, 0, 0)")
        cursor.execute(
            f"SELECT leads_through, contacts_through, (SELECT max(id) FROM {LEADS}), "
            f"(SELECT max(id) FROM {CONTACTS}) FROM {STATE}"
        )
        leads_mark, contacts_mark, newest_lead, newest_contact = cursor.fetchone()
        newest_lead, newest_contact = newest_lead or 0, newest_contact or 0
        if newest_lead > leads_mark:
            select = f"{sql.lead_names} WHERE l.id > %s"
            cursor.execute(sql.insert.format(table=TABLE, select=select), [leads_mark])
        if newest_contact > contacts_mark:
            select = f"{sql.contact_names} WHERE c.id > %s"
            cursor.execute(sql.insert.format(table=TABLE, select=select), [contacts_mark])
            select = _MOST_CONTACTS.format(leads=f"SELECT lead_id FROM {CONTACTS} WHERE id > %s")
            cursor.execute(sql.upsert_most.format(select=select), [contacts_mark])
        if newest_lead > leads_mark or newest_contact > contacts_mark:
            cursor.execute(
                f"UPDATE {STATE} SET leads_through = %s, contacts_through = %s",
                [max(leads_mark, newest_lead), max(contacts_mark, newest_contact)],
            )


def ensure(using: str = "default", verbosity: int = 1) -> None:
    """Install the table and triggers where they are missing (filling the table), after a migrate."""
    connection = connections[using]
    sql = jsonkeys.names_sql(connection)
    if sql is None:
        return
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    if not {LEADS, CONTACTS} <= tables:
        return  # migrated backwards past the leads
    with transaction.atomic(using), connection.cursor() as cursor:
        created = False
        for name, create in sql.tables.items():
            if name not in tables:
                cursor.execute(create)
                created = True
        jsonkeys.install_triggers(connection, cursor)
        cursor.execute(f"SELECT count(*) FROM {STATE}")
        fresh = created or not cursor.fetchone()[0]
        if not fresh:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {LEADS})")
            fresh = not cursor.fetchone()[0]  # after a flush: the names of the gone leads go too
    if fresh:
        if verbosity:
            print(f"  Filling the export's variable names ({TABLE}) from the leads…")
        rebuild(using)
