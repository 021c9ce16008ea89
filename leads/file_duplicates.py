"""Which (campaign, phone) pairs a file has had so far, and on which line, in bounded memory.

An import reports a row whose phone an earlier row of the same file already has in the same
campaign, naming that earlier line, whether or not anything is written (a dry run, a strict import
that stopped writing at its first rejected row). A dict of every pair grows with the file (about
200 bytes a row: 200 MB at a million rows), so the pairs go to a private temporary SQLite database
whose primary key answers "seen, and where?" with a bounded page cache; a Bloom filter in front
answers "never seen" (nearly every row) without asking it, and the newest pairs wait in a small
dict to be written in batches.
"""

from __future__ import annotations

from leadmgr.storage.scratch import ScratchConnection, open_scratch

Key = tuple[int, str]

PENDING = 20_000  # pairs written to the database at once
FIRST_BITS = 1 << 23  # the first filter's bits (1 MB); each further filter doubles
BITS_PER_KEY = 16  # about 0.05% false positives with 3 probes; a false one costs one query
CACHE_KB = 8_192  # the database's page cache: what it keeps in memory before spilling to disk


class _Bloom:
    __slots__ = ("bits", "mask", "capacity", "count")

    def __init__(self, size: int):
        self.bits = bytearray(size >> 3)
        self.mask = size - 1
        self.capacity = size // BITS_PER_KEY
        self.count = 0


def _probes(key: Key) -> tuple[int, int, int]:
    """Three probe positions (before masking) from one 64-bit hash, by double hashing. hash() of a
    tuple is quick (C) and stable within the process; the multiplication spreads its bits."""
    h = (hash(key) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    h1, h2 = h & 0xFFFFFFFF, (h >> 32) | 1
    return h1, h1 + h2, h1 + 2 * h2


class FileDuplicates:
    """``first_line(key, line)``: the line an earlier row had ``key`` on, or None (and remember it)."""

    def __init__(self) -> None:
        self.filters = [_Bloom(FIRST_BITS)]
        self.pending: dict[Key, int] = {}
        self.db: ScratchConnection | None = None

    def first_line(self, key: Key, line: int) -> int | None:
        p0, p1, p2 = _probes(key)
        for bloom in self.filters:  # one filter up to ~500k pairs; a new one each time it fills
            bits, mask = bloom.bits, bloom.mask
            a, b, c = p0 & mask, p1 & mask, p2 & mask
            if bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1 and bits[c >> 3] >> (c & 7) & 1:
                first = self._lookup(key)
                if first is not None:
                    return first
                break  # a false positive: new after all
        newest = self.filters[-1]
        if newest.count >= newest.capacity:
            newest = _Bloom((newest.mask + 1) * 2)
            self.filters.append(newest)
        bits, mask = newest.bits, newest.mask
        for p in (p0 & mask, p1 & mask, p2 & mask):
            bits[p >> 3] |= 1 << (p & 7)
        newest.count += 1
        self.pending[key] = line
        if len(self.pending) >= PENDING:
            self._flush()
        return None

    def _lookup(self, key: Key) -> int | None:
        first = self.pending.get(key)
        if first is None and self.db is not None:
            found = self.db.execute("SELECT line FROM seen WHERE campaign = ? AND phone = ?", key).fetchone()
            first = found[0] if found else None
        return first

    def _flush(self) -> None:
        if self.db is None:
            self.db = open_scratch(cache_kb=CACHE_KB)
            self.db.execute(
                "CREATE TABLE seen (campaign INTEGER, phone TEXT, line INTEGER,"
                " PRIMARY KEY (campaign, phone)) WITHOUT ROWID"
            )
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT INTO seen (campaign, phone, line) VALUES (?, ?, ?)",
            # In key order: the primary key's b-tree is written page after page.
            [(c, p, line) for (c, p), line in sorted(self.pending.items())],
        )
        self.db.execute("COMMIT")
        self.pending.clear()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
        self.pending.clear()
