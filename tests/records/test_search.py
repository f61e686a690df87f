"""Finding speakers: names in any script, the transliteration skeleton, nicknames and the keys
each engine indexes, the similarity measures, and search itself: misspelling, transliteration,
word order, honorifics, best first, paging, the actor's own organisation only, merged records
left out, likely duplicates on creation, and a second source of candidates merged in."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.db import db
from core.errors import PermissionDenied
from hub.records.models import SpeakerName
from hub.records.speakers import names, search
from hub.records.speakers import services as speakers

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=14)
WORDS = st.lists(WORD, min_size=1, max_size=4).map(" ".join)
LENIENT = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def world(speaker_world):
    return speaker_world


def is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def plain(actor, name, *aliases):
    """A speaker with only a name and plain aliases."""
    return speakers.create_speaker(actor, {"display_name": name, "aliases": list(aliases)})


def found(actor, query, **kwargs):
    return [m.speaker_id for m in search.search_speakers(actor, query, **kwargs)]


# --- normalisation, skeleton, similarity ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "normalised", "ordered"),
    [
        ("Dr. José  Núñez", "dr jose nunez", "dr jose nunez"),
        ("AL-HASSAN, Yusuf", "al hassan yusuf", "al hassan yusuf"),
        ("Zoë O'Brien-Smith", "zoe obrien smith", "obrien smith zoe"),
        ("李 Wei", "li wei", "li wei"),
        ("Łukasz Żółć", "lukasz zolc", "lukasz zolc"),
        ("Тимофей Овчинников", "timofey ovchinnikov", "ovchinnikov timofey"),
    ],
)
def test_normalise_and_sort(name, normalised, ordered):
    assert search.normalise(name) == normalised
    assert search.sorted_tokens(normalised) == ordered


@pytest.mark.parametrize(
    "family",
    [
        ["mohammed", "muhammad", "mohamed", "mohammad", "muhammed"],
        ["yusuf", "yousef", "youssef", "yousuf"],
        ["fatima", "fatimah"],
        ["hussain", "hussein", "husain"],
        ["abdullah", "abdulla", "abdallah"],
        ["khalid", "khaled"],
        ["omar", "umar"],
        ["ibrahim", "ebrahim", "ibraheem"],
        ["qasim", "kasim", "kassim"],
        ["chaudhry", "choudhury", "chaudhary"],
        ["zainab", "zaynab"],
        ["aisha", "ayesha", "aysha"],
        ["stephen", "stefen"],
        ["aleksandr", "alexandr"],
        ["vladimir", "wladimir"],
    ],
)
def test_transliterations_share_a_skeleton(family):
    assert len({names.skeleton(name) for name in family}) == 1


def test_different_names_keep_different_skeletons():
    assert names.skeleton("mohammed") != names.skeleton("ahmed")
    assert names.skeleton("yusuf") != names.skeleton("yasmin")


@given(words=st.lists(WORD, min_size=1, max_size=4))
def test_the_skeleton_of_words_is_the_skeleton_of_each_word(words):
    # Rules never span a space, so a name's skeleton is its words' skeletons side by side.
    assert names.skeleton(" ".join(words)).split() == [
        s for s in (names.skeleton(w) for w in words) if s
    ]


@given(a=WORDS, b=WORDS)
def test_name_score_is_in_range_and_one_only_for_the_same_name(a, b):
    score = names.name_score(a, b)
    assert 0.0 <= score <= 1.0
    assert (score == 1.0) == (a == b)


@given(query=WORDS)
def test_the_same_words_in_another_order_score_just_below_the_same_name(query):
    words = query.split()
    assume(len(set(words)) > 1)
    assert names.name_score(query, " ".join(reversed(words))) >= 0.99 or (
        " ".join(reversed(words)) == query
    )


@LENIENT
@given(name=st.sampled_from(["Тимофей Овчинников", "郑丽华", "Li Xiu-Fang", "معن سفيان"]) | WORDS)
def test_every_stored_key_is_found_through_the_engines_index(app, make_org, name):
    """Keys are computed in Python only (`names.name_keys`) and stored; each engine's index
    (PostgreSQL: GIN over the key array; SQLite: an FTS5 table whose tokens are the keys) must
    find the row by every one of them, in any script."""
    assume(names.latin(name))
    org = make_org()
    session = db.session()
    (values,) = search.name_rows(_bare_speaker(org).id, org.id, [name])
    row = SpeakerName(**values)
    session.add(row)
    session.flush()
    for key in row.keys.split():
        if is_postgres():
            statement = "SELECT id FROM speaker_names WHERE speaker_name_key_array(keys) && :k"
            hits = session.scalars(sa.text(statement), {"k": [key]}).all()
        else:
            statement = (
                "SELECT rowid FROM speaker_names_fts_keys WHERE speaker_names_fts_keys MATCH :m"
            )
            hits = session.scalars(sa.text(statement), {"m": f'"{key}"'}).all()
        assert row.id in hits, (name, key)


def _bare_speaker(org):
    from hub.records.models import Distribution, Speaker

    speaker = Speaker(
        owner_org_id=org.id,
        distribution=Distribution.INTERNAL,
        display_name="x",
        retention_until=speakers.retention_default(),
    )
    db.session.add(speaker)
    db.session.flush()
    return speaker


@LENIENT
@given(a=WORDS, b=WORDS)
def test_trigram_similarity_agrees_with_pg_trgm(app, a, b):
    if not is_postgres():
        pytest.skip("pg_trgm is PostgreSQL's")
    expected = db.session.scalar(sa.text("SELECT similarity(:a, :b)"), {"a": a, "b": b})
    assert names.trigram_similarity(a, b) == pytest.approx(expected, abs=1e-6)


def test_query_keys_meet_name_keys_within_one_edit():
    owner = uuid.uuid4()
    prefix = names.key_prefix(owner)
    held = set(names.name_keys(owner, "quillfeather").split())
    for typo in ("quillfeather", "quilfeather", "quillfeahter", "quillfeathers", "qillfeather"):
        assert {prefix + k for k in names.word_keys(typo)} & held, typo
    assert not {prefix + k for k in names.word_keys("wrenfield")} & held


# --- search -----------------------------------------------------------------------------


@pytest.fixture
def people(world):
    """University A's speakers (and one of university B with the same name as one of A's)."""
    actor = world.actor("events_officer")
    made = {
        "mohammed": plain(actor, "Dr Mohammed Ashcombe"),
        "yusuf": plain(actor, "Yusuf Brackenridge", "Joseph Brackenridge"),
        "ember": plain(actor, "Professor Ember Quillfeather", "E. Quillfeather"),
        "tobias": plain(actor, "Tobias Wrenfield"),
        "fatima": plain(actor, "Fatimah Ottoline Fenwick"),
        "ali": plain(actor, "Ali Hartwell"),
        "ahmed": plain(actor, "Ahmed Ashcombe"),
    }
    made["other_org"] = plain(world.actor("b_events_officer"), "Tobias Wrenfield")
    return made


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("Muhammad Ashcombe", "mohammed"),
        ("mohamed ashcomb", "mohammed"),
        ("Ashcombe, Mohammad", "mohammed"),
        ("Yousef Brackenridge", "yusuf"),
        ("brackenrige youssef", "yusuf"),
        ("Joseph Brackenridge", "yusuf"),
        ("Ember Quilfeather", "ember"),
        ("Quillfeahter Ember", "ember"),
        ("quillfeather", "ember"),
        ("Wrenfield Tobias", "tobias"),
        ("Tobais Wrenfeild", "tobias"),
        ("Fatima Fenwick", "fatima"),
        ("Ali", "ali"),
        ("Hartwel", "ali"),
    ],
)
def test_search_finds_the_speaker_first(world, people, query, who):
    matches = search.search_speakers(world.actor("auditor"), query)
    assert matches, query
    assert matches[0].speaker_id == people[who].id, [(m.display_name, m.score) for m in matches]


def test_results_name_the_matched_name_and_score_best_first(world, people):
    matches = search.search_speakers(world.actor("dpo"), "Joseph Brackenridge")
    assert matches[0].matched_name == "Joseph Brackenridge"
    assert matches[0].display_name == "Yusuf Brackenridge"
    assert matches[0].score == 1.0
    exact = search.search_speakers(world.actor("dpo"), "Ashcombe")
    assert {m.speaker_id for m in exact} >= {people["mohammed"].id, people["ahmed"].id}
    scores = [m.score for m in exact]
    assert scores == sorted(scores, reverse=True)
    assert all(m.source == "own" for m in exact)


def test_search_sees_only_the_actors_organisation(world, people):
    assert found(world.actor("events_officer"), "Tobias Wrenfield") == [people["tobias"].id]
    assert found(world.actor("b_events_officer"), "Tobias Wrenfield") == [people["other_org"].id]
    assert found(world.actor("b_events_officer"), "Quillfeather") == []


def test_merged_records_are_not_found(world, people):
    lead = world.actor("prevent_lead")
    duplicate = plain(lead, "Tobias Wrenfeld")
    speakers.merge_speakers(lead, people["tobias"], duplicate, "Same person.")
    assert found(lead, "Tobias Wrenfeld") == [people["tobias"].id]


def test_paging_and_limits(world, people):
    actor = world.actor("prevent_lead")
    for n in range(6):
        plain(actor, f"Marigold Ashcombe{'e' * n}")
    first = found(actor, "Ashcombe", limit=3)
    second = found(actor, "Ashcombe", limit=3, offset=3)
    assert len(first) == 3 and len(second) == 3 and not set(first) & set(second)
    assert found(actor, "   ") == [] and found(actor, "!!!") == []


@pytest.mark.parametrize("who", ["signatory", "coordinator"])
def test_people_without_a_records_role_cannot_search(world, who):
    with pytest.raises(PermissionDenied):
        search.search_speakers(world.actor(who), "Tobias")


def test_likely_duplicates_use_every_name_and_a_higher_bar(world, people):
    actor = world.actor("events_officer")
    dupes = speakers.likely_duplicates(actor, "Muhammad Ashcombe", ["Nobody Atall"])
    assert [d.speaker_id for d in dupes] == [people["mohammed"].id]
    by_alias = speakers.likely_duplicates(actor, "Someone New", ["Yousef Brackenridge"])
    assert [d.speaker_id for d in by_alias] == [people["yusuf"].id]
    assert speakers.likely_duplicates(actor, "Marigold Penhallow") == []
    assert all(d.score >= search.DUPLICATE_SCORE for d in dupes)


def test_a_second_source_of_candidates_is_ranked_with_the_first(world, people):
    """Issue 5 adds partners' disclosed rows as another source; they share the ranking."""
    partner = uuid.uuid4()

    def disclosed(actor, query, limit):
        yield search.Candidate(
            uuid.uuid4(), partner, "Tobias Wrenfield", "Tobias Wrenfield", "tobias wrenfield",
            source="disclosed", disclosed_under={"agreement_id": "a-1", "version": 2},
        )  # fmt: skip

    matches = search.search_speakers(
        world.actor("events_officer"),
        "Tobias Wrenfield",
        sources=[search.own_candidates, disclosed],
    )
    assert [(m.source, m.score) for m in matches[:2]] == [("disclosed", 1.0), ("own", 1.0)] or [
        (m.source, m.score) for m in matches[:2]
    ] == [("own", 1.0), ("disclosed", 1.0)]
    shared = next(m for m in matches if m.source == "disclosed")
    assert shared.disclosed_under == {"agreement_id": "a-1", "version": 2}
    assert shared.as_dict()["owner_org_id"] == str(partner)


