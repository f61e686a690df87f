"""Masking web addresses (issue 14): a masked address keeps nothing of itself, not even its
host, in the policy's rule and in what the one sharing path hands a partner."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains, urls

from agreements import policy
from agreements import services as agreements
from agreements.fields import LEVEL_MEANINGS, Level, Shape
from agreements.policy import ShareableRecord
from core.db import db
from tests.agreements.conftest import rule
from tests.conftest import actor_of

PURPOSE = "speaker_due_diligence"

#: Addresses as partners record them: with a scheme, without one, with ports, users and paths.
addresses = st.one_of(
    urls(),
    st.builds(
        "{}{}{}{}".format,
        st.sampled_from(["", "http://", "https://", "//", "https://user@"]),
        domains(),
        st.sampled_from(["", ":8080", ":443"]),
        st.sampled_from(["", "/", "/people/ember", "/a/b?c=d#e"]),
    ),
)


def _host(address: str) -> str:
    """The host an address names, as written (urlsplit needs a scheme or '//' to find it)."""
    text = address if "//" in address else "//" + address
    rest = text.split("//", 1)[1]
    return rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1].split(":")[0]


@given(addresses)
def test_a_masked_address_never_contains_its_host(address):
    host = _host(address)
    assert host
    masked = policy.transform(
        [address], Shape.URL_LIST, Level.MASKED, b"k" * 32, "speaker", "sources"
    )
    assert [item for item in masked if host.casefold() in item.casefold()] == []


def test_a_masked_address_is_the_mask_alone():
    assert policy.mask_url("https://lanterns.example/people/ember") == policy.MASK
    assert policy.mask_url("lanterns.example") == policy.MASK


def test_the_key_says_what_masking_does_to_an_address():
    assert "web address is not shown at all" in LEVEL_MEANINGS[Level.MASKED.value]


@pytest.fixture
def pair(make_org, make_person):
    provider, recipient = make_org(), make_org()
    reader = make_person(recipient, ["events_officer"])
    return provider, recipient, replace(actor_of(reader), purpose=PURPOSE)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sources=st.lists(addresses, min_size=1, max_size=4), data=st.data())
def test_no_masked_address_a_partner_receives_contains_its_host(
    pair, make_agreement, sources, data
):
    """Through the one sharing path (what the API and the pages both show): the sources and a
    statement's source address, masked, hold no host of any address recorded."""
    provider, recipient, actor = pair
    nested = db.session.begin_nested()
    try:
        make_agreement(
            [provider, recipient],
            [
                rule(provider, recipient, "speaker", {"display_name": "full", "sources": "masked"}),
                rule(provider, recipient, "assertion", {"kind": "full", "source_url": "masked"}),
            ],
            kind="one_way",
            reference=f"M-{uuid.uuid4().hex[:8]}",
        )
        speaker_id, statement_id = str(uuid.uuid4()), str(uuid.uuid4())
        owner = str(provider.id)
        records = [
            ShareableRecord(
                "speaker",
                speaker_id,
                owner,
                "shareable",
                {"display_name": "Ember Quillfeather", "sources": sources},
            ),
            ShareableRecord(
                "assertion",
                statement_id,
                owner,
                "shareable",
                {"kind": "fact", "source_url": [data.draw(addresses)]},
            ),
        ]
        disclosed = agreements.disclose(actor, records, PURPOSE)
        assert {d.id for d in disclosed} == {speaker_id, statement_id}
        shown = json.dumps([d.as_dict() for d in disclosed], ensure_ascii=False).casefold()
        for address in [*sources, *records[1].values["source_url"]]:
            assert _host(address).casefold() not in shown, address
    finally:
        nested.rollback()
