# ruff: noqa: E501  (fixture prose: one paragraph a line, as the pipeline delivers it)
from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store.similarity import (
    SCHEMES,
    BandIndex,
    BoilerplateLearner,
    Doc,
    NearDupMatcher,
    band_hashes,
    crosslang_score,
    index_keys,
    jaccard_estimate,
    normalise_text,
    same_story,
    signature,
    strip_boilerplate,
)

ROOT = Path(__file__).resolve().parent.parent
DAY = datetime(2024, 3, 12, 9, tzinfo=UTC)

ALERT = """Police in Lagos on 11 March 2024 arrested Tunde Adebayo-Okoro, editor of the news website Eko Ledger, hours after the site published an investigation into alleged fraud at a regional bank.

Officers from the cybercrime unit took Adebayo-Okoro from his home in Yaba and seized two laptops and his phone. His lawyer said the editor was questioned for nine hours about his sources and accused of cyberstalking under the Cybercrimes Act.

The MFWA condemns the detention and calls on the Inspector General of Police to order his immediate release. The law on cyberstalking has been used against at least 25 journalists since 2015, according to our monitoring.

Eko Ledger said it stood by its reporting and would publish the documents behind the story."""

LOOKALIKE = """Police in Abuja on 13 March 2024 arrested Halima Yusuf-Danjuma, a reporter with the daily Capital Mirror, two days after the paper published her story on deaths at a federal hospital.

Officers from the cybercrime unit took Yusuf-Danjuma from the newsroom in Wuse and seized her phone and notebooks. Her editor said she was questioned for six hours about her sources and accused of spreading false information under the Cybercrimes Act.

The MFWA condemns the detention and calls on the Inspector General of Police to order her immediate release. The law on cyberstalking has been used against at least 25 journalists since 2015, according to our monitoring.

Capital Mirror said the hospital had declined several requests for comment before publication."""

FRENCH = """La police de Lagos a arrêté le 11 mars 2024 Tunde Adebayo-Okoro, rédacteur en chef du site d'information Eko Ledger, quelques heures après la publication par le site d'une enquête sur une fraude présumée dans une banque régionale.

Des agents de l'unité de lutte contre la cybercriminalité ont interpellé Adebayo-Okoro à son domicile de Yaba et saisi deux ordinateurs portables et son téléphone. Selon son avocat, il a été interrogé pendant neuf heures sur ses sources.

La MFWA condamne cette détention et demande sa libération immédiate. La disposition sur le cyberharcèlement a été utilisée contre au moins 25 journalistes depuis 2015, selon notre suivi."""

OTHER_TOPIC = """A court in Gomel on 10 April 2024 sentenced Volha Siamionava, a former presenter at the regional radio station Gomel Volna, to four years in a penal colony for facilitating extremist activity.

Prosecutors said she had given an interview by phone to an independent television channel that the authorities declared extremist in 2022. She was arrested in December 2023 and has been held in pretrial detention since.

RSF condemns the sentence and calls for the release of the more than 30 media workers jailed in Belarus. The trial was held behind closed doors."""

FOOTER = """The Foundation monitors violations of press freedom in the sixteen countries of West Africa and works with national partners to hold perpetrators to account, publishing monthly reports, quarterly analyses and an annual index that ranks every country of the region on safety, legal environment and access to information.

Report a violation to our 24-hour alert desk by WhatsApp or email. Your identity will be protected and your report will be verified by our correspondents in each of the sixteen countries before publication.

Support independent journalism in West Africa: every gift helps us stand with reporters who are threatened, jailed or forced into exile, and keeps our alert desk open day and night."""


# Two alerts in two languages about different events in one country, neither naming anyone: the
# country is the only feature they share.
GHANA_EN = """A radio presenter in Ghana has received death threats after a phone-in programme on illegal mining, colleagues told us. The presenter, who asked not to be named, said callers promised to burn down the station if the programme went on air again.

The station manager said the threats were reported to the police, who have not yet opened an investigation. Local journalists say intimidation of reporters who cover mining has grown over the past year, and several have stopped covering the subject altogether.

We call on the authorities in Ghana to investigate the threats and to protect the presenter and the staff of the station."""

GHANA_FR = """Une journaliste de la presse écrite a été agressée par des militants lors d'une manifestation dans le nord du Ghana, selon sa rédaction. Les agresseurs lui ont arraché son appareil photo et ont effacé ses images avant de la laisser repartir.

La journaliste, qui souhaite garder l'anonymat, a porté plainte auprès de la gendarmerie locale. Sa rédaction affirme que plusieurs autres reporters ont été bousculés au cours de la même manifestation, sans que la police n'intervienne.

Nous demandons aux autorités du Ghana de retrouver et de poursuivre les auteurs de cette agression."""