SURNAMES = ["Quillfeather", "Brackenridge", "Wrenfield", "Ashcombe", "Fenwick", "Hartwell"]
GIVEN = ["Ember", "Tobias", "Marigold", "Percival", "Ottoline", "Yusuf", "Mohammed", "Fatima"]


@LENIENT
@given(
    given_name=st.sampled_from(GIVEN),
    surname=st.sampled_from(SURNAMES),
    position=st.integers(min_value=1, max_value=20),
    letter=st.sampled_from("aeioulnrst"),
    swap=st.booleans(),
)
def test_one_slip_and_any_word_order_still_find_the_speaker(
    world, given_name, surname, position, letter, swap
):
    actor = world.actor("events_officer")
    target = plain(actor, f"{given_name} {surname}")
    plain(actor, f"{GIVEN[(GIVEN.index(given_name) + 1) % len(GIVEN)]} {surname}")
    word = surname.lower()
    cut = position % len(word)
    slipped = word[:cut] + letter + word[cut + 1 :]
    query = f"{slipped} {given_name}" if swap else f"{given_name} {slipped}"
    # (Examples share the test's database: earlier ones may have made the same name.)
    top = search.search_speakers(actor, query, limit=3)
    assert target.display_name in [m.display_name for m in top], query
    assert top[0].display_name == target.display_name, [(m.display_name, m.score) for m in top]


