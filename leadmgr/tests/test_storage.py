"""Small helpers of leadmgr.storage that carry logic of their own."""

from __future__ import annotations

import pytest
from django.db import connection

from leadmgr import storage
from leadmgr.storage.jsonkeys import json_text_spellings
from leadmgr.storage.scratch import open_scratch


@pytest.mark.parametrize(
    ("text", "spellings"),
    [
        ("Ada", ["Ada"]),
        ("Chloé", ["Chloé", "Chlo\\u00e9"]),
        ('say "hi"', ['say "hi"', 'say \\"hi\\"']),
    ],
)
def test_a_text_is_looked_for_as_it_is_and_as_json_escapes_it(text, spellings):
    assert json_text_spellings(text) == spellings


def test_text_no_database_stores_is_recognised_and_replaced():
    assert storage.is_storable_text("plain é 😀")
    assert not storage.is_storable_text("a\x00b")
    assert not storage.is_storable_text("a\ud800b")
    assert storage.storable_text("a\x00b\udfffc") == "a\ufffdb\ufffdc"


def test_the_helpers_name_the_database_in_use():
    assert storage.engine_name() == connection.vendor
    assert storage.is_sqlite() != storage.is_postgresql()
    assert storage.nulls_sort_first() == storage.is_sqlite()
    assert storage.deferred_join_on_every_page() == storage.is_postgresql()


def test_a_scratch_database_is_private_and_takes_explicit_transactions():
    first, second = open_scratch(cache_kb=64), open_scratch(cache_kb=64)
    try:
        first.execute("CREATE TABLE seen (k INTEGER PRIMARY KEY)")
        first.execute("BEGIN")
        first.executemany("INSERT INTO seen VALUES (?)", [(1,), (2,)])
        first.execute("COMMIT")
        assert first.execute("SELECT count(*) FROM seen").fetchone() == (2,)
        assert first.execute("PRAGMA cache_size").fetchone() == (-64,)
        tables = second.execute("SELECT name FROM sqlite_master").fetchall()
        assert tables == []  # the other connection's database is its own
    finally:
        first.close()
        second.close()


@pytest.mark.django_db
def test_among_matches_the_listed_values_in_one_parameter(django_assert_num_queries):
    from campaigns.models import Assistant
    from leadmgr.storage.membership import among

    names = ["plain", "it's quoted", 'a "double"', "ünïcode ✓", "comma, and [brackets]"]
    for name in [*names, "not listed"]:
        Assistant.objects.create(name=name)
    wanted = [*names, "absent", *(f"filler {i}" for i in range(3_000))]
    with django_assert_num_queries(1):
        found = set(Assistant.objects.filter(among("name", wanted)).values_list("name", flat=True))
    assert found == set(names)
    assert not Assistant.objects.filter(among("name", [])).exists()
    assert Assistant.objects.exclude(among("name", names)).get().name == "not listed"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's JIT")
def test_postgresql_connections_compile_no_query(db):
    # A filter the planner cannot estimate looked costly and had a short query JIT-compiled: 10 ms
    # compiling a 0.1 ms query, 45 ms on a leads page.
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
