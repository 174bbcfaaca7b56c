"""A callback that raises is a failure of its source in the run summary, not a silent 0 new."""

from __future__ import annotations

from scrapy import Request, Spider, signals
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from roundups.harvest import summary_from_stats
from scrapers.extensions import CallbackErrors
from scrapers.spiders.base import SOURCE_META


def test_a_callback_exception_fails_its_source() -> None:
    crawler = get_crawler(Spider)
    extension = CallbackErrors.from_crawler(crawler)  # signals hold handlers weakly: keep it
    request = Request("http://127.0.0.1:9/article", meta={SOURCE_META: "balkan-watch"})
    response = HtmlResponse(request.url, body=b"<html></html>", request=request)
    try:
        raise ImportError("lxml.html.clean module is now a separate project")
    except ImportError:
        failure = Failure()
    results = crawler.signals.send_catch_log(signals.spider_error, failure=failure,
                                             response=response, spider=None)
    assert all(not isinstance(value, Failure) for _, value in results), results
    summary = summary_from_stats(crawler.stats.get_stats(), ["balkan-watch"], 1.0, invalid=False)
    result = summary.sources["balkan-watch"]
    assert result.failed and summary.exit_code == 1
    assert "ImportError" in result.failures[0] and "/article" in result.failures[0]
    assert extension.stats is crawler.stats