# One alert in English and in French: the same reporter, outlet, port city, date and duration.
HARBOUR_EN = """Police in Takoradi on 14 May 2025 detained Efua Owusu-Ansah, a reporter with the online outlet Harbour Voice, after she filmed officers clearing traders from the fishing port.

Officers confiscated her camera and held her for 48 hours at the central police station before releasing her without charge. Harbour Voice said the footage had been deleted from the camera when it was returned.

We call on the police in Ghana to return her equipment intact and to discipline the officers responsible."""

HARBOUR_FR = """La police de Takoradi a interpellé le 14 mai 2025 Efua Owusu-Ansah, reporter du média en ligne Harbour Voice, après qu'elle a filmé des agents en train de chasser des commerçants du port de pêche.

Les agents ont confisqué sa caméra et l'ont retenue pendant 48 heures au commissariat central avant de la relâcher sans inculpation. Harbour Voice affirme que les images avaient été effacées de la caméra à sa restitution.

Nous demandons à la police du Ghana de lui rendre son matériel intact et de sanctionner les agents responsables."""


def doc(title: str, text: str, *, lang: str = "en", days: int = 0, url: str | None = None,
        source: str = "mfwa") -> Doc:
    return Doc(title, text, lang, url, DAY + timedelta(days=days), source)


def test_identical_text_is_same() -> None:
    a = doc("Lagos editor detained", ALERT, url="https://a.example/1")
    b = doc("Lagos editor detained", ALERT, url="https://b.example/2", source="ifex")
    decision = same_story(a, b)
    assert decision.same and decision.rule == "text-hash"


def test_tracking_parameters_same_url() -> None:
    a = doc("x", ALERT, url="https://mfwa.example/2024/03/lagos/")
    b = doc("y", "Other text", url="https://mfwa.example/2024/03/lagos/?utm_source=x&fbclid=1")
    assert same_story(a, b).rule == "url"


def test_reworded_headline_boilerplate_and_reordered_paragraphs_are_same() -> None:
    paras = ALERT.split("\n\n")
    edited = "\n\n".join([paras[0], paras[3], paras[2], paras[1]])
    edited += "\n\nFollow us on Facebook and X.\n\nSubscribe to our newsletter for weekly alerts."
    a = doc("Nigeria: Lagos editor detained over bank fraud story", ALERT)
    b = doc("Police hold online editor in Lagos after report on bank fraud", edited, days=1,
            source="ifex")
    decision = same_story(a, b)
    assert decision.same, decision.reason
    assert decision.reason.startswith("minhash") or decision.rule == "text-hash"


def test_unrelated_posts_sharing_long_footer_are_different() -> None:
    a = doc("Lagos editor detained", ALERT + "\n\n" + FOOTER)
    b = doc("Gomel presenter sentenced", OTHER_TOPIC + "\n\n" + FOOTER)
    assert not same_story(a, b).same
    # Even without stripping, and once the footer is learnt it is gone from the text.
    learner = BoilerplateLearner(min_docs=3)
    posts = [ALERT, OTHER_TOPIC, LOOKALIKE]
    for i, post in enumerate(posts):
        learner.observe("mfwa", post + "\n\n" + FOOTER, title=f"post {i}")
    assert set(learner.boilerplate("mfwa")) == set(FOOTER.split("\n\n"))
    stripped = learner.strip("mfwa", ALERT + "\n\n" + FOOTER)
    assert "Support independent journalism" not in stripped
    assert "Eko Ledger said" in stripped


def test_learner_does_not_mistake_a_reposted_story_for_boilerplate() -> None:
    learner = BoilerplateLearner(min_docs=3)
    for _ in range(4):  # the same story, posted again under the same headline
        learner.observe("ifex", ALERT, title="Lagos editor detained")
    assert learner.boilerplate("ifex") == []


def test_strip_boilerplate_generic_patterns_and_known_blocks() -> None:
    text = (
        "Journalists were beaten at the rally.\n\n"
        "Follow us on X and Instagram.\n\n"
        "Suivez-nous sur Facebook.\n\n"
        "Síguenos en X e Instagram.\n\n"
        "تابعونا على إكس لمعرفة آخر المستجدات.\n\n"
        "About CPJ: The Committee to Protect Journalists is an independent organisation.\n\n"
        "Faites un don pour soutenir notre travail.\n\n"
        "Our partners thank you."
    )
    assert strip_boilerplate(text) == "Journalists were beaten at the rally.\n\nOur partners thank you."
    assert strip_boilerplate(text, ["Our partners thank you."]) == (
        "Journalists were beaten at the rally."
    )
    # A news paragraph that merely mentions donations is kept.
    long_para = "The minister said the station had received donations from abroad. " * 3
    assert strip_boilerplate(long_para).strip() == long_para.strip()


