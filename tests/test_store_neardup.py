# ruff: noqa: E501  (fixture prose: one paragraph a line, as the pipeline delivers it)
"""Near-duplicate grouping in the store (store.stories.NearDuplicate), on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy import inspect as sa_inspect

from roundups.cli import main as cli_main
from store.articles import upsert_articles
from store.models import ArticleKeys, ArticleRow, Curation, SourceRow, StoryRow
from store.queries import story_detail
from store.stories import BUCKET_DAYS, WINDOW_DAYS
from tests.test_similarity import (
    ALERT,
    FOOTER,
    FRENCH,
    GHANA_EN,
    GHANA_FR,
    HARBOUR_EN,
    HARBOUR_FR,
    LOOKALIKE,
    OTHER_TOPIC,
)

NOW = datetime(2024, 4, 1, tzinfo=UTC)
DAY = datetime(2024, 3, 12, 9, tzinfo=UTC)

REWRITE = """CPJ is alarmed by the arrest of a Nigerian editor and shares the following details.

Police in Lagos on 11 March 2024 arrested Tunde Adebayo-Okoro, editor of the news website Eko Ledger, hours after the site published an investigation into alleged fraud at a regional bank.

Officers from the cybercrime unit took Adebayo-Okoro from his home in Yaba and seized two laptops and his phone. His lawyer said the editor was questioned for nine hours about his sources and accused of cyberstalking under the Cybercrimes Act.

The MFWA condemns the detention and calls on the Inspector General of Police to order his immediate release. The law on cyberstalking has been used against at least 25 journalists since 2015, according to our monitoring.

