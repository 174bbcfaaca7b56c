"""article_keys: an article's band keys in one row, instead of one ``article_band`` row per key.

A feed harvest wrote ~62 ``article_band`` rows per article (each a table insert and an insert
into the ``(bucket, hash)`` lookup index) and looked the keys up with one indexed probe per key:
on ``bench/harvest.py`` those two were a third of the store's time. ``article_keys`` holds one
row per article (its keys packed: ``hashes`` int64 little-endian, ``bands`` one byte each) with
its date ``bucket`` and a write number ``seq``; the lookup runs on arrays each process keeps of
the buckets it works in, refreshed from the rows with a greater ``seq``
(``store.stories._KeyCache``).

Existing rows are packed per article, in band order, from ``article_band``; the hashes, bands and
buckets do not change, so no text is read again. They all get ``seq`` 1. ``article_band`` and its
delete trigger go; ``article_keys`` has a foreign key to ``article`` with ON DELETE CASCADE (its
primary key is the article id, so the cascade is one index probe). The downgrade unpacks the rows
into the 0005 table. Measured on SQLite, 50,000 articles (3.1 million band rows): upgrade 7.4 s,
downgrade 18 s.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = 256
#: Articles packed or unpacked per statement.
CHUNK = 2_000


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _keys_table() -> sa.Table:
    return op.create_table(
        "article_keys",
        sa.Column("article_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.Column("bands", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["article.id"], name=op.f("fk_article_keys_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_article_keys")),
    )


def _band_rows(conn: sa.Connection) -> Iterator[tuple[set[int], list[sa.Row]]]:
    """The ids of about :data:`CHUNK` articles at a time, in id order, and their ``article_band``
    rows ``(article_id, band, hash, bucket)`` in (article, band) order: the key range
    ``[first * 256, (last + 1) * 256)`` of the 0005 integer key (rows of no stored article,
    which its delete trigger leaves none of, are not read)."""
    last = 0
    while True:
        ids = conn.execute(sa.text("SELECT id FROM article WHERE id > :last ORDER BY id LIMIT :n"),
                           {"last": last, "n": CHUNK}).scalars().all()
        if not ids:
            return
        rows = list(conn.execute(sa.text(
            "SELECT article_id, band, hash, bucket FROM article_band "
            "WHERE id >= :lo AND id < :hi ORDER BY id"
        ), {"lo": ids[0] * SLOTS, "hi": (ids[-1] + 1) * SLOTS}))
        if rows:
            yield set(ids), rows
        last = ids[-1]


def upgrade() -> None:
    conn = op.get_bind()
    keys = _keys_table()
    for live, rows in _band_rows(conn):
        # Columns, then each article's run of rows cut out of them (rows are in article order).
        article = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        bands = np.fromiter((r[1] for r in rows), dtype=np.uint8, count=len(rows)).tobytes()
        hashes = np.fromiter((r[2] for r in rows), dtype="<i8", count=len(rows)).tobytes()
        starts = np.flatnonzero(np.r_[True, article[1:] != article[:-1]]).tolist()
        ends = [*starts[1:], len(rows)]
        out = [
            {"article_id": rows[a][0], "bucket": rows[a][3], "seq": 1,
             "hashes": hashes[8 * a:8 * b], "bands": bands[a:b]}
            for a, b in zip(starts, ends, strict=True) if rows[a][0] in live
        ]
        if out:
            conn.execute(keys.insert(), out)
    if _sqlite():
        op.execute("DROP TRIGGER IF EXISTS article_band_cascade")
    else:
        op.execute("DROP TRIGGER IF EXISTS article_band_cascade ON article")
        op.execute("DROP FUNCTION IF EXISTS article_band_cascade()")
    op.drop_index("ix_article_band_bucket_hash", table_name="article_band")
    op.drop_table("article_band")
    op.create_index("ix_article_keys_bucket_seq", "article_keys", ["bucket", "seq"])
    op.create_index("ix_article_keys_seq", "article_keys", ["seq"])


def downgrade() -> None:
    conn = op.get_bind()
    band = op.create_table(
        "article_band",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False,
                  autoincrement=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("hash", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_band")),
    )
    last = -1
    while True:
        rows = list(conn.execute(sa.text(
            "SELECT article_id, bucket, hashes, bands FROM article_keys WHERE article_id > :last "
            "ORDER BY article_id LIMIT :n"
        ), {"last": last, "n": CHUNK}))
        if not rows:
            break
        out = []
        for article_id, bucket, hashes, bands in rows:
            hashes, bands = bytes(hashes), bytes(bands)
            for i, b in enumerate(bands):
                h = int.from_bytes(hashes[8 * i:8 * i + 8], "little", signed=True)
                out.append({"id": article_id * SLOTS + b, "article_id": article_id, "band": b,
                            "hash": h, "bucket": bucket})
        if out:
            conn.execute(band.insert(), out)
        last = rows[-1][0]
    op.drop_index("ix_article_keys_seq", table_name="article_keys")
    op.drop_index("ix_article_keys_bucket_seq", table_name="article_keys")
    op.drop_table("article_keys")
    op.create_index("ix_article_band_bucket_hash", "article_band", ["bucket", "hash"])
    if _sqlite():
        op.execute(
            "CREATE TRIGGER article_band_cascade AFTER DELETE ON article FOR EACH ROW BEGIN "
            f"DELETE FROM article_band WHERE id >= OLD.id * {SLOTS} "
            f"AND id < (OLD.id + 1) * {SLOTS}; END"
        )
        return
    op.execute(
        "CREATE FUNCTION article_band_cascade() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"DELETE FROM article_band WHERE id >= OLD.id::bigint * {SLOTS} "
        f"AND id < (OLD.id::bigint + 1) * {SLOTS}; RETURN OLD; END $$"
    )
    op.execute(
        "CREATE TRIGGER article_band_cascade AFTER DELETE ON article FOR EACH ROW "
        "EXECUTE FUNCTION article_band_cascade()"
    )