def test_lookalike_events_are_different() -> None:
    a = doc("Nigeria: Lagos editor Tunde Adebayo-Okoro detained over bank fraud story", ALERT)
    b = doc("Nigeria: Abuja reporter Halima Yusuf-Danjuma detained over hospital story",
            LOOKALIKE, days=2)
    decision = same_story(a, b)
    assert not decision.same, decision.reason


def test_same_person_months_apart_is_different() -> None:
    later = ALERT.replace("11 March 2024", "2 September 2024").replace(
        "hours after the site published an investigation into alleged fraud at a regional bank",
        "after a court revoked his bail over a new article on land sales in Lekki",
    )
    a = doc("Lagos editor detained", ALERT)
    b = doc("Lagos editor detained again", later, days=174)
    # The texts share most of their wording; the date gap alone keeps them apart.
    assert jaccard_estimate(a.signature, b.signature) < NearDupMatcher().certain_threshold
    assert not same_story(a, b).same


def test_short_teaser_rule() -> None:
    full = doc("Nigeria: Lagos editor Tunde Adebayo-Okoro detained over bank fraud story", ALERT)
    teaser = doc(
        "Police hold online editor in Lagos after report on bank fraud",
        "Police in Lagos on 11 March 2024 arrested Tunde Adebayo-Okoro, editor of the news "
        "website Eko Ledger, hours after the site published an investigation.",
        source="ifex",
    )
    assert teaser.is_short
    decision = same_story(teaser, full)
    assert decision.same and decision.rule == "lead", decision.reason
    other = doc("Nigeria: Abuja reporter detained",
                "Police in Abuja on 13 March 2024 arrested Halima Yusuf-Danjuma, a reporter with "
                "the daily Capital Mirror.")
    assert not same_story(teaser, other).same


def test_translation_pair_is_same() -> None:
    en = doc("Nigeria: Lagos editor Tunde Adebayo-Okoro detained", ALERT)
    fr = doc("Nigeria : le rédacteur en chef Tunde Adebayo-Okoro détenu", FRENCH, lang="fr",
             days=1)
    score = crosslang_score(en, fr)
    assert score >= NearDupMatcher().crosslang_threshold
    decision = same_story(en, fr)
    assert decision.same and decision.rule == "crosslang", decision.reason
    assert not same_story(doc("Abuja reporter detained", LOOKALIKE), fr).same


def test_two_languages_sharing_only_a_country_are_not_one_story() -> None:
    """Every alert about a country names it: the feature Jaccard of two texts whose only shared
    feature is that name is 1.0, but they are not the same story (the minimum evidence)."""
    matcher = NearDupMatcher()
    en = doc("Ghana: radio presenter threatened after phone-in programme", GHANA_EN)
    fr = doc("Ghana : une journaliste agressée lors d'une manifestation", GHANA_FR, lang="fr",
             days=2)
    assert en.features.names == fr.features.names == {"ghana"}
    assert not en.features.neutral and not fr.features.neutral
    assert crosslang_score(en, fr) == 1.0
    decision = matcher.same_story(en, fr)
    assert not decision.same and decision.rule == "crosslang"
    assert "evidence 0 < 5" in decision.reason, decision.reason
    assert matcher.rejects(en, fr, jaccard_estimate(en.signature, fr.signature))
    # A city of that country is a place name too: still no evidence of one event.
    en_city = doc(en.title, GHANA_EN.replace("in Ghana", "in Kumasi, Ghana"))
    fr_city = doc(fr.title, GHANA_FR.replace("dans le nord du Ghana", "à Kumasi, au Ghana"), lang="fr")
    assert {"kumasi", "ghana"} <= en_city.features.names & fr_city.features.names
    assert crosslang_score(en_city, fr_city) == 1.0
    assert not matcher.same_story(en_city, fr_city).same
    assert matcher.rejects(en_city, fr_city,
                           jaccard_estimate(en_city.signature, fr_city.signature))


def test_translation_naming_the_same_reporter_date_and_outlet_is_one_story() -> None:
    from store.similarity import crosslang_evidence

    matcher = NearDupMatcher()
    en = doc("Ghana: reporter Efua Owusu-Ansah detained for 48 hours in Takoradi", HARBOUR_EN)
    fr = doc("Ghana : la reporter Efua Owusu-Ansah retenue 48 heures à Takoradi", HARBOUR_FR,
             lang="fr", days=1)
    # Shared: the date (3), the numbers 14 and 48 (2 each), the reporter's and the outlet's
    # names (2 a word); the year, Takoradi and Ghana are left out of the evidence.
    assert crosslang_evidence(en, fr) == 15.0
    assert crosslang_score(en, fr) >= matcher.crosslang_threshold
    decision = matcher.same_story(en, fr)
    assert decision.same and decision.rule == "crosslang", decision.reason
    assert not matcher.rejects(en, fr, jaccard_estimate(en.signature, fr.signature))
    # Neither joins the other language's alert about another event in the same country.
    assert not matcher.same_story(en, doc("Ghana", GHANA_FR, lang="fr")).same
    assert not matcher.same_story(doc("Ghana", GHANA_EN), fr).same