# --- any script, syllables, nicknames, short names, pages (issue 15) -------------------------


@pytest.mark.parametrize(
    ("held", "asked"),
    [
        ("郑丽华", "Zheng Lihua"),
        ("Zheng Lihua", "郑丽华"),
        ("Li Xiu-Fang", "Xiufang Li"),
        ("Li Xiufang", "Li Xiu Fang"),
        ("Timofei Ovchinnikov", "Тимофей Овчинников"),
        ("Maan Sufyan", "معن سفيان"),
    ],
)
def test_forms_in_other_scripts_and_syllables_meet(held, asked):
    assert names.name_score(asked, held) >= 0.9, names.forms(asked)


def test_a_nickname_is_a_variant_ranked_below_the_same_name():
    assert names.name_score("Bill Smith", "William Smith") >= 0.85
    assert names.name_score("Bill Smith", "Bill Smith") > names.name_score(
        "Bill Smith", "William Smith"
    )
    assert names.name_score("Dick Turner", "Richard Turner") >= 0.85


@pytest.fixture
def far_and_wide(world):
    actor = world.actor("events_officer")
    return {
        "timofey": plain(actor, "Timofey Ovchinnikov", "Тимофей Овчинников"),
        "timur": plain(actor, "Timur Ovchinsky"),
        "zheng": plain(actor, "Zheng Lihua"),
        "xiufang": plain(actor, "Li Xiu-Fang"),
        "ye": plain(actor, "Ye Yu"),
        "tan": plain(actor, "Tan Wei"),
        "wei": plain(actor, "Wei Ashdown"),
        "william": plain(actor, "William Ashdown"),
        "bill": plain(actor, "Bill Ashdown"),
        "elizabeth": plain(actor, "Elizabeth Carrow"),
        "richard": plain(actor, "Richard Penhallow"),
        "maan": plain(actor, "Maan Sufyan", "معن سفيان"),
    }


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("Тимофей Овчинников", "timofey"),
        ("ОВЧИННИКОВ", "timofey"),
        ("郑丽华", "zheng"),
        ("Lihua Zheng", "zheng"),
        ("Xiufang Li", "xiufang"),
        ("Li Xiufang", "xiufang"),
        ("Ye Yu", "ye"),
        ("yu ye", "ye"),
        ("Tam Wei", "tan"),
        ("Wei Tna", "tan"),
        ("Bill Ashdown", "bill"),
        ("Liz Carrow", "elizabeth"),
        ("Dick Penhallow", "richard"),
        ("معن سفيان", "maan"),
        ("Ma'n Sufian", "maan"),
    ],
)
def test_names_in_any_script_form_or_length_are_found_first(world, far_and_wide, query, who):
    """Found on both engines (the suite runs on each): a name in its own script, Chinese
    syllables however they are joined, two-letter words, nicknames."""
    matches = search.search_speakers(world.actor("events_officer"), query)
    assert matches, query
    assert matches[0].speaker_id == far_and_wide[who].id, [
        (m.display_name, round(m.score, 3)) for m in matches
    ]


