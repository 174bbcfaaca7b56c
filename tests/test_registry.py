"""The member registry: the shipped ``sources.toml`` and each rule of ``store.registry``."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from store.errors import StoreError
from store.registry import (
    REGIONS,
    SOURCE_KEYS,
    RegistryError,
    country_codes,
    language_codes,
    load_registry,
    load_registry_lenient,
    parse_registry,
)
from store.registry_types import Source

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "sources.toml"

GOOD = """
[[source]]
id = "mfwa"
name = "Media Foundation for West Africa"
homepage = "https://www.mfwa.org/"
country = "GH"
region = "africa"
languages = ["en", "fr"]
feeds = ["https://www.mfwa.org/feed/"]
"""


def source_toml(id: str = "bad-one", **keys: str) -> str:
    """One [[source]] table; ``keys`` are raw TOML values (``country='"gh"'``)."""
    lines = ["[[source]]", f'id = "{id}"', 'name = "A member"', 'homepage = "https://a.example/"']
    lines = [line for line in lines if line.split(" = ")[0] not in keys]
    lines += [f"{key} = {value}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str, name: str = "members.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped registry --------------------------------------------------------------------


def test_shipped_registry_loads_strictly():
    sources = load_registry(SHIPPED)
    assert len(sources) >= 30
    assert all(isinstance(s, Source) for s in sources)


def test_shipped_registry_ids_unique_and_values_valid():
    sources = load_registry(SHIPPED)
    ids = [s.id for s in sources]
    assert len(ids) == len(set(ids))
    for s in sources:
        assert s.region is None or s.region in REGIONS, s.id
        assert s.country is None or s.country in country_codes(), s.id
        assert not s.allow_local, f"{s.id}: real members are never local"
        assert s.homepage.startswith("https://"), s.id


def test_shipped_registry_is_marked_unverified():
    # Written offline: nobody has checked these URLs against the live sites yet.
    assert all(not s.verified for s in load_registry(SHIPPED))


def test_shipped_registry_covers_every_region():
    regions = {s.region for s in load_registry(SHIPPED)}
    assert set(REGIONS) <= regions


def test_shipped_registry_global_members_have_no_country():
    by_id = {s.id: s for s in load_registry(SHIPPED)}
    for global_member in ("cpj", "rsf", "article19", "pen-international"):
        assert by_id[global_member].country is None
    assert by_id["article19-mexico"].region == "americas"
    assert by_id["mlsa"].region == "europe-central-asia"
    assert by_id["afjc"].region == "asia-pacific"


def test_every_key_is_documented():
    doc = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    for key in SOURCE_KEYS:
        assert f"| `{key}` |" in doc, key


def test_code_lists_include_special_cases():
    assert {"XK", "PS", "GB", "TR"} <= country_codes()
    assert len(country_codes()) == 250  # 249 assigned + XK
    assert {"en", "fr", "es", "ar", "pt", "ru"} <= language_codes()


# --- conversion ------------------------------------------------------------------------------


def test_a_valid_table_becomes_a_source(tmp_path):
    text = (
        GOOD
        + """timezone = "Africa/Accra"
crawl_delay = 5
max_entries = 40
fulltext = true
notes = "West Africa"