def test_arabic_translation_names_by_skeleton() -> None:
    en = doc("Egypt: blogger Mahmoud Fathy Ragab sentenced",
             "An emergency court in Alexandria on 2 October 2024 sentenced blogger Mahmoud Fathy "
             "Ragab to five years in prison for spreading false news over TikTok videos. Ragab "
             "was arrested in August 2023 and spent 14 months in pretrial detention, renewed "
             "every 45 days. " * 2)
    ar = doc("مصر: الحكم على المدون محمود فتحي رجب",
             "قضت محكمة طوارئ في الإسكندرية يوم 2 أكتوبر/تشرين الأول 2024 بسجن المدون محمود فتحي "
             "رجب خمس سنوات بتهمة نشر أخبار كاذبة. وكان رجب قد اعتقل في أغسطس/آب 2023 وقضى ١٤ "
             "شهرا في الحبس الاحتياطي كان يجدد كل 45 يوما. " * 2, lang="ar")
    assert "d:10-02" in ar.neutral and "n:14" in ar.neutral
    assert same_story(en, ar).same


def test_normalise_text_folds_accents_arabic_variants_and_digits() -> None:
    assert normalise_text("Déclaration CONJOINTE") == "declaration conjointe"
    assert normalise_text("أحمد") == normalise_text("احمد")
    assert normalise_text("٢٠٢٤") == "2024"


def test_signature_and_jaccard() -> None:
    a, b = signature(ALERT), signature(ALERT)
    assert a == b and jaccard_estimate(a, b) == 1.0
    assert jaccard_estimate(a, signature(OTHER_TOPIC)) < 0.1
    assert jaccard_estimate(signature(""), signature("")) == 0.0
    assert band_hashes(signature("")) == []


def test_band_hashes_shape_and_bigint_range() -> None:
    rows = band_hashes(signature(ALERT))
    scheme = SCHEMES["text"]
    assert [b for b, _ in rows] == list(range(scheme.first_band, scheme.first_band + scheme.bands))
    assert all(0 <= h < 2**63 for _, h in rows)
    keys = index_keys(doc("t", ALERT))
    assert len({b for b, _ in keys}) == len(keys)  # band numbers of the families do not overlap
    assert all(-(2**63) <= h < 2**63 for _, h in keys)


def test_band_hashes_stable_across_processes() -> None:
    code = (
        "from store.similarity import Doc, index_keys;"
        f"print(index_keys(Doc('t', {ALERT!r}, 'en')))"
    )
    outputs = set()
    for seed in ("1", "2", "random"):
        run = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        )
        outputs.add(run.stdout)
    assert len(outputs) == 1
    assert outputs.pop().strip() == str(index_keys(doc("t", ALERT)))


def test_candidate_path_finds_near_duplicate_and_not_unrelated() -> None:
    index = BandIndex()
    first = doc("Lagos editor detained", ALERT)
    first.id = 1
    index.add(1, index_keys(first))
    other = doc("Gomel presenter sentenced", OTHER_TOPIC)
    other.id = 2
    index.add(2, index_keys(other))
    new = doc("Police hold editor in Lagos", ALERT + "\n\nA new closing line from a repost.")
    candidates = index.candidates(index_keys(new))
    assert candidates[0] == 1
    match = NearDupMatcher().best_match(new, [first, other])
    assert match is not None and match[0] is first


@pytest.mark.parametrize("j", [0.3, 0.5, 0.7])
def test_s_curve_is_monotone(j: float) -> None:
    s = SCHEMES["text"]
    assert s.candidate_probability(j) < s.candidate_probability(j + 0.1)


def test_quick_rejection_never_refuses_a_pair_same_story_accepts() -> None:
    """``NearDupMatcher.rejects`` (with ``jaccard_many``) mirrors ``same_story``'s refusals of two
    long texts below the MinHash threshold, in one language or in two: whenever it says no, so
    does ``same_story``; it must not hide a positive decision."""
    import random

    from store.similarity import NearDupMatcher, jaccard_estimate, jaccard_many

    matcher = NearDupMatcher()
    base = datetime(2024, 3, 11, tzinfo=UTC)
    texts = [ALERT, LOOKALIKE, FRENCH, OTHER_TOPIC, ALERT + "\n\n" + FOOTER, "Short teaser on Lagos.",
             ALERT.replace("Lagos", "Abuja"), "\n\n".join(ALERT.split("\n\n")[::-1]),
             GHANA_EN, GHANA_FR]
    rng = random.Random(7)
    docs = []
    for i in range(60):
        text = rng.choice(texts)
        docs.append(Doc(
            title=rng.choice(["Editor detained in Lagos", "Court sentences presenter", ""]),
            text=text,
            language=rng.choice(["en", "en", "fr", None]),
            url=rng.choice(["https://a.example/1", "https://a.example/1?utm_source=x",
                            f"https://b.example/{i}"]),
            published=base + timedelta(days=rng.choice([0, 1, 50])),
            id=i,
        ))
    refused = across = passed = 0
    for doc in docs:
        others = [d for d in docs if d is not doc and not d.is_short] if not doc.is_short else []
        for other, j in zip(others, jaccard_many(doc, others), strict=True):
            assert j == jaccard_estimate(doc.signature, other.signature)
            two_languages = bool(doc.language and other.language
                                 and doc.language != other.language)
            if matcher.rejects(doc, other, j):
                refused += 1
                across += two_languages
                assert not matcher.same_story(doc, other).same
            else:
                passed += 1
    # Both kinds of refusal happen (one language; two languages, by score or by dates), and
    # pairs are let through to same_story.
    assert refused > 100 and across > 50 and passed > 100


