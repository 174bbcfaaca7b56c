"""article_band: a WITHOUT ROWID table on SQLite, and 60-day date buckets.

* The rows are only ever reached through the primary key ``(article_id, band)`` and the
  ``(bucket, hash)`` lookup index, so on SQLite the rowid table was a third B-tree to update for
  every band key written (about 62 per article). Without it, the primary key is the table, and
  the lookup index, which holds the primary key, answers the candidate query by itself.
  PostgreSQL has no rowid: nothing to rebuild there.
* Buckets are 60 days wide instead of 120 (``store.stories.BUCKET_DAYS``): new keys land in a
  lookup-index region half the size, so each commit rewrites half as many index pages, for one
  more (mostly empty) bucket probed per lookup. Stored rows get the bucket of their article's
  date again; rows of articles indexed before revision 0002 keep bucket 0.

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


def _rebucket(days: int) -> None:
    """``bucket = floor(seconds since 1970 of the article's date / (days * 86400))``, as
    ``store.stories.band_bucket`` computes it."""
    width = days * 86400
    if op.get_bind().dialect.name == "sqlite":
        seconds = "CAST(strftime('%s', a.published) AS INTEGER)"
        value = (
            f"CASE WHEN {seconds} >= 0 THEN {seconds} / {width} "
            f"ELSE -((-{seconds} + {width - 1}) / {width}) END"
        )
    else:
        value = f"CAST(floor(extract(epoch FROM a.published) / {width}) AS INTEGER)"
    op.execute(
        f"UPDATE article_band SET bucket = (SELECT {value} FROM article a "
        f"WHERE a.id = article_band.article_id) WHERE bucket <> 0"
    )


def upgrade() -> None:
    _rebuild(with_rowid=False)
    _rebucket(60)


def downgrade() -> None:
    _rebucket(120)
    _rebuild(with_rowid=True)