[source.listing]
start_urls = ["https://www.mfwa.org/alerts/"]
links = "h2.entry-title a::attr(href)"
"""
    )
    [s] = load_registry(write(tmp_path, text))
    assert s == Source(
        id="mfwa",
        name="Media Foundation for West Africa",
        homepage="https://www.mfwa.org/",
        feeds=("https://www.mfwa.org/feed/",),
        country="GH",
        region="africa",
        languages=("en", "fr"),
        timezone="Africa/Accra",
        crawl_delay=5.0,
        max_entries=40,
        notes="West Africa",
        fulltext=True,
    )
    assert s.listing == {"start_urls": ["https://www.mfwa.org/alerts/"],
                         "links": "h2.entry-title a::attr(href)"}
    assert isinstance(s.crawl_delay, float)
    assert s.enabled and not s.verified and not s.allow_local


def test_defaults_for_optional_keys(tmp_path):
    [s] = load_registry(write(tmp_path, source_toml("minimal")))
    assert s.feeds == () and s.languages == () and s.country is None and s.region is None
    assert s.listing is None and s.fulltext is False and s.enabled is True


def test_empty_file_is_an_empty_registry(tmp_path):
    assert load_registry(write(tmp_path, "# nothing yet\n")) == []


# --- every error names the file, the source and the key --------------------------------------


BAD_SOURCES = [
    pytest.param({"colour": '"red"'}, "colour", "unknown key", id="unknown-key"),
    pytest.param({"homepage": '"www.a.example"'}, "homepage", "http", id="homepage-no-scheme"),
    pytest.param({"homepage": '"ftp://a.example/"'}, "homepage", "http", id="homepage-ftp"),
    pytest.param({"homepage": '"https:///path"'}, "homepage", "no host", id="homepage-no-host"),
    pytest.param({"homepage": '"https://a.example:99999/"'}, "homepage", "Port", id="bad-port"),
    pytest.param(
        {"feeds": '["https://a.example/feed/", "/feed/"]'}, "feeds[1]", "http", id="feed-relative"
    ),
    pytest.param(
        {"feeds": '["https://a example/feed"]'}, "feeds[0]", "white space", id="feed-space"
    ),
    pytest.param(
        {"feeds": '["https://a.example/f", "https://a.example/f"]'},
        "feeds[1]",
        "twice",
        id="feed-repeated",
    ),
    pytest.param({"feeds": '"https://a.example/feed/"'}, "feeds", "array", id="feeds-string"),
    pytest.param({"country": '"GHA"'}, "country", "ISO 3166-1", id="country-alpha3"),
    pytest.param({"country": '"gh"'}, "country", "upper case", id="country-lower"),
    pytest.param({"country": '"UK"'}, "country", "ISO 3166-1", id="country-uk"),
    pytest.param({"region": '"Africa"'}, "region", "not a region", id="region-case"),
    pytest.param({"region": '"middle-east"'}, "region", "not a region", id="region-unknown"),
    pytest.param({"languages": '["english"]'}, "languages[0]", "ISO 639-1", id="lang-name"),
    pytest.param({"languages": '["en", "FR"]'}, "languages[1]", "lower case", id="lang-case"),
    pytest.param({"languages": '"en"'}, "languages", "array", id="languages-string"),
    pytest.param({"timezone": '"Africa/Atlantis"'}, "timezone", "IANA", id="tz-unknown"),
    pytest.param({"timezone": '"GMT+3"'}, "timezone", "IANA", id="tz-offset"),
    pytest.param({"allow_local": '"yes"'}, "allow_local", "true or false", id="bool-string"),
    pytest.param({"verified": "1"}, "verified", "true or false", id="bool-int"),
    pytest.param({"enabled": '"false"'}, "enabled", "true or false", id="enabled-string"),
    pytest.param({"fulltext": "0"}, "fulltext", "true or false", id="fulltext-int"),
    pytest.param({"crawl_delay": '"5s"'}, "crawl_delay", "number", id="delay-string"),
    pytest.param({"crawl_delay": "-1"}, "crawl_delay", "between", id="delay-negative"),
    pytest.param({"max_entries": "2.5"}, "max_entries", "integer", id="max-float"),
    pytest.param({"max_entries": "0"}, "max_entries", "at least 1", id="max-zero"),
    pytest.param({"max_entries": "true"}, "max_entries", "integer", id="max-bool"),
    pytest.param({"notes": "3"}, "notes", "string", id="notes-int"),
    pytest.param({"listing": '"https://a.example/news/"'}, "listing", "table", id="listing-str"),
    pytest.param({"name": "42"}, "name", "string", id="name-int"),
    pytest.param({"name": '"  "'}, "name", "empty", id="name-blank"),
]


@pytest.mark.parametrize(("keys", "key", "why"), BAD_SOURCES)
def test_invalid_value_names_file_source_and_key(tmp_path, keys, key, why):
    path = write(tmp_path, GOOD + "\n" + source_toml("bad-one", **keys))
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert str(path) in message
    assert "source 'bad-one' (#2)" in message
    assert f"key '{key}'" in message
    assert why in message
    err = caught.value
    assert (err.path, err.source_id, err.index, err.key) == (str(path), "bad-one", 2, key)


@pytest.mark.parametrize("key", ["id", "name", "homepage"])
def test_missing_required_key(tmp_path, key):
    table = "\n".join(
        line for line in source_toml("needs-all").splitlines() if not line.startswith(key + " ")
    )
    with pytest.raises(RegistryError) as caught:
        load_registry(write(tmp_path, table + "\n"))
    message = str(caught.value)
    assert "members.toml" in message and f"key '{key}'" in message and "missing" in message
    if key != "id":
        assert "source 'needs-all' (#1)" in message
    else:
        assert "source #1" in message


@pytest.mark.parametrize(
    "bad_id", ["MFWA", "mfwa_gh", "-mfwa", "mfwa--gh", "mfwa gh", "", "x" * 65]
)
def test_bad_id_slug_names_the_position(tmp_path, bad_id):
    path = write(tmp_path, GOOD + "\n" + source_toml(bad_id))
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert str(path) in message and "source #2" in message and "key 'id'" in message
    assert "slug" in message
    assert caught.value.source_id is None


def test_id_of_wrong_type(tmp_path):
    text = GOOD + '\n[[source]]\nid = 7\nname = "Seven"\nhomepage = "https://seven.example/"\n'
    with pytest.raises(RegistryError) as caught:
        load_registry(write(tmp_path, text))
    assert "members.toml: source #2: key 'id': must be a string" in str(caught.value)


def test_duplicate_id_names_both_positions(tmp_path):
    path = write(tmp_path, GOOD + "\n" + source_toml("other") + "\n" + GOOD)
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert str(path) in message
    assert "source 'mfwa' (#3)" in message and "key 'id'" in message
    assert "duplicate" in message and "#1" in message


def test_several_problems_are_reported_together(tmp_path):
    text = source_toml("one", country='"XX"') + "\n" + source_toml("two", region='"antarctica"')
    with pytest.raises(RegistryError) as caught:
        load_registry(write(tmp_path, text))
    message = str(caught.value)
    assert "2 problems" in message
    assert "source 'one' (#1): key 'country'" in message
    assert "source 'two' (#2): key 'region'" in message
    assert [e.source_id for e in caught.value.errors] == ["one", "two"]


def test_placeholder_left_in_a_url_is_refused():
    text = source_toml("demo-site", homepage='"http://127.0.0.1:8000/{id}/"')
    with pytest.raises(RegistryError, match="placeholder"):
        parse_registry(text, origin="rendered.toml")


def test_error_is_a_value_error_and_a_store_error(tmp_path):
    with pytest.raises(ValueError):
        load_registry(write(tmp_path, source_toml(region='"nowhere"')))
    with pytest.raises(StoreError):
        load_registry(write(tmp_path, source_toml(region='"nowhere"')))


# --- file-level problems ---------------------------------------------------------------------


def test_not_toml_names_the_file(tmp_path):
    path = write(tmp_path, GOOD + "\n[[source]\nid = 'x'\n")
    with pytest.raises(RegistryError, match=r"members\.toml: not valid TOML"):
        load_registry(path)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(RegistryError, match=r"absent\.toml: cannot read"):
        load_registry(tmp_path / "absent.toml")


def test_unknown_top_level_key(tmp_path):
    text = GOOD.replace("[[source]]", "[[sources]]")
    with pytest.raises(RegistryError, match=r"members\.toml: key 'sources': unknown top-level key"):
        load_registry(write(tmp_path, text))


def test_source_must_be_an_array_of_tables(tmp_path):
    with pytest.raises(RegistryError, match=r"key 'source': must be an array of tables"):
        load_registry(write(tmp_path, 'source = ["mfwa"]\n'))


# --- lenient loading -------------------------------------------------------------------------


def test_lenient_load_skips_only_the_bad_source(tmp_path):
    text = "\n".join(
        [
            GOOD,
            source_toml("typo", colour='"red"', country='"gh"'),
            source_toml("fine-too", region='"mena"'),
            source_toml("Bad_Id"),
        ]
    )
    path = write(tmp_path, text)
    sources, errors = load_registry_lenient(path)
    assert [s.id for s in sources] == ["mfwa", "fine-too"]
    assert [(e.source_id, e.index, e.key) for e in errors] == [
        ("typo", 2, "colour"),
        ("typo", 2, "country"),
        (None, 4, "id"),
    ]
    assert all(str(path) in str(e) for e in errors)
    # The strict load refuses the same file.
    with pytest.raises(RegistryError):
        load_registry(path)


def test_lenient_load_is_fatal_on_duplicate_ids(tmp_path):
    path = write(tmp_path, GOOD + "\n" + GOOD)
    with pytest.raises(RegistryError, match="duplicate id"):
        load_registry_lenient(path)


def test_lenient_load_is_fatal_on_bad_toml(tmp_path):
    with pytest.raises(RegistryError, match="not valid TOML"):
        load_registry_lenient(write(tmp_path, "[[source]]\nid = \n"))


def test_lenient_load_of_a_clean_file_has_no_errors():
    sources, errors = load_registry_lenient(SHIPPED)
    assert errors == [] and sources == load_registry(SHIPPED)


def test_reading_the_same_registry_again_gives_fresh_lists_and_an_edited_file_is_read_anew(
    tmp_path,
):
    # A harvest reads its registry twice (before the crawl and in the crawl's plan); the second
    # read may be remembered, but never shared with what a caller did to the first.
    path = write(tmp_path, GOOD + source_toml("bad-one", country='"XX"'))
    first, errors = load_registry_lenient(path)
    assert [s.id for s in first] == ["mfwa"] and len(errors) == 1
    first.clear()
    errors.clear()
    again, errors_again = load_registry_lenient(path)
    assert [s.id for s in again] == ["mfwa"] and len(errors_again) == 1
    write(tmp_path, GOOD.replace('country = "GH"', 'country = "SN"'))
    [edited], none = load_registry_lenient(path)
    assert edited.country == "SN" and none == []


def test_an_invalid_registry_read_again_raises_a_fresh_error(tmp_path):
    # The remembered parse must not hand out the exception a previous strict load raised (with
    # that raise's traceback and context attached).
    path = write(tmp_path, source_toml("bad-one", country='"XX"'))
    raised = []
    for _ in range(2):
        with pytest.raises(RegistryError) as info:
            load_registry(path)
        raised.append(info.value)
    first, second = raised
    assert first is not second and str(first) == str(second)
    assert (second.path, second.source_id, second.key) == (first.path, first.source_id, first.key)
    assert len(traceback.extract_tb(second.__traceback__)) == len(
        traceback.extract_tb(first.__traceback__))
