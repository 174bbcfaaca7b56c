"""DNS rebinding: the address a connection uses is checked, not only the one looked up first."""

from __future__ import annotations

import pytest
from twisted.internet.error import DNSLookupError

from scrapers.middlewares import LOCAL_HOSTS
from scrapers.resolver import checked_address


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "192.168.0.5",
                                     "100.64.0.1", "0.0.0.0"])
def test_a_member_host_resolving_to_a_non_public_address_is_refused(address: str) -> None:
    with pytest.raises(DNSLookupError, match="non-public address"):
        checked_address(address, "feeds.member.example")


def test_public_answers_and_local_sources_pass() -> None:
    assert checked_address("93.184.216.34", "feeds.member.example") == "93.184.216.34"
    LOCAL_HOSTS.add("demo.localhost")
    try:
        assert checked_address("127.0.0.1", "demo.localhost") == "127.0.0.1"
    finally:
        LOCAL_HOSTS.discard("demo.localhost")


def test_harvests_connect_through_the_checking_resolver() -> None:
    """The project's settings name the checking resolver under the setting Scrapy reads
    (TWISTED_DNS_RESOLVER since 2.16), not the deprecated DNS_RESOLVER."""
    from scrapy.settings import SETTINGS_PRIORITIES
    from scrapy.utils.project import get_project_settings

    import scrapers.settings

    settings = get_project_settings()
    assert settings["TWISTED_DNS_RESOLVER"] == "scrapers.resolver.PublicAddressResolver"
    assert settings.getpriority("DNS_RESOLVER") == SETTINGS_PRIORITIES["default"]
    assert not hasattr(scrapers.settings, "DNS_RESOLVER")


def test_a_local_source_named_by_host_name_still_connects(server, db, tmp_path) -> None:
    """The demo and the tests may name loopback by host name: the connection-time check lets a
    source marked allow_local through (and so is in the path every connection takes)."""
    from tests.feedserver import Reply
    from tests.harvesting import Source, harvest, item, rss, write_registry

    server.route("/l.xml", Reply(body=rss([item(1)]), headers={"Content-Type": "application/rss+xml"}))
    url = f"http://localhost:{server.port}/l.xml"
    reg = write_registry(tmp_path / "s.toml", [Source("loc", [url])])
    run = harvest(db, reg)
    assert run.code == 0 and "1 new" in run.line("loc"), run.stdout + run.stderr
    reg.write_text(reg.read_text().replace("allow_local = true", "allow_local = false"))
    refused = harvest(db, reg)
    assert refused.code == 1 and "non-public address" in refused.stdout
    assert len(server.hits("/l.xml")) == 1


# The first lookup (the middleware's) is answered with a public address, as a rebinding DNS
# server would; the connection's own lookup then gets the real answer, loopback.
REBOUND_HARVEST = (
    "import sys, scrapers.middlewares as m\n"
    "async def first_answer(host, port):\n"
    "    return ['93.184.216.34']\n"
    "m.resolve = first_answer\n"
    "from roundups.cli import main\n"
    "sys.exit(main())\n"
)


def test_dns_rebinding_to_loopback_is_refused_before_connecting(server, db, tmp_path) -> None:
    import subprocess
    import sys

    from tests.feedserver import Reply
    from tests.harvesting import FAST, ROOT, Source, item, rss, write_registry

    server.route("/r.xml", Reply(body=rss([item(1)]), headers={"Content-Type": "application/rss+xml"}))
    reg = write_registry(tmp_path / "s.toml", [Source("rebind", [f"http://localhost:{server.port}/r.xml"])])
    reg.write_text(reg.read_text().replace("allow_local = true", "allow_local = false"))
    proc = subprocess.run([sys.executable, "-c", REBOUND_HARVEST, "harvest", "--db", db,
                           "--sources", str(reg), *FAST],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "DNS rebinding" in proc.stdout and "127.0.0.1" in proc.stdout
    assert server.hits("/r.xml") == []
