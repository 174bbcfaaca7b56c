"""article: an index on (source_id, id), for a source's newest articles.

A harvest process warms each source's boilerplate learner with that source's last articles
(``store.stories._warm``). Without this index the query read every article of the source —
at a million stored articles, most of the database on every cron run.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_article_source_recent", "article", ["source_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_article_source_recent", table_name="article")