def test_packed_features_come_back_equal_over_the_dedup_corpus():
    """The store's doc cache keeps a candidate's name features packed in one string (untracked
    by the garbage collector): unpacked, they must equal what the text gives, in every language
    of bench/dedup.py's corpus, and an item holding a separator is not packed at all."""
    import gc

    from bench.dedup import load_corpus
    from store.similarity import Features, extract_features, pack_features, unpack_features

    records = load_corpus()
    assert {r.language for r in records} >= {"en", "fr", "es", "ar"}
    for record in records:
        features = extract_features(record.title, record.text, record.language)
        packed = pack_features(features)
        assert isinstance(packed, str) and not gc.is_tracked(packed)
        assert unpack_features(packed) == features, record.id
    empty = Features(frozenset(), frozenset(), (), frozenset(), True)
    assert unpack_features(pack_features(empty)) == empty
    for bad in ("a\x1eb", "a\x1db", "a\x1fb", ""):
        assert pack_features(Features(frozenset({bad}), frozenset(), (), frozenset(), False)) is None
        assert pack_features(Features(frozenset(), frozenset(), (("x", bad),), frozenset(), False)) is None


# The name reading as it was before extract_features read the title and lead in the same pass
# as the whole text: a token loop over each of them, every sentence or line end one token.
_REF_NAME_TOKEN = __import__("re").compile(r"[^\W\d_][\w'’\-]*|[.!?:;؟\n]")


def _reference_name_sequences(text: str) -> tuple[list[list[str]], set[str]]:
    from store.similarity import _NAME_PARTICLES, _NAME_STOP, normalise_text

    seqs: list[list[str]] = []
    lower_raw: set[str] = set()
    current: list[str] = []
    sentence_start = started_sentence = True

    def close() -> None:
        nonlocal current
        if current and not (started_sentence and len(current) == 1):
            seqs.append(current)
        current = []

    for tok in _REF_NAME_TOKEN.findall(text):
        if tok in ".!?:;؟\n":
            close()
            sentence_start = True
            continue
        if tok[0].isupper() and not tok.isupper():
            norm = normalise_text(tok)
            if norm in _NAME_STOP:
                close()
            else:
                if not current:
                    started_sentence = sentence_start
                current.append(norm)
        elif current and tok in _NAME_PARTICLES:
            current.append(tok)
        else:
            if tok[0].islower():
                lower_raw.add(tok)
            close()
        sentence_start = False
    close()
    cleaned = []
    for seq in seqs:
        while seq and seq[-1] in _NAME_PARTICLES:
            seq.pop()
        if seq:
            cleaned.append(seq)
    return cleaned, {normalise_text(w) for w in lower_raw}


def _reference_names(title: str, text: str) -> tuple[frozenset[str], tuple[tuple[str, ...], ...]]:
    from store.similarity import _HANDLE, _HASHTAG, _NAME_PARTICLES, _URL, _segments

    clean = _HASHTAG.sub(" ", _HANDLE.sub(" ", _URL.sub(" ", f"{title}\n{text}")))
    seqs, lower_seen = _reference_name_sequences(clean)
    names = {w for seq in seqs for w in seq
             if len(w) >= 3 and w not in _NAME_PARTICLES and w not in lower_seen}
    lead_seqs, _ = _reference_name_sequences(f"{title}\n" + "\n".join(_segments(text)[:2]))
    lead = tuple(tuple(w for w in seq if w in names) for seq in lead_seqs
                 if len(seq) >= 2 and any(w in names for w in seq))
    return frozenset(names), lead


