"""PDF reports: text and metadata (pure), per-item errors, and a listing of PDFs crawled for real."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from scrapy.http import Response

from pipeline.pdf import EncryptedPdf, NotAPdf, NoTextLayer, PdfError, extract_pdf, pdf_date
from scrapers.spiders.listing import ListingSpider
from tests.feedserver import FeedServer, Reply
from tests.harvesting import harvest, rows
from tests.test_listing import HTML, crawl_registry, listing_page, make_spider, respond, split

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_pdfs", ROOT / "demo" / "make_pdfs.py")
assert _spec and _spec.loader
make_pdfs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_pdfs)

PDF = {"Content-Type": "application/pdf"}
PARAGRAPHS = ["Police in Bamako, Mali, detained a radio presenter for two days after a phone-in "
              "programme about fuel prices, the member said in a report published in October.",
              "The presenter was released without charge. Listeners' calls were played on air "
              "without editing, as the station always does."]


def good_pdf() -> bytes:
    return make_pdfs.text_pdf("Mali: radio presenter detained", "D:20261014093000+01'00'",
                              PARAGRAPHS, lang="fr-ML")


def test_text_title_date_and_language():
    pdf = extract_pdf(good_pdf())
    assert pdf.title == "Mali: radio presenter detained"
    assert pdf.raw_date == "2026-10-14T09:30:00+01:00"
    assert pdf.language == "fr"
    assert "phone-in programme" in " ".join(pdf.text.split()) and pdf.pages == 1


@pytest.mark.parametrize(("data", "error"), [
    (make_pdfs.encrypted_pdf(make_pdfs.text_pdf("Secret", "D:20261001", PARAGRAPHS)), EncryptedPdf),
    (make_pdfs.scanned_pdf("A scan", "D:20261001"), NoTextLayer),
    (b"<!DOCTYPE html><html><body>Report not found</body></html>", NotAPdf),
    (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> trailer garbage", PdfError),
    (good_pdf()[:400], PdfError),  # truncated download
], ids=["encrypted", "scanned", "fake-html", "garbage", "truncated"])
def test_unusable_pdfs_raise_a_pdf_error(data, error):
    with pytest.raises(error):
        extract_pdf(data)


@pytest.mark.parametrize(("raw", "iso"), [
    ("D:20261005", "2026-10-05T00:00:00"),
    ("D:20261005093000Z", "2026-10-05T09:30:00+00:00"),
    ("D:20261005093000-05'00'", "2026-10-05T09:30:00-05:00"),
    ("D:20261345", None),
    ("yesterday", None),
])
def test_pdf_dates(raw, iso):
    assert pdf_date(raw) == iso


def test_a_linked_pdf_becomes_an_article_and_a_bad_one_a_per_item_error(tmp_path):
    spider = make_spider(tmp_path, ListingSpider, 'start_urls = ["https://member.example/r/"]\n'
                                                  'links = "a::attr(href)"\n')
    source = spider.sources["member"]
    reqs, _, _ = spider.article_requests(source, ["https://member.example/r/a.pdf",
                                                  "https://member.example/r/b.pdf"])
    _, [report], [ok] = split(spider.parse_article(respond(reqs[0], good_pdf(), cls=Response,
                                                           headers=PDF)))
    assert report.fetched_via == "pdf" and report.title == "Mali: radio presenter detained"
    assert report.raw_date == "2026-10-14T09:30:00+01:00" and "presenter" in report.content_html
    assert ok.status == "ok" and ok.url == report.feed_url
    scan = make_pdfs.scanned_pdf("A scan", "D:20261001")
    _, reports, [failed] = split(spider.parse_article(respond(reqs[1], scan, cls=Response,
                                                              headers=PDF)))
    assert not reports and failed.status == "failed" and "no text layer" in failed.error


def test_harvest_a_listing_of_pdfs_keeps_the_good_ones(tmp_path):
    server = FeedServer()
    try:
        names = ["good.pdf", "encrypted.pdf", "scan.pdf", "fake.pdf", "octet.pdf"]
        server.route("/reports/", Reply(body=listing_page([f"/reports/{n}" for n in names])
                                        .encode(), headers=HTML))
        server.route("/reports/good.pdf", Reply(body=good_pdf(), headers=PDF))
        server.route("/reports/encrypted.pdf", Reply(body=make_pdfs.encrypted_pdf(good_pdf()),
                                                     headers=PDF))
        server.route("/reports/scan.pdf", Reply(body=make_pdfs.scanned_pdf("Scan", "D:20261002"),
                                                headers=PDF))
        server.route("/reports/fake.pdf", Reply(body=b"<html><body>Login</body></html>",
                                                headers=PDF))
        other = make_pdfs.text_pdf("Burkina Faso: newspaper suspended", "D:20261020100000Z",
                                   PARAGRAPHS)
        server.route("/reports/octet.pdf", Reply(body=other,
                                                 headers={"Content-Type": "application/octet-stream"}))
        reg = crawl_registry(tmp_path, f'start_urls = ["{server.url("/reports/")}"]\n'
                                       'links = "article.post h2 a::attr(href)"\n')
        db = f"sqlite:///{tmp_path / 'r.db'}"
        run = harvest(db, reg)
        assert run.code == 1, run.stdout + run.stderr  # per-item errors are reported failures
        line = run.line("member")
        assert "2 new" in line and "3 failed" in line
        assert "encrypted" in run.stdout and "no text layer" in run.stdout
        assert "not a PDF" in run.stdout
        stored = rows(db, "SELECT title, fetched_via FROM article ORDER BY title")
        assert stored == [("Burkina Faso: newspaper suspended", "pdf"),
                          ("Mali: radio presenter detained", "pdf")]
    finally:
        server.close()


def test_demo_pdfs_are_what_make_pdfs_writes():
    folder = ROOT / "demo" / "sites" / "sahel-voices" / "reports"
    for name, (title, created, paragraphs) in make_pdfs.REPORTS.items():
        assert (folder / name).read_bytes() == make_pdfs.text_pdf(title, created, paragraphs,
                                                                  lang="en"), name
        assert extract_pdf((folder / name).read_bytes()).title == title