CPJ joins the MFWA in urging the authorities to release him without delay."""


def _article(make: Any, *, source: str, guid: str, title: str, text: str, days: float = 0,
             language: str = "en", url: str | None = None) -> Any:
    return make(
        source_id=source,
        guid=guid,
        url=url or f"https://{source}.example.org/{guid}",
        title=title,
        text=text,
        language=language,
        published=DAY + timedelta(days=days),
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )


def _store(session: Any, *articles: Any) -> list[ArticleRow]:
    upsert_articles(session, list(articles), NOW)
    session.commit()
    rows = session.scalars(select(ArticleRow).order_by(ArticleRow.id)).all()
    by_guid = {r.guid: r for r in rows}
    return [by_guid[a.guid] for a in articles]


def _sources(session: Any, *rows: tuple[str, str, dict[str, Any]]) -> None:
    for sid, name, extra in rows:
        session.add(SourceRow(id=sid, name=name, homepage="", feeds=[], languages=[], extra=extra))
    session.commit()


def test_same_language_rewrite_joins_the_story_with_a_reason(store_session, store_make_article) -> None:
    (orig,) = _store(store_session, _article(
        store_make_article, source="mfwa", guid="a1",
        title="Nigeria: Lagos editor Tunde Adebayo-Okoro detained over bank fraud story", text=ALERT))
    (rewrite,) = _store(store_session, _article(
        store_make_article, source="cpj", guid="c1", days=1,
        title="Police hold online editor Tunde Adebayo-Okoro in Lagos", text=REWRITE))
    assert rewrite.story_id == orig.story_id
    assert rewrite.match_reason.startswith("minhash ") and f"with article {orig.id}" in rewrite.match_reason
    assert orig.match_reason == "first article of its story"
    story = store_session.get(StoryRow, orig.story_id)
    assert story.source_count == 2 and story.article_count == 2
    assert story.representative_article_id == orig.id
    # Each got its keys row, under its date bucket: 8 bytes of hash and one of band per key.
    keys = store_session.get(ArticleKeys, rewrite.id)
    assert len(keys.bands) > 40 and len(keys.hashes) == 8 * len(keys.bands)
    assert keys.bucket == int(rewrite.published.timestamp() // 86400) // BUCKET_DAYS
    assert store_session.get(ArticleKeys, orig.id) is not None


def test_unrelated_posts_sharing_a_members_footer_stay_apart(store_session, store_make_article) -> None:
    bodies = [
        ALERT,
        OTHER_TOPIC,
        "The regulator suspended the licence of Radio Kasapa for thirty days on Monday, citing a call-in programme in which a listener criticised the district chief executive.\n\nStaff said the station had received no written notice and that armed police had ordered presenters off the air during the morning show.",
        "A court in Tamale adjourned for the fourth time the defamation case brought by a member of parliament against the investigative reporter Abdul-Rahman Issah over a story on road contracts.\n\nThe defence said the repeated delays were meant to exhaust the reporter, who must travel 600 kilometres to attend every hearing.",
        "Unknown men beat the photojournalist Esi Mensah-Boateng as she covered a protest against illegal mining near Tarkwa, smashing her camera and taking her memory cards.\n\nShe was treated at the municipal hospital and has filed a complaint with the police, who said they had opened an investigation.",
    ]
    arts = [
        _article(store_make_article, source="mfwa", guid=f"f{i}", days=i,
                 title=f"Alert {i}: {body.split()[3]} {body.split()[4]}", text=body + "\n\n" + FOOTER)
        for i, body in enumerate(bodies)
    ]
    rows = [_store(store_session, a)[0] for a in arts]  # one batch each, as successive harvests
    assert len({r.story_id for r in rows}) == len(rows), [r.match_reason for r in rows]


def test_lookalike_events_stay_apart(store_session, store_make_article) -> None:
    a, b = _store(
        store_session,
        _article(store_make_article, source="mfwa", guid="l1",
                 title="Nigeria: Lagos editor Tunde Adebayo-Okoro detained over bank fraud story", text=ALERT),
        _article(store_make_article, source="mfwa", guid="l2", days=2,
                 title="Nigeria: Abuja reporter Halima Yusuf-Danjuma detained over hospital story", text=LOOKALIKE),
    )
    assert a.story_id != b.story_id


P = [
    "Police in Harare on 4 June 2024 detained the freelance journalist Farai Chikomba while he filmed a demonstration by vendors outside the city council offices on Rotten Row.",
    "Officers confiscated his camera and two phones and held him for eleven hours at Harare Central police station without access to his lawyer, Tendai Moyo of the Zimbabwe Lawyers for Human Rights.",
    "Chikomba was charged with participating in an unlawful gathering under the Maintenance of Peace and Order Act, a law that rights groups say is used to stop reporting on protests.",
    "He was released on bail of 50 dollars on 5 June and must report to the police twice a week until his trial, which was set for 19 July at the Harare magistrates court.",
    "His employer, the community newspaper Mbare Voice, said the footage he recorded had been deleted from the seized phones before they were returned to him.",
    "MISA Zimbabwe said it had recorded 31 arrests or detentions of journalists in the country since January, most of them during coverage of protests and evictions.",
]


def test_a_bridging_article_merges_two_stories_and_keeps_curation(store_session, store_make_article) -> None:
    first = _article(store_make_article, source="misa", guid="b1",
                     title="Zimbabwe: journalist Farai Chikomba detained in Harare", text="\n\n".join(P[:3]))
    second = _article(store_make_article, source="cpj", guid="b2", days=1,
                      title="Zimbabwe: Farai Chikomba freed on bail", text="\n\n".join(P[3:]))
    a, b = _store(store_session, first, second)
    assert a.story_id != b.story_id
    store_session.add_all([
        Curation(story_id=a.story_id, roundup="africa/2024-06", decision="pin", note="lead item"),
        Curation(story_id=b.story_id, roundup="africa/2024-07", decision="exclude"),
    ])
    store_session.commit()
    (bridge,) = _store(store_session, _article(
        store_make_article, source="ifex", guid="b3", days=2,
        title="Zimbabwe: Farai Chikomba detained, charged and freed on bail", text="\n\n".join(P)))
    store_session.expire_all()
    stories = {r.story_id for r in store_session.scalars(select(ArticleRow))}
    assert stories == {bridge.story_id} and bridge.story_id == min(a.story_id, b.story_id)
    assert "merged into story" in bridge.match_reason
    curations = store_session.scalars(select(Curation).order_by(Curation.roundup)).all()
    assert [(c.story_id, c.roundup, c.decision) for c in curations] == [
        (bridge.story_id, "africa/2024-06", "pin"),
        (bridge.story_id, "africa/2024-07", "exclude"),
    ]
    assert store_session.scalar(select(func.count()).select_from(StoryRow)) == 1


def test_a_bridge_without_curation_merges_and_refreshes_the_kept_story(
    store_session, store_make_article
) -> None:
    """Stories without curation are merged without merge_stories' ORM path (moved and deleted
    in a statement each): the kept story must still hold every article, with derived fields
    counted over all of them, and the dropped story must be gone."""
    a, b = _store(
        store_session,
        _article(store_make_article, source="misa", guid="n1",
                 title="Zimbabwe: journalist Farai Chikomba detained in Harare",
                 text="\n\n".join(P[:3])),
        _article(store_make_article, source="cpj", guid="n2", days=1,
                 title="Zimbabwe: Farai Chikomba freed on bail", text="\n\n".join(P[3:])),
    )
    assert a.story_id != b.story_id
    keep, drop = sorted((a.story_id, b.story_id))
    (bridge,) = _store(store_session, _article(
        store_make_article, source="ifex", guid="n3", days=2,
        title="Zimbabwe: Farai Chikomba detained, charged and freed on bail",
        text="\n\n".join(P)))
    store_session.expire_all()
    assert bridge.story_id == keep
    assert bridge.match_reason.endswith(f"; also matched story {drop}, merged into story {keep}")
    assert {r.story_id for r in store_session.scalars(select(ArticleRow))} == {keep}
    assert store_session.get(StoryRow, drop) is None
    story = store_session.get(StoryRow, keep)
    assert (story.article_count, story.source_count) == (3, 3)
    assert story.representative_article_id == a.id and story.published == a.published


JOINT = """Joint statement: Release journalist Farai Chikomba and drop the charges

We, the undersigned organisations, condemn the detention of the freelance journalist Farai Chikomba in Harare on 4 June 2024 and call on the authorities to drop the charge of participating in an unlawful gathering brought against him.

Chikomba was held for eleven hours without access to his lawyer while filming a demonstration by vendors, and his footage was deleted from his phones before they were returned.

Signatories:
Media Institute of Southern Africa (MISA) Zimbabwe
Committee to Protect Journalists
Reporters Without Borders (RSF)
Zimbabwe Union of Journalists