NAME_CASES = [
    # (title, text): paragraphs, blank lines, particles, sentence starts, stop words
    ("Ahmed al Mansour detained", "Police in Cairo held Ahmed al Mansour and Sara de la Cruz.\n\n"
     "Colleagues of Mansour said Omar da Silva was freed.\n\nLater, Omar da Silva spoke to "
     "Reporters Without Borders in Paris."),
    ("", "Jean-Pierre O'Brien met Ana María Núñez.\nvan der Berg said nothing.\n\n\nMaría Núñez "
     "left; Ana de\nda Costa stayed"),
    # a link, a handle and a hashtag in the lead: blanked in the whole text, not in the lead
    ("Statement", "See https://Ex.org/Juan Pablo Gomez now. Follow @Juan_Pablo and #FreeJuan Pablo "
     "Gomez Torres.\n\nJuan Pablo Gomez Torres is held by WWW.Police.gov Maria Lopez."),
    # one long line: the lead is its first two sentences, one of them ended by "。"
    ("", " ".join(["Kofi Mensah and Ama Owusu reported from Accra。 Yaw Boateng Asante Kotoko "
                   "filmed it."] * 8)),
    ("", " ".join(["Kofi Mensah and Ama Owusu reported from Accra. Yaw Boateng Asante Kotoko "
                   "filmed it!"] * 8)),
    # the lead's tokens start the text's but its last name run goes on in the text
    ("", "Kofi Mensah reported. Kumasi。 Yaw watched. " + "the crowd was large. " * 16),
    ("Title Only Here", ""),
    ("", ""),
    ("Ahmed", "Ahmed\nMohamed Ali\n\nMohamed Ali Hassan wrote: Ali was right: ali."),
    ("DE LA CRUZ", "La Cruz de Da.\n\nDa de Da de"),
]


def test_name_features_equal_the_two_pass_reading(monkeypatch):
    """extract_features reads the names of the title and lead in the pass over the whole text
    when the lead's tokens start the text's; its names and lead names must be what reading them
    separately gave, on the dedup corpus, on hand-made cases where the single pass cannot be
    used (a link or handle in the lead, a sentence ended by "。") and on random word soup."""
    import random

    import store.similarity as sim
    from bench.dedup import load_corpus

    passes = {"one": 0, "two": 0}
    runs = sim._name_runs

    def counting(toks, lead_end=0):
        if lead_end:
            passes["one"] += 1
        else:
            passes["two"] += 1
        return runs(toks, lead_end)

    lead_end = sim._lead_end

    def counting_cuts(text):
        end = lead_end(text)
        passes["cut"] += end is not None
        return end

    passes["cut"] = 0
    monkeypatch.setattr(sim, "_name_runs", counting)
    monkeypatch.setattr(sim, "_lead_end", counting_cuts)
    cases = list(NAME_CASES) + [(r.title, r.text) for r in load_corpus()]
    rng = random.Random(5)
    words = ["Ahmed", "al", "Mansour", "de", "la", "Cruz", "Da", "da", "Silva", "the", "The",
             "Police", "said", "ÉTAT", "Étienne", "UN", "محمد", "12", ".", "!", ":", "\n", "\n\n",
             "。", "http://x.org/A", "@Ana", "#Ana", "Ana", "ana", "O'Brien", "-", "’s", "İzmir"]
    for _ in range(400):
        soup = [rng.choice(words) for _ in range(rng.randrange(0, 60))]
        ends = (("", " ", " ", "\n", "\n \n", "\r\n", " \t\n\n") if rng.random() < 0.7
                else ("", " "))  # one line: sentences
        text = rng.choice(("", " ", "\n\n ")) + "".join(w + rng.choice(ends) for w in soup + soup)
        cases.append((" ".join(rng.choice(words) for _ in range(rng.randrange(0, 5))), text))
    for title, text in cases:
        features = sim.extract_features(title, text, "en")
        assert (features.names, features.lead_names) == _reference_names(title, text), (title, text)
    # every way was taken: one pass cut at the lead's end, one pass after comparing, two passes
    assert passes["cut"] > 300 and passes["one"] - passes["cut"] > 10 and passes["two"] > 50


def test_name_tokens_equal_the_regex_reading():
    """_name_tokens reads ASCII text without the regex: the same items as _NAME_TOKEN.findall,
    with and without a start and an end, on random strings of every ASCII character, of the
    characters that decide the reading (letters, digits, "_", "'", "-", ends, spaces) and of
    non-ASCII text (which goes to the regex), and on the dedup corpus."""
    import random

    from bench.dedup import load_corpus
    from store.similarity import _NAME_TOKEN, _name_tokens

    rng = random.Random(11)
    pools = ["".join(map(chr, range(128))), "aZq09_'-.!?:;\n \t,()\x1f", "aB1 .-'_\n:",
             "aZ0_'-. ’é؟。"]
    texts = [r.title + "\n" + r.text for r in load_corpus()]
    texts += ["".join(rng.choice(pool) for _ in range(rng.randrange(0, 50)))
              for pool in pools for _ in range(5000)]
    texts += ["", "0", "-a", "12abc. 3.", "x. 12. y", "a.-.b", "'O'Brien'", "a\n\n.\n b"]
    ascii_texts = 0
    for text in texts:
        ascii_texts += text.isascii()
        assert _name_tokens(text) == _NAME_TOKEN.findall(text), text
        cut = rng.randrange(0, len(text) + 1)
        assert _name_tokens(text, 0, cut) == _NAME_TOKEN.findall(text, 0, cut), (text, cut)
        assert _name_tokens(text, cut) == _NAME_TOKEN.findall(text, cut), (text, cut)
    assert 10_000 < ascii_texts < len(texts) - 1_000


