"""Spiders: ``feeds`` (RSS/Atom). Listing-page and sitemap spiders join here."""
