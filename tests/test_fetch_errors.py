"""Transport failures become one readable line per feed (the run summary's "failed: …").

Served cases (refused, timeout, stall, HTTP errors) run end to end in test_harvest.py and
test_bad_inputs.py; a DNS failure cannot be served from 127.0.0.1 without a lookup leaving the
machine, so the errback is fed the exception Scrapy raises for it.
"""

from __future__ import annotations

import pytest
from scrapy import Request
from twisted.internet import error
from twisted.python.failure import Failure

from scrapers.items import FetchOutcome
from scrapers.spiders.base import SOURCE_META, URL_META, RoundupSpider


def failure_for(exc: Exception) -> Failure:
    try:
        raise exc
    except Exception:  # noqa: BLE001 - building the Failure Scrapy would hand the errback
        failure = Failure()
    failure.request = Request("http://feeds.member.invalid/rss",  # type: ignore[attr-defined]
                              meta={SOURCE_META: "member", URL_META: "http://feeds.member.invalid/rss"})
    return failure


@pytest.mark.parametrize(("exc", "words"), [
    (error.DNSLookupError("address 'feeds.member.invalid' not found"), "DNS lookup failed"),
    (error.ConnectionRefusedError(), "connection refused"),
    (error.TCPTimedOutError(), "timed out"),
    (error.ConnectionLost(), "connection lost mid-response"),
])
def test_transport_errors_are_named_in_the_outcome(exc: Exception, words: str) -> None:
    (outcome,) = list(RoundupSpider(name="t").fetch_failed(failure_for(exc)))
    assert isinstance(outcome, FetchOutcome)
    assert outcome.status == "failed" and outcome.source_id == "member"
    assert outcome.url == "http://feeds.member.invalid/rss"
    assert outcome.error is not None and outcome.error.startswith(words)
