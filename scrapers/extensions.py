"""Extensions: what the spiders themselves cannot report.

:class:`CallbackErrors` turns an exception raised while handling a response (a bug, a library
missing from the install, input no test foresaw) into a per-source failure in the run summary.
Without it, Scrapy only logs the traceback: the source's line would read "ok: 0 new" and cron
would exit 0 while nothing was stored.
"""

from __future__ import annotations

from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.python.failure import Failure

from scrapers.spiders.base import SOURCE_META


class CallbackErrors:
    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CallbackErrors:
        return cls(crawler)

    def spider_error(self, failure: Failure, response: Response, spider: Any) -> None:
        source_id = response.meta.get(SOURCE_META, "?") if response is not None else "?"
        exc = failure.value
        message = f"{response.url if response is not None else '?'}: internal error while handling the " \
                  f"response: {type(exc).__name__}: {exc}"
        self.stats.inc_value(f"roundup/{source_id}/failed")
        key = f"roundup/{source_id}/failed_why"
        self.stats.set_value(key, [*(self.stats.get_value(key) or []), message])
