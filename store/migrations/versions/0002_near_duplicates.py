"""Near-duplicate stories: why an article joined its story, article and story kinds, signatories,
and a date bucket leading the article_band lookup index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("article") as batch:
        batch.add_column(sa.Column("match_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(32), nullable=True))
        batch.add_column(sa.Column("credited_source_id", sa.String(64), nullable=True))
    with op.batch_alter_table("story") as batch:
        batch.add_column(sa.Column("signatories", sa.JSON(), server_default="[]", nullable=False))
    # Rows written before this revision get bucket 0: they stay findable by the cheap levels, and
    # `roundup` rebuilds no bands (the near-duplicate level only sees articles indexed from now on).
    with op.batch_alter_table("article_band") as batch:
        batch.add_column(sa.Column("bucket", sa.Integer(), server_default="0", nullable=False))
        batch.drop_index("ix_article_band_band_hash")
        batch.create_index("ix_article_band_bucket_hash", ["bucket", "hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("article_band") as batch:
        batch.drop_index("ix_article_band_bucket_hash")
        batch.create_index("ix_article_band_band_hash", ["band", "hash"], unique=False)
        batch.drop_column("bucket")
    with op.batch_alter_table("story") as batch:
        batch.drop_column("signatories")
    with op.batch_alter_table("article") as batch:
        batch.drop_column("credited_source_id")
        batch.drop_column("kind")
        batch.drop_column("match_reason")
