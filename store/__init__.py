"""The store: SQLAlchemy models, migrations, upsert, deduplication and the queries round-ups need.

No Scrapy here.
"""