def test_a_nickname_finds_the_formal_name_below_the_exact_one(world, far_and_wide):
    matches = search.search_speakers(world.actor("events_officer"), "Bill Ashdown")
    assert [m.speaker_id for m in matches[:2]] == [
        far_and_wide["bill"].id,
        far_and_wide["william"].id,
    ]


def test_the_ranking_does_not_depend_on_the_page_size(world):
    """A fixed candidate budget, all scored, then paged: the first ten are the same whether
    ten or a hundred are asked for, and pages join up into the whole list."""
    actor = world.actor("events_officer")
    for n in range(60):
        plain(actor, f"{GIVEN[n % len(GIVEN)]} {SURNAMES[n % len(SURNAMES)]}{'e' * (n // 12)}")
    for query in ("Ashcombe", "Tobias Wrenfield", "Percival Fenwik", "Mohammed"):
        ten = found(actor, query, limit=10)
        hundred = found(actor, query, limit=100)
        assert ten == hundred[:10], query
        paged = [m for at in range(0, 30, 10) for m in found(actor, query, limit=10, offset=at)]
        assert paged == hundred[:30], query


def test_a_name_in_its_own_script_is_kept_beside_its_latin_reading(world):
    """One rule (`names.identity`) says when two written names are one: the same Latin form
    and the same script. "Тимофей Овчинников" reads "timofey ovchinnikov" in Latin letters but
    is another written name, kept as an alias, indexed and carried over by a merge."""
    actor = world.actor("prevent_lead")
    both = plain(actor, "T. Ovchinnikov", "Тимофей Овчинников", "Timofey Ovchinnikov")
    assert [a.name for a in both.aliases] == ["Тимофей Овчинников", "Timofey Ovchinnikov"]
    keep = plain(actor, "Timofey Ovchinnikov")
    other = plain(actor, "Тимофей Овчинников")
    speakers.merge_speakers(actor, keep, other, "Same person.")
    assert "Тимофей Овчинников" in [a.name for a in keep.aliases]
    assert keep.id in found(actor, "Тимофей Овчинников")


@pytest.mark.parametrize(
    ("held", "asked"),
    [
        # Two slips in one word, the other word as held: found where that word alone meets.
        ("Ilhan Martindale", "Ilkhsn Martindale"),
        # Two slips in each word: only the spelling stage (trigrams) finds these.
        ("Bartholomew Quillfeather", "Bartolomeuw Quilfaether"),
        ("Wenceslas Ashcombe", "Wencelsaz Ashcomeb"),
    ],
)
def test_several_slips_are_found_by_the_looser_stages(world, held, asked):
    """Nothing strong meets every word, so the looser stages run: a word alone (its close
    keys), then every word by its trigrams (PostgreSQL's word similarity; SQLite's
    four-letter pieces)."""
    actor = world.actor("events_officer")
    target = plain(actor, held)
    plain(actor, "Ilhan Ashdown")
    plain(actor, "Bartholomew Fenwick")
    assert target.id in found(actor, asked, limit=5), asked
