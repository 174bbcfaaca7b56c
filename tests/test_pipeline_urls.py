"""pipeline.urls: one canonical spelling per article URL; non-web schemes refused."""

from __future__ import annotations

import pytest

from pipeline.errors import BadURL, PipelineError
from pipeline.urls import TRACKING_PARAMS, canonical_url, host_of

BASE = "https://www.mfwa.org/feed/"


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        pytest.param("/2024/05/story/", BASE, "https://www.mfwa.org/2024/05/story/", id="relative"),
        pytest.param("story", BASE, "https://www.mfwa.org/feed/story", id="relative-to-path"),
        pytest.param("../a?x=1", BASE, "https://www.mfwa.org/a?x=1", id="dot-dot"),
        pytest.param("//cdn.example.org/a", BASE, "https://cdn.example.org/a",
                     id="scheme-relative"),
        pytest.param("https://other.org/a", BASE, "https://other.org/a", id="absolute-ignores-base"),
        pytest.param("HTTPS://WWW.Example.ORG/Path", None, "https://www.example.org/Path",
                     id="uppercase-scheme-host-path-case-kept"),
        pytest.param("https://example.org/a#comments", None, "https://example.org/a",
                     id="fragment"),
        pytest.param("https://example.org/a?utm_source=rss&utm_medium=rss&utm_campaign=x", None,
                     "https://example.org/a", id="utm"),
        pytest.param("https://example.org/a?UTM_Source=rss&id=3", None,
                     "https://example.org/a?id=3", id="utm-any-case"),
        pytest.param("https://example.org/a?fbclid=IwAR0x&p=2", None, "https://example.org/a?p=2",
                     id="fbclid"),
        pytest.param("https://example.org/a?gclid=abc", None, "https://example.org/a", id="gclid"),
        pytest.param("https://example.org/a?mc_cid=1&mc_eid=2&igshid=3&_ga=4&ref_src=5", None,
                     "https://example.org/a", id="mailchimp-instagram-ga-twitter"),
        pytest.param("http://example.org:80/a", None, "http://example.org/a", id="default-http-port"),
        pytest.param("https://example.org:443/a", None, "https://example.org/a",
                     id="default-https-port"),
        pytest.param("https://example.org:8443/a", None, "https://example.org:8443/a",
                     id="other-port-kept"),
        pytest.param("https://example.org/a?b=2&a=1", None, "https://example.org/a?a=1&b=2",
                     id="params-sorted"),
        pytest.param("https://example.org", None, "https://example.org/", id="empty-path"),
        pytest.param("https://user:secret@example.org/a", None, "https://example.org/a",
                     id="credentials-dropped"),
        pytest.param("https://example.org/caf%c3%a9 x", None, "https://example.org/caf%C3%A9%20x",
                     id="percent-encoding"),
        pytest.param("https://bücher.example/a", None, "https://xn--bcher-kva.example/a", id="idn"),
        pytest.param("  https://example.org/a\n", None, "https://example.org/a", id="whitespace"),
        pytest.param("https://[2001:DB8::1]:443/a", None, "https://[2001:db8::1]/a", id="ipv6"),
    ],
)
def test_canonical_url(url: str, base: str | None, expected: str) -> None:
    assert canonical_url(url, base) == expected


def test_canonical_url_is_idempotent() -> None:
    once = canonical_url("HTTP://Example.org:80/a b?z=1&utm_source=x&a=2#f")
    assert canonical_url(once) == once


@pytest.mark.parametrize(
    ("url", "base"),
    [
        pytest.param("javascript:alert(1)", BASE, id="javascript"),
        pytest.param("JavaScript:alert(1)", None, id="javascript-mixed-case"),
        pytest.param(" javascript:alert(1)", None, id="javascript-leading-space"),
        pytest.param("java\nscript:alert(1)", BASE, id="javascript-split-by-newline"),
        pytest.param("data:text/html,<script>alert(1)</script>", None, id="data"),
        pytest.param("mailto:editor@example.org", None, id="mailto"),
        pytest.param("file:///etc/passwd", None, id="file"),
        pytest.param("ftp://example.org/a", None, id="ftp"),
        pytest.param("https:///path-only", None, id="empty-host"),
        pytest.param("http://", None, id="scheme-only"),
        pytest.param("", BASE, id="empty"),
        pytest.param("/relative/without/base", None, id="relative-without-base"),
        pytest.param("https://example.org:99999/", None, id="bad-port"),
        pytest.param("https://example.org/" + "a" * 20_000, None, id="too-long"),
    ],
)
def test_refused(url: str, base: str | None) -> None:
    with pytest.raises(BadURL):
        canonical_url(url, base)


def test_bad_url_is_a_pipeline_error_and_a_value_error() -> None:
    with pytest.raises(PipelineError):
        canonical_url("javascript:void(0)")
    with pytest.raises(ValueError):
        canonical_url("javascript:void(0)")


def test_tracking_list_is_documented() -> None:
    assert {"fbclid", "gclid", "mc_cid", "mc_eid", "_ga", "igshid", "ref_src"} <= TRACKING_PARAMS


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://WWW.Example.org:8080/a", "www.example.org"),
        ("http://[::1]/", "::1"),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert host_of(url) == host


def test_host_of_refuses_non_web() -> None:
    with pytest.raises(BadURL):
        host_of("mailto:a@b.org")
