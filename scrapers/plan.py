"""What one run fetches: the registry's enabled sources, filtered, against the stored fetch state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scrapers.items import FetchOutcome
from store.registry_types import Source


@dataclass
class HarvestPlan:
    sources: dict[str, Source]
    db_url: str
    sources_file: str
    default_max_entries: int = 500
    ignore_backoff: bool = False
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (source id or "#n", error)
    #: ``roundup harvest`` migrated the database before the crawl (ROUNDUP_SOURCES_RECORDED):
    #: the spiders open it without checking the schema again, inside the run.
    schema_ready: bool = False
    #: Each source's boilerplate as the store last held it (``store.stories.
    #: stored_boilerplate_hints``), read with the fetch state: the feed workers drop it when they
    #: prepare near-duplicate keys.
    boilerplate: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Any, only: str | list[str] | None = None) -> HarvestPlan:
        from store.registry import load_registry_lenient

        path = settings.get("ROUNDUP_SOURCES")
        sources, errors = load_registry_lenient(path)
        wanted = only if only is not None else settings.getlist("ROUNDUP_ONLY")
        if isinstance(wanted, str):
            wanted = [w for w in wanted.split(",") if w]
        chosen = {s.id: s for s in sources if s.enabled and (not wanted or s.id in wanted)}
        invalid = [(_error_source(e), str(e)) for e in errors]
        if wanted:
            invalid = [(sid, msg) for sid, msg in invalid if sid in wanted]
        return cls(
            sources=chosen,
            db_url=settings.get("ROUNDUP_DB"),
            sources_file=str(path),
            default_max_entries=settings.getint("ROUNDUP_MAX_ENTRIES_PER_FEED", 500),
            ignore_backoff=settings.getbool("ROUNDUP_IGNORE_BACKOFF"),
            invalid=invalid,
            schema_ready=settings.getbool("ROUNDUP_SOURCES_RECORDED"),
        )

    def open_store(self) -> Any:
        """``store.db.open_db`` for this run's database: migrated first unless ``roundup
        harvest`` already did."""
        from store.db import open_db

        return open_db(self.db_url, migrate=not self.schema_ready)

    def max_entries(self, source: Source) -> int:
        return source.max_entries or self.default_max_entries

    def config_failures(self) -> Iterator[FetchOutcome]:
        for source_id, message in self.invalid:
            yield FetchOutcome(
                source_id=source_id, url=self.sources_file, status="invalid", error=message
            )

    def feeds_due(self) -> Iterator[tuple[Source, str, Any]]:
        """(source, feed URL, stored validators or a ``skipped`` outcome) for every feed."""
        from store.fetchstate import is_due, states_for
        from store.stories import stored_boilerplate_hints

        urls = [u for s in self.sources.values() for u in s.feeds]
        engine, Session = self.open_store()
        try:
            with Session() as session:
                states = states_for(session, urls)
                self.boilerplate = stored_boilerplate_hints(session, self.sources)
        finally:
            engine.dispose()
        now = datetime.now(UTC)
        for source in self.sources.values():
            for url in source.feeds:
                state = states.get(url)
                if state is None:
                    yield source, url, None
                    continue
                if state.gone:
                    yield source, url, FetchOutcome(
                        source_id=source.id, url=url, status="skipped",
                        error="gone (HTTP 410); `roundup sources enable URL` polls it again",
                    )
                    continue
                if not self.ignore_backoff and not is_due(state, now):
                    yield source, url, FetchOutcome(
                        source_id=source.id, url=url, status="skipped",
                        error=f"backing off after {state.consecutive_failures} failure(s) until "
                        f"{state.next_attempt:%Y-%m-%d %H:%M} UTC (last error: {state.last_error})",
                    )
                    continue
                yield source, url, (state.etag, state.last_modified)


def _error_source(error: Exception) -> str:
    return str(getattr(error, "source_id", None) or getattr(error, "source", None) or "?")
