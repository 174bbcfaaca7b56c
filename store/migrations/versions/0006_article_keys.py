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
into the 0005 table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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


def _band_rows(conn: sa.Connection) -> Iterator[list[sa.Row]]:
    """``article_band`` rows ``(article_id, band, hash, bucket)`` in (article, band) order, in
    runs of whole articles of about :data:`CHUNK` articles."""
    last = -1
    while True:
        upper = conn.execute(sa.text(
            "SELECT max(article_id) FROM (SELECT DISTINCT article_id FROM article_band "
            "WHERE article_id > :last ORDER BY article_id LIMIT :n) AS t"
        ), {"last": last, "n": CHUNK}).scalar()
        if upper is None:
            return
        yield list(conn.execute(sa.text(
            "SELECT article_id, band, hash, bucket FROM article_band "
            "WHERE article_id > :last AND article_id <= :upper ORDER BY article_id, band"
        ), {"last": last, "upper": upper}))
        last = upper


def upgrade() -> None:
    conn = op.get_bind()
    keys = _keys_table()
    for rows in _band_rows(conn):
        packed: dict[int, tuple[int, list[int], list[int]]] = {}
        for article_id, band, hash_, bucket in rows:
            entry = packed.setdefault(article_id, (bucket, [], []))
            entry[1].append(hash_)
            entry[2].append(band)
        live = {r[0] for r in conn.execute(
            sa.text("SELECT id FROM article WHERE id >= :lo AND id <= :hi"),
            {"lo": min(packed), "hi": max(packed)},
        )}
        out = [
            {"article_id": aid, "bucket": bucket, "seq": 1,
             "hashes": b"".join(h.to_bytes(8, "little", signed=True) for h in hashes),
             "bands": bytes(bands)}
            for aid, (bucket, hashes, bands) in packed.items() if aid in live
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
