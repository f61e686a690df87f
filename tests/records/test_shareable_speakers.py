"""A speaker and everything the sharing path reads of it, in one statement (issue 16): for
random names, affiliations, topics, sources and appearances, `shareable.speakers` gives what
the speaker's rows hold, in the order the model's relationships give it, on either engine."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db import db
from hub.records import shareable
from hub.records.models import (
    AdvisoryRating,
    AliasKind,
    Distribution,
    Rating,
    RecordStatus,
    Speaker,
    SpeakerAffiliation,
    SpeakerAlias,
    SpeakerSource,
    SpeakerTopic,
)
from tests.factories import stored_event

#: Letters of several scripts, with case and accents, where collation and JSON escaping differ.
LETTERS = "aAbBzZéÉßøŁłжЖگ한中 '\"\\-"
words = st.text(alphabet=LETTERS, min_size=1, max_size=12).filter(str.strip)


def _expected(speaker: Speaker) -> dict:
    """What the speaker's rows hold, read through the ORM's relationships."""
    db.session.expire(speaker)
    return {
        "display_name": speaker.display_name,
        "aliases": [alias.name for alias in speaker.aliases],
        "affiliations": [
            f"{a.organisation_name} ({a.role})" if a.role else a.organisation_name
            for a in speaker.affiliations
        ],
        "topics": [topic.topic for topic in speaker.topics],
        "sources": [source.url for source in speaker.sources],
        "appearances": sorted(
            str(link.event_id)
            for link in speaker.appearances
            if link.event.owner_org_id == speaker.owner_org_id
        ),
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    aliases=st.lists(words, max_size=4),
    affiliations=st.lists(
        st.tuples(words, st.one_of(st.just(""), words)), max_size=3, unique_by=lambda a: a[0]
    ),
    topics=st.lists(words, max_size=4, unique=True),
    sources=st.lists(st.integers(0, 3000), max_size=3, unique=True),
    own_events=st.integers(0, 2),
    foreign_events=st.integers(0, 2),
)
def test_speakers_hold_what_the_rows_hold(
    make_org, make_speaker, aliases, affiliations, topics, sources, own_events, foreign_events
):
    owner, other = make_org(), make_org()
    with db.session.begin_nested() as savepoint:
        speaker = make_speaker(owner, "Qa Fictional Speaker")
        db.session.add_all(
            [SpeakerAlias(speaker_id=speaker.id, name=n, kind=AliasKind.ALIAS) for n in aliases]
            + [
                SpeakerAffiliation(speaker_id=speaker.id, organisation_name=n, role=r)
                for n, r in affiliations
            ]
            + [SpeakerTopic(speaker_id=speaker.id, topic=t) for t in topics]
            + [
                SpeakerSource(
                    speaker_id=speaker.id,
                    url=f"https://source.example/{days}",
                    retrieved_on=date(2020, 1, 1) + timedelta(days=days),
                )
                for days in sources
            ]
        )
        db.session.flush()
        for _ in range(own_events):
            stored_event(owner, speaker)
        for _ in range(foreign_events):
            stored_event(other, speaker)

        record = shareable.speakers([speaker.id])[str(speaker.id)]
        values = dict(record.values)
        values["appearances"] = sorted(values["appearances"])
        assert values == _expected(speaker)
        assert (record.owner_org_id, record.distribution) == (
            str(owner.id),
            speaker.distribution.value,
        )
        assert record.subjects == (("speaker", str(speaker.id)),)
        savepoint.rollback()


def test_only_active_speakers_unless_asked(make_org, make_speaker):
    owner = make_org()
    kept = make_speaker(owner, "Qa Kept Speaker")
    merged = make_speaker(owner, "Qa Merged Speaker")
    db.session.execute(
        sa.update(Speaker).where(Speaker.id == merged.id).values(status=RecordStatus.MERGED)
    )
    ids = [kept.id, merged.id]
    assert set(shareable.speakers(ids)) == {str(kept.id)}
    assert set(shareable.speakers(ids, active_only=False)) == {str(kept.id), str(merged.id)}
    assert shareable.speakers([]) == {}
    found = shareable.speakers([kept.id], matched={str(kept.id): "aliases"})
    assert found[str(kept.id)].matched_field == "aliases"


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ratings=st.lists(
        st.tuples(
            st.sampled_from(list(Rating)),
            st.sampled_from(list(Distribution)),
            words,
            st.integers(0, 40),
            st.booleans(),
        ),
        max_size=4,
    )
)
def test_ratings_read_beside_the_speaker_are_the_ratings_rows(make_org, make_speaker, ratings):
    """`speaker_and_ratings` gives the speaker as `speakers` does, and every rating on it, by
    anyone, newest first, each exactly as `shareable.rating` makes it from its row."""
    owner, police, other = make_org(), make_org(), make_org()
    with db.session.begin_nested() as savepoint:
        speaker = make_speaker(owner, "Qa Rated Speaker")
        db.session.add_all(
            [
                AdvisoryRating(
                    speaker_id=speaker.id,
                    owner_org_id=(police if by_police else other).id,
                    distribution=distribution,
                    rating=rating,
                    rationale=rationale,
                    issued_on=date(2026, 1, 1) + timedelta(days=days),
                    expires_on=date(2026, 6, 1) + timedelta(days=days),
                    created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
                )
                for n, (rating, distribution, rationale, days, by_police) in enumerate(ratings)
            ]
        )
        db.session.flush()
        found = shareable.speaker_and_ratings(speaker.id)
        assert found is not None
        record, rated = found
        assert record == shareable.speakers([speaker.id])[str(speaker.id)]
        rows = db.session.scalars(
            sa.select(AdvisoryRating)
            .where(AdvisoryRating.speaker_id == speaker.id)
            .order_by(AdvisoryRating.issued_on.desc(), AdvisoryRating.created_at.desc())
        )
        assert rated == [shareable.rating(row) for row in rows]
        savepoint.rollback()


def test_no_speaker_no_ratings(make_org, make_speaker):
    merged = make_speaker(make_org(), "Qa Merged Rated Speaker")
    db.session.execute(
        sa.update(Speaker).where(Speaker.id == merged.id).values(status=RecordStatus.MERGED)
    )
    assert shareable.speaker_and_ratings(merged.id) is None
    assert shareable.speaker_and_ratings(uuid.uuid4()) is None
