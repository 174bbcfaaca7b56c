"""The Scrapy project: spiders fetch members' feeds and pages; pipelines hand items to
``pipeline`` (normalise, tag) and ``store`` (upsert, deduplicate)."""
