"""article_band as a WITHOUT ROWID table on SQLite.

The rows are only ever reached through the primary key ``(article_id, band)`` and the
``(bucket, hash)`` lookup index, so the rowid table was a third B-tree to update for every band
key written (about 62 per article). Without it, the primary key is the table, and the lookup
index holds the primary key: the candidate query reads only the index. PostgreSQL has no rowid:
nothing to do there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "article_band", recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
    ):
        pass


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