About MISA: MISA promotes media freedom in southern Africa."""


def test_joint_statement_signatories_are_matched_to_sources(store_session, store_make_article) -> None:
    _sources(
        store_session,
        ("misa", "Media Institute of Southern Africa (MISA) Zimbabwe", {}),
        ("cpj", "Committee to Protect Journalists", {}),
        ("rsf", "Reporters Without Borders", {"aliases": ["Reporters sans frontières"]}),
        ("ifex", "IFEX", {}),
    )
    a, b = _store(
        store_session,
        _article(store_make_article, source="misa", guid="j1", title="Joint statement: Release Farai Chikomba", text=JOINT),
        _article(store_make_article, source="ifex", guid="j2", days=0.5,
                 title="Joint statement: Release Farai Chikomba", text=JOINT.replace("About MISA: MISA promotes media freedom in southern Africa.", "")),
    )
    assert a.story_id == b.story_id
    story = store_session.get(StoryRow, a.story_id)
    assert story.kind == "joint-statement"
    assert story.signatories == [
        {"name": "Media Institute of Southern Africa (MISA) Zimbabwe", "source_id": "misa"},
        {"name": "Committee to Protect Journalists", "source_id": "cpj"},
        {"name": "Reporters Without Borders (RSF)", "source_id": "rsf"},
        {"name": "Zimbabwe Union of Journalists", "source_id": None},
        {"name": "IFEX", "source_id": "ifex"},  # co-published it without being in the list
    ]
    view = story_detail(store_session, a.story_id)
    assert view is not None and view.signatories == story.signatories and view.kind == "joint-statement"


def test_translation_joins_the_story(store_session, store_make_article) -> None:
    en, fr = _store(
        store_session,
        _article(store_make_article, source="mfwa", guid="t1",
                 title="Nigeria: Lagos editor Tunde Adebayo-Okoro detained", text=ALERT),
        _article(store_make_article, source="mfwa", guid="t2", days=1, language="fr",
                 url="https://mfwa.example.org/fr/t2",
                 title="Nigeria : le rédacteur en chef Tunde Adebayo-Okoro détenu", text=FRENCH),
    )
    assert fr.story_id == en.story_id
    assert fr.match_reason.startswith("translation: crosslang ") and f"article {en.id}" in fr.match_reason



def test_two_languages_sharing_only_a_country_stay_apart(store_session, store_make_article) -> None:
    """Alerts in English and French about two events in Ghana, the country their only shared
    feature (a feature score of 1.0), are two stories; a translation of the English one, naming
    the same reporter, outlet and date, joins it."""
    en, fr, other_en, other_fr = _store(
        store_session,
        _article(store_make_article, source="mfwa", guid="g1",
                 title="Ghana: radio presenter threatened after phone-in programme", text=GHANA_EN),
        _article(store_make_article, source="mfwa", guid="g2", days=2, language="fr",
                 title="Ghana : une journaliste agressée lors d'une manifestation", text=GHANA_FR),
        _article(store_make_article, source="mfwa", guid="h1", days=1,
                 title="Ghana: reporter Efua Owusu-Ansah detained for 48 hours in Takoradi",
                 text=HARBOUR_EN),
        _article(store_make_article, source="mfwa", guid="h2", days=2, language="fr",
                 title="Ghana : la reporter Efua Owusu-Ansah retenue 48 heures à Takoradi",
                 text=HARBOUR_FR),
    )
    assert len({en.story_id, fr.story_id, other_en.story_id}) == 3
    assert other_fr.story_id == other_en.story_id
    assert other_fr.match_reason.startswith("translation: crosslang ")


def test_distinct_reports_mislabelled_as_two_languages_stay_apart(store_session, tmp_path) -> None:
    """bench/harvest.py's corpus: 1,000 distinct English reports around a country name, which the
    language detector splits into Shona, English and Javanese, stored 4 feeds a batch as the
    harvest does. Between two "languages" the country (and a number of the title) is often all
    two reports share: before the minimum evidence for two languages, these 1,000 reports
    made 879 stories."""
    from bench.harvest import feed_jobs, write_feeds
    from scrapers.feedwork import FeedJob, prepare_feed

    write_feeds(tmp_path, 20, 50)
    feeds = [prepare_feed(FeedJob(body=body, url=url, headers={}, source=source, feed_url=url,
                                  max_entries=500, now=NOW, prepare_keys=True)).outcome.articles
             for body, source, url in feed_jobs(tmp_path, 20)]
    for i in range(0, len(feeds), 4):
        upsert_articles(store_session, [a for feed in feeds[i:i + 4] for a in feed], NOW)
        store_session.commit()
    languages = set(store_session.scalars(select(ArticleRow.language)))
    assert {"en", "sn"} <= languages
    assert store_session.scalar(select(func.count(func.distinct(ArticleRow.story_id)))) == 1000

def test_credited_original_is_the_representative(store_session, store_make_article) -> None:
    _sources(store_session, ("mfwa", "Media Foundation for West Africa", {}), ("ifex", "IFEX", {}))
    repost, orig = _store(
        store_session,
        # The repost is harvested first and is even dated earlier (time zones, feed lag).
        _article(store_make_article, source="ifex", guid="r1",
                 title="Nigeria: Lagos editor detained over bank fraud story",
                 text="This alert was first published by MFWA on 12 March 2024.\n\n" + ALERT),
        _article(store_make_article, source="mfwa", guid="r2", days=0.2,
                 title="Nigeria: Lagos editor Tunde Adebayo-Okoro detained over bank fraud story", text=ALERT),
    )
    assert repost.story_id == orig.story_id and repost.credited_source_id == "mfwa"
    story = store_session.get(StoryRow, orig.story_id)
    assert story.representative_article_id == orig.id
    assert story.published == repost.published  # the earliest date is kept
    assert story.kind == "alert"


def test_candidates_are_limited_to_the_date_window(store_session, store_make_article) -> None:
    (old,) = _store(store_session, _article(
        store_make_article, source="mfwa", guid="w1", title="Lagos editor detained", text=ALERT))
    (late,) = _store(store_session, _article(
        store_make_article, source="cpj", guid="w2", days=WINDOW_DAYS + 30,
        title="Police hold online editor Tunde Adebayo-Okoro in Lagos", text=REWRITE))
    assert late.story_id != old.story_id


def _keys_of(session: Any, article_id: int) -> tuple[int, set[tuple[int, int]]]:
    """``(seq, {(band, hash)})`` of an article's ``article_keys`` row."""
    row = session.execute(select(ArticleKeys).where(ArticleKeys.article_id == article_id)).scalar_one()
    session.expire(row)
    hashes = [int.from_bytes(row.hashes[i:i + 8], "little", signed=True) for i in range(0, len(row.hashes), 8)]
    return row.seq, set(zip(row.bands, hashes, strict=True))


