"""source_boilerplate: each source's learnt boilerplate, kept as a hint for the feed workers.

The store learns each member's footer from its recent articles, in memory. A feed worker that
prepares an article's near-duplicate keys without knowing the footer prepares them for the text
with the footer, and the store, which drops it, has to compute them again: for a member whose
posts all end with the same paragraph, every article. The store now writes the segment keys it
holds for a source's boilerplate when they change; a harvest reads them before the crawl and
passes them to the worker. A hint only: the store checks it for every article.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelt out rather than imported from store.types (see 0001): UTCDateTime's storage type.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "source_boilerplate",
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("keys", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_source_boilerplate_source_id_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_source_boilerplate")),
    )


def downgrade() -> None:
    op.drop_table("source_boilerplate")
