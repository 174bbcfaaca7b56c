"""Initial schema: sources, fetch state, articles, stories, curation, near-duplicate bands.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migrations spell types out rather than importing store.types, so that they keep describing the
# schema as it was even when the model code moves on. UTCDateTime's storage type is this one.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "source",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("homepage", sa.Text(), server_default="", nullable=False),
        sa.Column("feeds", sa.JSON(), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("region", sa.String(32), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("allow_local", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("verified", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("crawl_delay", sa.Float(), nullable=True),
        sa.Column("max_entries", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source")),
    )

    # story.representative_article_id → article.id is added once article exists (a cycle).
    op.create_table(
        "story",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("representative_article_id", sa.Integer(), nullable=True),
        sa.Column("published", UTC_DATETIME, nullable=True),
        sa.Column("region", sa.String(32), nullable=True),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("source_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("article_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("kind", sa.String(32), server_default="report", nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story")),
    )
    op.create_index(op.f("ix_story_published"), "story", ["published"])
    op.create_index(op.f("ix_story_region"), "story", ["region"])

    op.create_table(
        "article",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("guid", sa.Text(), nullable=True),
        sa.Column("guid_key", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("summary", sa.Text(), server_default="", nullable=False),
        sa.Column("published", UTC_DATETIME, nullable=False),
        sa.Column("date_flag", sa.String(64), nullable=True),
        sa.Column("raw_date", sa.Text(), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("region", sa.String(32), nullable=True),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("feed_url", sa.Text(), nullable=True),
        sa.Column("fetched_via", sa.String(16), server_default="feed", nullable=False),
        sa.Column("first_seen", UTC_DATETIME, nullable=False),
        sa.Column("last_seen", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_article_source_id_source"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["story.id"],
            name=op.f("fk_article_story_id_story"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article")),
        sa.UniqueConstraint("source_id", "guid_key", name=op.f("uq_article_source_id_guid_key")),
    )
    op.create_index(op.f("ix_article_content_hash"), "article", ["content_hash"])
    op.create_index(op.f("ix_article_published"), "article", ["published"])
    op.create_index(op.f("ix_article_story_id"), "article", ["story_id"])
    op.create_index("ix_article_url", "article", ["url"], postgresql_using="hash")

    with op.batch_alter_table("story") as batch:
        batch.create_foreign_key(
            op.f("fk_story_representative_article_id_article"),
            "article",
            ["representative_article_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "article_country",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("weight", sa.Float(), server_default="1", nullable=False),
        sa.Column("is_primary", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_article_country_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "country", name=op.f("pk_article_country")),
    )
    op.create_index(op.f("ix_article_country_country"), "article_country", ["country"])

    op.create_table(
        "article_band",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("hash", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_article_band_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "band", name=op.f("pk_article_band")),
    )
    op.create_index("ix_article_band_band_hash", "article_band", ["band", "hash"])

    op.create_table(
        "curation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("roundup", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("headline", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "decision IN ('include', 'exclude', 'pin')", name=op.f("ck_curation_decision")
        ),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["story.id"],
            name=op.f("fk_curation_story_id_story"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_curation")),
        sa.UniqueConstraint("story_id", "roundup", name=op.f("uq_curation_story_id_roundup")),
    )
    op.create_index(op.f("ix_curation_roundup"), "curation", ["roundup"])

    op.create_table(
        "fetch_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_success", UTC_DATETIME, nullable=True),
        sa.Column("last_attempt", UTC_DATETIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt", UTC_DATETIME, nullable=True),
        sa.Column("gone", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("entries_seen", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_fetch_state_source_id_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fetch_state")),
        sa.UniqueConstraint("url", name=op.f("uq_fetch_state_url")),
    )
    op.create_index(op.f("ix_fetch_state_source_id"), "fetch_state", ["source_id"])


def downgrade() -> None:
    op.drop_table("fetch_state")
    op.drop_table("curation")
    op.drop_table("article_band")
    op.drop_table("article_country")
    with op.batch_alter_table("story") as batch:
        batch.drop_constraint(
            op.f("fk_story_representative_article_id_article"), type_="foreignkey"
        )
    op.drop_table("article")
    op.drop_table("story")
    op.drop_table("source")