def test_a_content_change_rewrites_the_keys_row(store_session, store_make_article) -> None:
    from store.similarity import index_keys
    from store.stories import _make_doc, _state

    art = _article(store_make_article, source="mfwa", guid="u1", title="Lagos editor detained", text=ALERT)
    (row,) = _store(store_session, art)
    seq, before = _keys_of(store_session, row.id)
    changed = _article(store_make_article, source="mfwa", guid="u1", title="Lagos editor detained",
                       text=OTHER_TOPIC)
    assert upsert_articles(store_session, [changed], NOW) == ["updated"]
    store_session.commit()
    new_seq, after = _keys_of(store_session, row.id)
    assert after and after != before and new_seq > seq
    # The row holds exactly the keys of the new text.
    store_session.refresh(row)
    doc = _make_doc(_state(store_session), row, observe=False)
    assert after == set(index_keys(doc))


def test_roundup_story_shows_why_articles_were_grouped(store_url, store_db, store_make_article, capsys) -> None:
    _, factory = store_db
    with factory() as session:
        orig, rewrite, fr = _store(
            session,
            _article(store_make_article, source="mfwa", guid="s1",
                     title="Nigeria: Lagos editor Tunde Adebayo-Okoro detained over bank fraud story", text=ALERT),
            _article(store_make_article, source="cpj", guid="s2", days=1,
                     title="Police hold online editor Tunde Adebayo-Okoro in Lagos", text=REWRITE),
            _article(store_make_article, source="mfwa", guid="s3", days=1, language="fr",
                     url="https://mfwa.example.org/fr/s3",
                     title="Nigeria : le rédacteur en chef Tunde Adebayo-Okoro détenu", text=FRENCH),
        )
        story_id = orig.story_id
        assert rewrite.story_id == fr.story_id == story_id
    assert cli_main(["story", str(story_id), "--db", store_url]) == 0
    out = capsys.readouterr().out
    assert "first article of its story" in out
    assert "minhash" in out and "translation: crosslang" in out
    assert cli_main(["story", str(story_id), "--db", store_url, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == story_id and data["kind"] == "alert"
    assert [a["why"].split()[0] for a in data["articles"]] == ["first", "minhash", "translation:"]
    assert cli_main(["stories", "--db", store_url, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["stories"]
    assert len(listed) == 1 and {s["source"] for s in listed[0]["sources"]} == {"mfwa", "cpj"}
    assert cli_main(["story", "999999", "--db", store_url]) == 1


@pytest.mark.parametrize("n", [3])
def test_batch_with_internal_duplicates_forms_one_story(store_session, store_make_article, n) -> None:
    rows = _store(store_session, *[
        _article(store_make_article, source=f"m{i}", guid=f"d{i}", days=i * 0.1,
                 title="Nigeria: Lagos editor Tunde Adebayo-Okoro detained", text=ALERT if i == 0 else REWRITE)
        for i in range(n)
    ])
    assert len({r.story_id for r in rows}) == 1


def test_a_new_process_relearns_boilerplate_from_the_newest_stored_articles(
    store_session, store_make_article
):
    """The learner is warmed from each source's last ``window`` stored articles (through the
    (source_id, id) index): a footer on the newest posts is boilerplate again in a new process; one
    only on posts older than the window is not."""
    from store.stories import _DbState, _warm

    old_footer = "Subscribe to the old newsletter of the Sahel press network for weekly alerts."
    new_footer = "Support independent reporting: donate to the Sahel press network today."
    start = datetime(2024, 3, 1, 8, tzinfo=UTC)
    words = ["court", "radio", "editor", "police", "permit", "studio", "border", "mayor"]
    articles = []
    for n in range(8):
        footer = old_footer if n < 4 else new_footer
        body = " ".join(f"{words[(n + k) % 8]}{n}x{k}" for k in range(40))
        articles.append(store_make_article(
            source_id="sahel", guid=f"s{n}", title=f"Alert {n}: {words[n]} case",
            text=f"{body}.\n\n{footer}", published=start + timedelta(days=n),
        ))
    upsert_articles(store_session, articles, start + timedelta(days=9))
    store_session.commit()

    state = _DbState()  # what a new process starts with
    state.learner.window = 4
    _warm(store_session, state, ["sahel"])
    learnt = state.learner.boilerplate("sahel")
    assert any(new_footer in seg for seg in learnt)
    assert not any(old_footer in seg for seg in learnt)
    assert "sahel" in state.warm


def test_cached_docs_drop_index_only_values_and_still_decide(store_session, store_make_article):
    """Docs kept between batches shed the values only band keys need (lead and feature
    signatures, word and feature sets), which every full garbage collection would walk; a later
    teaser (lead rule) and a later translation (feature score) still find the cached article."""
    from store.stories import _NOT_CACHED, _state

    (full,) = _store(store_session, _article(
        store_make_article, source="mfwa", guid="full",
        title="Nigeria: Lagos editor Tunde Adebayo-Okoro detained over bank fraud story", text=ALERT))
    cached = _state(store_session).get_doc(full.id, (full.content_hash, full.url, full.title))
    assert cached is not None
    assert not set(_NOT_CACHED) & set(cached.__dict__)
    assert "_signature" in cached.__dict__  # what a candidate is compared by stays
    gc.collect()
    assert not gc.is_tracked(cached.__dict__)  # full collections no longer walk it
    # Name features a decision computed stay, packed in one string (untracked): a Doc put back
    # keeps them, and unpacked they equal what the text gives.
    from store.similarity import extract_features

    state, stamp = _state(store_session), (full.content_hash, full.url, full.title)
    expected = extract_features(cached.title, cached.body, cached.language)
    assert cached.features == expected  # computed on use
    state.put_doc(full.id, stamp, cached)
    assert "features" not in cached.__dict__
    assert isinstance(cached.__dict__["_features_packed"], str)
    gc.collect()
    assert not gc.is_tracked(cached.__dict__)
    assert state.get_doc(full.id, stamp).features == expected
    teaser, french = _store(
        store_session,
        _article(store_make_article, source="ifex", guid="teaser", days=1,
                 title="Police hold online editor in Lagos after report on bank fraud",
                 text="Police in Lagos on 11 March 2024 arrested Tunde Adebayo-Okoro, editor of the "
                      "news website Eko Ledger, hours after the site published an investigation."),
        _article(store_make_article, source="mfwa", guid="fr", days=1, language="fr",
                 url="https://mfwa.example.org/fr/full",
                 title="Nigeria : le rédacteur en chef Tunde Adebayo-Okoro détenu", text=FRENCH),
    )
    assert teaser.story_id == full.story_id, teaser.match_reason
    assert teaser.match_reason.startswith("teaser lead ")
    assert french.story_id == full.story_id, french.match_reason


def test_an_article_without_keys_gets_an_empty_row_and_lookups_go_on(store_session, store_make_article) -> None:
    """An entry with no title and no text has no band keys: its row is empty, and the bucket's
    next lookups (which read that row) still find the other articles' keys."""
    (empty,) = _store(store_session, _article(store_make_article, source="gpfa", guid="x0", title="", text=""))
    row = store_session.get(ArticleKeys, empty.id)
    assert row is not None and row.hashes == b"" and row.bands == b""
    (orig,) = _store(store_session, _article(store_make_article, source="mfwa", guid="x1", days=0.2,
                                             title="Lagos editor detained", text=ALERT))
    (copy,) = _store(store_session, _article(store_make_article, source="cpj", guid="x2", days=0.4,
                                             title="Lagos editor detained", text=ALERT + "\n\nShared by CPJ."))
    assert copy.story_id == orig.story_id != empty.story_id


def test_bucket_runs_find_every_entry_of_a_hash_and_merge_past_the_limit() -> None:
    """``_Bucket``: sorted runs searched for a sorted probe give every entry whose hash is asked
    for (repeated hashes included), the same before and after the runs are merged; an empty
    set of rows adds no run."""
    import numpy as np

    from store.stories import KEY_CACHE_RUNS, _Bucket

    rng = np.random.default_rng(3)
    bucket = _Bucket()
    bucket.add(tuple(np.empty(0, dtype=np.int64) for _ in range(4)))
    assert bucket.runs == []
    rows = []
    for n in range(KEY_CACHE_RUNS + 3):
        hashes = rng.integers(0, 50, size=40, dtype=np.int64)  # few distinct: repeats
        cols = (hashes, rng.integers(0, 200, size=40), np.full(40, n, dtype=np.int64), np.full(40, n, dtype=np.int64))
        bucket.add(cols)
        rows += list(zip(*(c.tolist() for c in cols), strict=True))
        probe = np.unique(rng.integers(0, 60, size=25, dtype=np.int64))
        found = bucket.find(probe)
        got = sorted(t for run in found for t in zip(*(c.tolist() for c in run), strict=True))
        assert got == sorted(r for r in rows if r[0] in set(probe.tolist()))
        assert len(bucket.runs) <= KEY_CACHE_RUNS
    assert len(bucket.runs) < KEY_CACHE_RUNS + 3  # merged at least once


def test_bucket_bit_test_never_hides_a_stored_hash_as_it_grows() -> None:
    """``_Bucket``'s bit array, rebuilt larger as keys arrive, lets through every probe that is in
    a run (the search answers as without it) and turns away most that are not."""
    import numpy as np

    from store.stories import _BITS_PER_KEY, _Bucket

    rng = np.random.default_rng(5)
    bucket = _Bucket()
    stored = []
    sizes = []
    for n in range(14):
        hashes = rng.integers(0, 2**63, size=int(rng.integers(1, 4000)), dtype=np.int64)
        bucket.add((hashes, np.zeros_like(hashes), np.full_like(hashes, n), np.full_like(hashes, n)))
        stored.append(hashes)
        sizes.append(bucket.bits.size)
        every = np.concatenate(stored)
        absent = rng.integers(0, 2**63, size=5000, dtype=np.int64)
        probe = np.unique(np.concatenate([rng.choice(every, 300), absent]))
        asked = set(probe.tolist())
        assert set(bucket.maybe(probe).tolist()) >= set(every.tolist()) & asked
        assert bucket.bits.size * 8 >= every.size * _BITS_PER_KEY
        found = bucket.find(probe)
        got = sorted(h for run in found for h in run[0].tolist())
        assert got == sorted(h for h in every.tolist() if h in asked)
        passed = np.isin(bucket.maybe(absent), every).sum()
        assert bucket.maybe(absent).size - passed < absent.size * 0.15
    assert len(set(sizes)) > 2  # rebuilt larger more than once


def test_keys_rows_go_with_their_article(store_session, store_make_article) -> None:
    """One ``article_keys`` row per article; deleting an article deletes its row (the foreign
    key's cascade), and no other article's."""
    first, second = _store(
        store_session,
        _article(store_make_article, source="mfwa", guid="k1", title="Lagos editor detained", text=ALERT),
        _article(store_make_article, source="cpj", guid="k2", days=1, title="Unrelated", text=OTHER_TOPIC),
    )
    assert sorted(store_session.scalars(select(ArticleKeys.article_id))) == sorted([first.id, second.id])
    store_session.execute(delete(ArticleRow).where(ArticleRow.id == first.id))
    store_session.commit()
    assert store_session.scalars(select(ArticleKeys.article_id)).all() == [second.id]


def _at_revision(store_url: str, revision: str) -> Any:
    from store import db

    engine = db.make_engine(store_url)
    config = db.alembic_config()
    from alembic import command

    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return engine


def _two_articles(conn: Any) -> None:
    conn.execute(SourceRow.__table__.insert(), {"id": "s", "name": "S", "feeds": [], "languages": []})
    conn.execute(ArticleRow.__table__.insert(), [
        {"id": aid, "source_id": "s", "guid_key": f"k{aid}", "url": f"k{aid}", "published": NOW,
         "content_hash": "h", "topics": [], "first_seen": NOW, "last_seen": NOW, "updated_at": NOW}
        for aid in (1, 2)
    ])


def test_migration_0005_rekeys_stored_band_rows(store_url: str) -> None:
    """A store at revision 0004 keeps its band rows through the upgrade to 0005 (new key, same
    bands and hashes), and gets them back on a downgrade."""
    from alembic import command
    from sqlalchemy import text

    from store import db

    engine = _at_revision(store_url, "0004")
    try:
        config = db.alembic_config()
        stored = [(1, 0, 2**62 + 5, 330), (1, 207, 17, 330), (2, 3, 99, 331)]
        with engine.begin() as conn:
            _two_articles(conn)
            conn.execute(text("INSERT INTO article_band (article_id, band, hash, bucket) VALUES (:a, :b, :h, :u)"),
                         [{"a": a, "b": b, "h": h, "u": u} for a, b, h, u in stored])
            config.attributes["connection"] = conn
            command.upgrade(config, "0005")
        with engine.connect() as conn:
            got = conn.execute(text("SELECT id, article_id, band, hash, bucket FROM article_band ORDER BY id")).all()
        assert [tuple(r) for r in got] == [(a * 256 + b, a, b, h, u) for a, b, h, u in stored]
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0004")
        with engine.connect() as conn:
            back = conn.execute(text("SELECT article_id, band, hash, bucket FROM article_band ORDER BY article_id, band")).all()
        assert [tuple(r) for r in back] == stored
    finally:
        engine.dispose()


def test_migration_0006_packs_band_rows_into_one_keys_row_per_article(store_url: str) -> None:
    """A store at revision 0005 keeps every article's keys through the upgrade (one row per
    article, same bands, hashes and bucket; rows of no stored article are not carried over), and
    gets the band rows back on a downgrade."""
    from alembic import command
    from sqlalchemy import text

    from store import db

    engine = _at_revision(store_url, "0005")
    try:
        config = db.alembic_config()
        stored = [(1, 0, 2**62 + 5, 330), (1, 207, -17, 330), (1, 3, 0, 330), (2, 3, 99, 331)]
        with engine.begin() as conn:
            _two_articles(conn)
            conn.execute(text("INSERT INTO article_band (id, article_id, band, hash, bucket) "
                              "VALUES (:a * 256 + :b, :a, :b, :h, :u)"),
                         [{"a": a, "b": b, "h": h, "u": u} for a, b, h, u in [*stored, (7, 1, 5, 330)]])
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT article_id, bucket, seq, hashes, bands FROM article_keys "
                                     "ORDER BY article_id")).all()
            assert "article_band" not in sa_inspect(conn).get_table_names()
        unpacked = sorted(
            (aid, band, int.from_bytes(bytes(hashes)[8 * i:8 * i + 8], "little", signed=True), bucket)
            for aid, bucket, _, hashes, bands in rows for i, band in enumerate(bytes(bands))
        )
        assert unpacked == sorted(stored)
        assert [r[0] for r in rows] == [1, 2] and {r[2] for r in rows} == {1}
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0005")
        with engine.connect() as conn:
            back = conn.execute(text("SELECT id, article_id, band, hash, bucket FROM article_band "
                                     "ORDER BY article_id, band")).all()
        assert [tuple(r) for r in back] == [(a * 256 + b, a, b, h, u) for a, b, h, u in sorted(stored)]
    finally:
        engine.dispose()


def test_stored_candidates_are_the_keys_found_with_their_articles(store_session, store_make_article) -> None:
    """``_stored_candidates``: one entry per stored key whose hash is asked for, with its
    article's story, only for articles dated within [lo, hi]; the date (microseconds) only for
    articles outside the inner window, -1 inside it; the same on SQLite and PostgreSQL."""
    import numpy as np

    from store.stories import _micros, _state, _stored_candidates, band_bucket

    early, late = _store(
        store_session,
        _article(store_make_article, source="mfwa", guid="e1", title="Lagos editor detained", text=ALERT),
        _article(store_make_article, source="cpj", guid="e2", days=3.25, title="Court case", text=OTHER_TOPIC),
    )
    keys = {a.id: _keys_of(store_session, a.id)[1] for a in (early, late)}
    rows = [(b, h, aid) for aid, pairs in keys.items() for b, h in pairs]
    probe = np.unique(np.array([h for _, h, _ in rows], dtype=np.int64))
    buckets = sorted({band_bucket(early.published), band_bucket(late.published)})
    state = _state(store_session)
    inner = (DAY + timedelta(days=1), DAY + timedelta(days=30))  # the early article is outside

    def found(lo: datetime, hi: datetime) -> list[tuple[int, ...]]:
        cols = _stored_candidates(store_session, state, probe, buckets, lo, hi, inner)
        return sorted(zip(*(c.tolist() for c in cols), strict=True))

    facts = {early.id: (early.story_id, _micros(early.published)), late.id: (late.story_id, -1)}
    assert facts[early.id][1] > 0
    wide = found(DAY - timedelta(days=30), DAY + timedelta(days=30))
    assert wide == sorted((b, h, aid, *facts[aid]) for b, h, aid in rows)
    # The early article is outside [lo, hi]: only the late one's keys.
    late_only = found(DAY + timedelta(days=1), DAY + timedelta(days=30))
    assert late_only and {r[2] for r in late_only} == {late.id}
    nothing = _stored_candidates(store_session, state, np.array([1, 2, 3], dtype=np.int64), buckets,
                                 DAY - timedelta(days=30), DAY + timedelta(days=30), inner)
    assert all(col.size == 0 for col in nothing)


def test_the_key_cache_reads_only_rows_written_since_and_sees_other_writers(store_db, store_make_article) -> None:
    """Each lookup reads the rows numbered above the bucket's last read (none when nothing was
    written since); rows another connection commits are found by the next lookup; a rewritten
    row's old keys are not found any more; a rolled back write leaves nothing behind."""
    import numpy as np

    from store.stories import _state, _stored_candidates, band_bucket

    _, factory = store_db
    with factory() as session:
        (first,) = _store(session, _article(store_make_article, source="mfwa", guid="c1",
                                            title="Lagos editor detained", text=ALERT))
        first_keys = _keys_of(session, first.id)[1]
    bucket = band_bucket(first.published)
    window = (DAY - timedelta(days=30), DAY + timedelta(days=30))
    probe = np.unique(np.array([h for _, h in first_keys], dtype=np.int64))
    with factory() as session:
        state = _state(session)
        state.keys.buckets.clear()  # as a new process would start
        aid = _stored_candidates(session, state, probe, [bucket], *window, window)[2]
        assert set(aid.tolist()) == {first.id}
        assert state.keys.buckets[bucket].seq == _keys_of(session, first.id)[0]
        before = len(state.keys.buckets[bucket].runs)
        _stored_candidates(session, state, probe, [bucket], *window, window)
        assert len(state.keys.buckets[bucket].runs) == before  # nothing new was read
    # Another connection stores a copy under another source: the next lookup finds it.
    with factory() as other:
        (copy,) = _store(other, _article(store_make_article, source="cpj", guid="c2", days=0.5,
                                         title="Lagos editor detained", text=ALERT + "\n\nShared by CPJ."))
    with factory() as session:
        found = set(_stored_candidates(session, state, probe, [bucket], *window, window)[2].tolist())
        assert found == {first.id, copy.id}
    # The first article's text changes: its old keys no longer find it.
    with factory() as session:
        changed = _article(store_make_article, source="mfwa", guid="c1", title="Lagos editor detained",
                           text=OTHER_TOPIC)
        assert upsert_articles(session, [changed], NOW) == ["updated"]
        session.commit()
    with factory() as session:
        new_keys = _keys_of(session, first.id)[1]
        aid = _stored_candidates(session, state, probe, [bucket], *window, window)[2].tolist()
        # Found again only through a hash its new text shares with the old one (none, mostly).
        shared = {h for _, h in new_keys} & set(probe.tolist())
        assert aid.count(first.id) == len([k for k in new_keys if k[1] in shared])
        assert copy.id in aid
    # A write rolled back: its number is given again, and the next committed rows are found.
    with factory() as session:
        rolled_back = _article(store_make_article, source="rsf", guid="c3", days=0.7,
                                      title="Lagos editor detained", text=ALERT + "\n\nRSF version.")
        upsert_articles(session, [rolled_back], NOW)
        session.rollback()
    with factory() as session:
        (third,) = _store(session, _article(store_make_article, source="rsf", guid="c3", days=0.7,
                                            title="Lagos editor detained", text=ALERT + "\n\nRSF version."))
        found = set(_stored_candidates(session, state, probe, [bucket], *window, window)[2].tolist())
        assert third.id in found


def test_stop_keys_are_the_hashes_held_by_more_than_the_limit_of_stories() -> None:
    """``_stop_keys`` against a plain count of distinct stories per hash, on random rows where
    a hash's rows repeat stories (copies of one story count once) around the limit."""
    import numpy as np

    from store.stories import STOP_KEY_STORIES, _stop_keys

    rng = np.random.default_rng(5)
    found = 0
    for n in (0, STOP_KEY_STORIES, 300, 5000):
        hashes = rng.integers(0, 2**63 - 1, size=max(1, n // 40), dtype=np.int64)
        h = hashes[rng.integers(0, hashes.size, size=n)]
        s = rng.integers(1, 45, size=n).astype(np.int64)
        stories: dict[int, set[int]] = {}
        for key, story in zip(h.tolist(), s.tolist(), strict=True):
            stories.setdefault(key, set()).add(story)
        want = sorted(k for k, v in stories.items() if len(v) > STOP_KEY_STORIES)
        got = _stop_keys(h, s)
        assert got.dtype == np.int64 and got.tolist() == want
        found += len(want)
    assert found > 10


def test_concurrent_writers_number_keys_in_commit_order_and_a_later_copy_joins_both(store_db, store_make_article) -> None:
    """Writer A stores an article and holds its transaction open; writer B (another connection)
    stores a copy meanwhile. B's keys are written only after A commits (PostgreSQL: the keys'
    advisory lock; SQLite: its one write lock) and numbered above A's, so a process that has read
    B's number has read A's. Whatever B decided without seeing A, a third copy stored later finds
    both and they end in one story."""
    import threading
    import time as clock

    _, factory = store_db
    text = ALERT + "\n\nShared by the network."
    writer_a = factory()
    upsert_articles(writer_a, [_article(store_make_article, source="mfwa", guid="p1",
                                        title="Lagos editor detained", text=ALERT)], NOW)
    done: dict[str, float] = {}

    def write_b() -> None:
        with factory() as writer_b:
            upsert_articles(writer_b, [_article(store_make_article, source="cpj", guid="p2", days=0.1,
                                                title="Lagos editor detained", text=text)], NOW)
            writer_b.commit()
            done["b"] = clock.monotonic()

    thread = threading.Thread(target=write_b)
    thread.start()
    clock.sleep(0.5)
    assert thread.is_alive(), "B did not wait for A"
    writer_a.commit()
    committed = clock.monotonic()
    writer_a.close()
    thread.join(30)
    assert not thread.is_alive() and done["b"] >= committed
    with factory() as session:
        first, second = session.scalars(select(ArticleRow).order_by(ArticleRow.id)).all()
        assert _keys_of(session, first.id)[0] < _keys_of(session, second.id)[0]
        (third,) = _store(session, _article(store_make_article, source="rsf", guid="p3", days=0.2,
                                            title="Lagos editor detained", text=text + " RSF."))
        session.expire_all()
        stories = {a.story_id for a in session.scalars(select(ArticleRow))}
        assert stories == {third.story_id}, [a.match_reason for a in session.scalars(select(ArticleRow))]


@pytest.mark.parametrize("width", [128, 64, 8, 100, 3])
def test_equal_counts_counts_the_equal_columns_of_each_pair_of_rows(width: int) -> None:
    """The batched comparison of signature pairs (word-wise for widths that are multiples of 8
    under 256, plainly otherwise) gives ``(matrix[a] == matrix[b]).sum(axis=1)``, across chunks."""
    import numpy as np

    from store.stories import _EQUAL_CHUNK, _equal_counts

    rng = np.random.default_rng(width)
    matrix = rng.integers(0, 4, size=(300, width), dtype=np.uint64)  # many equal values
    matrix[7] = matrix[8]  # a fully equal pair
    pairs = 2 * _EQUAL_CHUNK + 17
    a, b = rng.integers(0, 300, pairs), rng.integers(0, 300, pairs)
    a[0], b[0] = 7, 8
    counts = _equal_counts(matrix, a, b)
    assert counts.tolist() == (matrix[a] == matrix[b]).sum(axis=1).tolist()
    assert counts[0] == width
