"""Normalisation and tagging: pure functions from raw reports to articles. No Scrapy here."""