def test_url_scan_is_skipped_only_where_no_link_can_be():
    from store.similarity import _URL, _may_have_url

    linked = ["see https://x.org/a", "HTTP://X.ORG", "httpſ://x.org", "Www.Example.org", "wWW.x",
              "a www.b", "WWW.police.gov says", "İ www.x"]
    for text in linked:
        assert _URL.search(text) and _may_have_url(text), text
    for text in ["no link here.", "new law. show", "http: //x", "ww.x", "www,x", "", "w.w.w."]:
        assert not _URL.search(text)
    assert not _may_have_url("no link here, nothing to scan")


def test_batched_minhash_equals_one_array_at_a_time():
    """_minhash_many works over blocks of concatenated arrays in one reused matrix: each row
    must be _minhash of its array, for every scheme, with empty arrays, arrays larger than a
    block and batches of many small ones."""
    import numpy as np

    from store.similarity import _BLOCK_CELLS, SCHEMES, _minhash, _minhash_many

    rng = np.random.default_rng(8)
    for scheme in SCHEMES.values():
        block = _BLOCK_CELLS // scheme.num_perm
        for lengths in ([], [0], [0, 0, 3], [1, 5, 0, 200] * 30, [block + 7, 3, block, 0, 1],
                        [block - 1, 2, block - 2, 3], [2 * block]):
            arrays = [rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False) for n in lengths]
            got = _minhash_many(arrays, scheme)
            assert got.shape == (len(arrays), scheme.num_perm)
            for row, array in zip(got, arrays, strict=True):
                assert row.tolist() == _minhash(np.unique(array), scheme).values.tolist()


def test_crosslang_score_equals_the_weighted_jaccard_over_the_dedup_corpus():
    """``_features_score`` counts the names' union from the set sizes and caches the item
    weights: over pairs of bench/dedup.py's corpus (every language, Latin and Arabic script
    both ways) it must give exactly the float of the plain weighted Jaccard."""
    from bench.dedup import load_corpus
    from store.similarity import (
        _NAME_WEIGHT,
        _features_score,
        _latin_skeleton,
        _neutral_weight,
        extract_features,
    )

    def reference(fa, fb) -> float:
        common = sum(_neutral_weight(x) for x in fa.neutral & fb.neutral)
        union = sum(_neutral_weight(x) for x in fa.neutral | fb.neutral)
        if fa.arabic == fb.arabic:
            common += _NAME_WEIGHT * len(fa.names & fb.names)
            union += _NAME_WEIGHT * len(fa.names | fb.names)
        else:
            latin, arab = (fb, fa) if fa.arabic else (fa, fb)
            for w in latin.names:
                forms = _latin_skeleton(w)
                if forms:
                    union += _NAME_WEIGHT
                    common += _NAME_WEIGHT if forms & arab.skeletons else 0
        return common / union if union else 0.0

    records = load_corpus()[::3]
    features = [extract_features(r.title, r.text, r.language) for r in records]
    kinds = set()
    for fa in features:
        for fb in features:
            got, want = _features_score(fa, fb), reference(fa, fb)
            assert repr(got) == repr(want)
            kinds.add((fa.arabic, fb.arabic, 0 < want < 1))
    # Every combination of scripts, each with partial overlaps, and same-script pairs without.
    assert {(a, b, True) for a in (False, True) for b in (False, True)} <= kinds
    assert (False, False, False) in kinds and (True, True, False) in kinds


def test_lead_words_read_from_the_texts_words_equal_the_joined_lead_reading(monkeypatch):
    """prepare_keys takes an ASCII lead's words from the body's words it already has
    (``_lead_words(title, body, tokens)``); they must be the content words of the title and the
    body's first LEAD_WORDS words as Doc.lead_words reads them, on the dedup corpus and on
    random ASCII soup (every kind of space, punctuation, digits, "_", links, long texts)."""
    import random

    import store.similarity as sim
    from bench.dedup import load_corpus

    slow = {"calls": 0}
    content_words = sim._content_words

    def counting(text):
        slow["calls"] += 1
        return content_words(text)

    cases = [(r.title, r.text) for r in load_corpus()]
    rng = random.Random(17)
    words = ["Ahmed", "the", "POLICE", "said", "12", "x_y", "_", "a-b", "O'Brien", "...", ",",
             "ok.", "\t", "\n", "\r\n", "  ", "\x0b", "\x1f"]
    # Each of these sends the lead to the joined reading.
    rare = ["www.example.org", "http://x.org/A", "https", "é"]

    def word():
        return rng.choice(rare) if rng.random() < 0.01 else rng.choice(words)

    for _ in range(3000):
        soup = [word() for _ in range(rng.randrange(0, 160))]
        text = "".join(w + rng.choice((" ", " ", "", "\n", "\t")) for w in soup)
        title = " ".join(word() for _ in range(rng.randrange(0, 6)))
        cases.append((title, text))
    monkeypatch.setattr(sim, "_content_words", counting)
    fast = 0
    for title, text in cases:
        doc = sim.Doc(title=title, text=text)
        expected = doc.lead_words  # the joined lead's reading
        body = doc.body
        before = slow["calls"]
        got = sim._lead_words(title, body, sim._words(sim.normalise_text(body)))
        fast += slow["calls"] == before
        assert got == expected, (title, body)
    assert fast > 1000 and fast < len(cases) - 500  # both readings were taken


def test_set_hashes_are_each_sets_distinct_token_hashes(monkeypatch):
    """_set_hashes reads a batch's hashes from the token cache at once when every string is
    cached and no two cached strings share a hash; otherwise set by set. Either way, each set's
    hashes are the distinct _token_hash values of its strings."""
    import numpy as np

    import store.similarity as sim

    monkeypatch.setattr(sim, "_TOKEN_CACHE", {})
    monkeypatch.setattr(sim, "_TOKEN_HASHES", set())
    sets = [frozenset({"press", "freedom", "ghana"}), frozenset(), frozenset({"ghana", "accra"}),
            frozenset(f"w{i}" for i in range(50))]

    def per_set(hashes, sizes):
        ends = np.cumsum(sizes).tolist()
        return [sorted(hashes[end - size:end].tolist()) for end, size in zip(ends, sizes, strict=True)]

    expected = [sorted({sim._token_hash(x) for x in s}) for s in sets]
    # all cached, no shared hash: the one-pass reading
    assert per_set(*sim._set_hashes(sets)) == expected
    # a string never seen: set by set, and it is cached on the way
    sets.append(frozenset({"unseen", "press"}))
    expected.append(sorted({sim._token_hash(x) for x in ("unseen", "press")}))
    sim._TOKEN_CACHE.pop("unseen")
    got = sim._set_hashes(sets)
    assert per_set(*got) == expected and "unseen" in sim._TOKEN_CACHE
    # two cached strings sharing a hash: a set holding both has it once
    sim._TOKEN_CACHE["twin"] = sim._TOKEN_CACHE["press"]
    sets.append(frozenset({"twin", "press", "ghana"}))
    expected.append(sorted({sim._token_hash("press"), sim._token_hash("ghana")}))
    hashes, sizes = sim._set_hashes(sets)
    assert per_set(hashes, sizes) == expected and sizes[-1] == 2


def test_evidence_bounds_never_below_a_pairs_shared_evidence() -> None:
    """``NearDupMatcher.rejects`` refuses a pair in two languages when the evidence bound of
    its two texts (``Doc.evidence_bounds``) is below the minimum evidence, without scoring it:
    the bound must never be below the pair's evidence (``crosslang_evidence``), between every
    two texts of bench/dedup.py's corpus (four languages, Latin and Arabic script), and it is
    the sum of the weights of a text's own non-place features."""
    from bench.dedup import load_corpus
    from store.similarity import _evidence_bounds, _pair_evidence_bound, crosslang_evidence

    en = doc("Ghana: reporter Efua Owusu-Ansah detained for 48 hours in Takoradi", HARBOUR_EN)
    assert en.features.neutral == {"d:05-14", "n:14", "n:48", "n:2025"}
    assert en.features.names == {"efua", "owusu-ansah", "harbour", "voice", "ghana", "takoradi"}
    # The date 3, the two numbers 2 each, not the year; two per name, not the two places.
    assert en.evidence_bounds == _evidence_bounds(en.features) == (7.0, 8.0, False)

    docs = [Doc(r.title, r.text, r.language) for r in load_corpus()]
    scripts = set()
    tight = 0
    for a in docs:
        for b in docs:
            if a is b or a.language == b.language:
                continue
            most = _pair_evidence_bound(a.evidence_bounds, b.evidence_bounds)
            evidence = crosslang_evidence(a, b)
            assert evidence <= most, (a.title, b.title)
            scripts.add(a.evidence_bounds[2] != b.evidence_bounds[2])
            tight += evidence == most and evidence >= NearDupMatcher().crosslang_min_evidence
    assert scripts == {False, True} and tight
