"""Forms read in their own order (issue 14, item 5): each form's error summary lists its
problems in the order of the fields on the page (services check fields in form order; the
Checker keeps that order); the local review lists the organiser's answers in the order the
self-assessment asks them; the impact question is asked in words about impact."""

from __future__ import annotations

import re

import pytest

from hub.records.events import assessments
from hub.records.models import TriageQuestion
from tests.factories import date_fields, local_moment, speaker_form
from tests.records.worlds import EventWorld, advance

WHO = {
    "event": "events_officer",
    "speaker": "events_officer",
    "review": "prevent_lead",
    "decision": "prevent_lead",
}


@pytest.fixture
def world(event_world) -> EventWorld:
    return event_world


def summary_targets(html: str) -> list[str]:
    """The fields the error summary links to, in its order."""
    start = html.index('class="govuk-error-summary"')
    summary = html[start : html.index("</ul>", start)]
    return re.findall(r'<a href="#([^"]+)">', summary)


def in_page_order(html: str, targets: list[str]) -> list[str]:
    """The same fields in the order they stand on the page (after the summary)."""
    body = html[html.index("</ul>", html.index('class="govuk-error-summary"')) :]
    positions = {}
    for target in targets:
        found = body.find(f'id="{target}"')
        assert found >= 0, f"the summary links to #{target}, which is not on the page"
        positions[target] = found
    return sorted(targets, key=positions.__getitem__)


def assert_summary_in_field_order(html: str, at_least: int) -> list[str]:
    targets = summary_targets(html)
    assert len(targets) >= at_least, targets
    assert targets == in_page_order(html, targets)
    return targets


def _client(new_client, world, who):
    client = new_client()
    client.sign_in(world.people[who])
    return client


def test_the_event_forms_summary_follows_its_fields(new_client, world):
    """It used to start with who organises the event, and put "the end must be after the
    start" after the audience size."""
    client = _client(new_client, world, "events_officer")
    form = {
        "action": "save",
        "starts_at": local_moment(30, 18),
        "ends_at": local_moment(30, 17),
        "expected_size": "lots",
        "speaker_ids": "not-an-id",
    }
    html = client.submit("/events/new", form).get_data(as_text=True)
    targets = assert_summary_in_field_order(html, at_least=8)
    assert targets[:4] == ["title", "synopsis", "organiser_type", "organiser_name"]
    assert targets.index("ends_at") < targets.index("venue_kind")


def test_the_speaker_forms_summary_follows_its_fields(new_client, world):
    client = _client(new_client, world, "events_officer")
    form = speaker_form(
        display_name="",
        **{"aliases-0-name": "!!!", "sources-0-url": "not a web address"},
        **date_fields("retention_until", -3),
    )
    html = client.submit("/speakers/new", form).get_data(as_text=True)
    assert_summary_in_field_order(html, at_least=4)


def test_the_decision_forms_summary_follows_its_fields(new_client, world):
    event = advance(world, "under_review")
    client = _client(new_client, world, "prevent_lead")
    form = {"outcome": "rejected", "rationale": "", **date_fields("decided_on", 3)}
    html = client.submit(f"/events/{event.id}/decision", form).get_data(as_text=True)
    targets = assert_summary_in_field_order(html, at_least=5)
    assert targets == [
        "lawful_speech_finding",
        "mitigations_considered",
        "reason_category",
        "rationale",
        "decided_on",
    ]


def test_the_local_reviews_summary_follows_its_fields(new_client, world):
    event = advance(world, "submitted")
    client = _client(new_client, world, "prevent_lead")
    html = client.submit(f"/events/{event.id}/assessment/review", {}).get_data(as_text=True)
    assert assert_summary_in_field_order(html, at_least=3) == [
        "likelihood",
        "impact",
        "review_notes",
    ]


def test_the_self_assessments_summary_follows_its_questions(new_client, world):
    event = advance(world, "draft")
    client = _client(new_client, world, "events_officer")
    answers = {q.value: "yes" for q in TriageQuestion}
    html = client.submit(f"/events/{event.id}/assessment/self", answers).get_data(as_text=True)
    assert assert_summary_in_field_order(html, at_least=len(TriageQuestion)) == [
        assessments.detail_key(q) for q in TriageQuestion
    ]


def test_the_report_and_appeal_forms_summaries_follow_their_fields(new_client, world):
    event = advance(world, "decided")
    client = _client(new_client, world, "events_officer")
    html = client.submit(
        f"/events/{event.id}/appeal", {"grounds": "", **date_fields("deadline", -2)}
    ).get_data(as_text=True)
    assert assert_summary_in_field_order(html, at_least=2) == ["grounds", "deadline"]


def test_the_mitigation_forms_summary_follows_its_fields(new_client, world):
    event = advance(world, "under_review")
    client = _client(new_client, world, "prevent_lead")
    html = client.submit(f"/events/{event.id}/assessment/mitigations/new", {}).get_data(
        as_text=True
    )
    assert_summary_in_field_order(html, at_least=2)


# --- the local review -------------------------------------------------------------------


def test_the_local_review_lists_the_answers_in_the_forms_order(new_client, world):
    """They were listed by internal key (controversy_elsewhere first)."""
    event = advance(world, "submitted")
    client = _client(new_client, world, "prevent_lead")
    html = client.get(f"/events/{event.id}/assessment/review").get_data(as_text=True)
    listed = re.findall(r'<dt class="govuk-summary-list__key">([^<]+)</dt>', html)
    titles = [assessments.QUESTION_TITLES[q].replace("'", "&#39;") for q in TriageQuestion]
    assert listed == titles


def test_the_impact_question_is_about_impact(new_client, world):
    event = advance(world, "submitted")
    client = _client(new_client, world, "prevent_lead")
    html = client.get(f"/events/{event.id}/assessment/review").get_data(as_text=True)
    impact = html[html.index('name="impact"') - 2000 : html.rindex('name="impact"') + 400]
    assert "how serious would its impact be?" in impact
    offered = re.findall(r'for="impact[^"]*">([^<]+)</label>', html)
    assert offered == list(assessments.IMPACT_LABELS.values())
    assert not any("likely" in text for text in offered)
    likelihood = re.findall(r'for="likelihood[^"]*">([^<]+)</label>', html)
    assert likelihood == list(assessments.LIKELIHOOD_LABELS.values())


# --- the decision's conditional reveal --------------------------------------------------


def _reveal(html: str, radio_id: str) -> str:
    """The conditional reveal a radio names, as the page sends it."""
    radio = re.search(rf'<input[^>]*id="{radio_id}"[^>]*>', html).group(0)
    target = re.search(r'data-hub-reveals="([^"]+)"', radio).group(1)
    start = html.index(f'id="{target}"')
    return html[html.rindex("<div", 0, start) : html.index('id="rationale"')]


def test_rejected_reveals_the_fields_a_rejection_must_record(new_client, world):
    """GOV.UK conditional reveal: the rejection's fields belong to the "Rejected" radio (not a
    collapsed section that opened only after a failed submit), hidden until it is chosen."""
    event = advance(world, "under_review")
    client = _client(new_client, world, "prevent_lead")
    html = client.get(f"/events/{event.id}/decision").get_data(as_text=True)
    assert "<details" not in html
    assert '<script type="module" src="/static/hub.js">' in html  # the reveals' script
    reveal = _reveal(html, "outcome-rejected")
    assert reveal.startswith(
        '<div class="govuk-radios__conditional govuk-radios__conditional--hidden"'
    )
    for field in ("lawful_speech_finding", "mitigations_considered", "reason_category"):
        assert f'id="{field}"' in reveal
    # Chosen (here, refused for want of its reasons), it is open, with its errors in view.
    html = client.submit(
        f"/events/{event.id}/decision", {"outcome": "rejected", "rationale": "Contested."}
    ).get_data(as_text=True)
    reveal = _reveal(html, "outcome-rejected")
    assert reveal.startswith('<div class="govuk-radios__conditional"')
    assert 'id="lawful_speech_finding-error"' in reveal


def test_the_reveal_script_is_served(client):
    response = client.get("/static/hub.js")
    try:
        assert response.status_code == 200
        script = response.get_data(as_text=True)
    finally:
        response.close()
    code = "\n".join(line for line in script.splitlines() if not line.startswith("//"))
    assert "data-hub-reveals" in code and "aria-expanded" not in code
    assert "aria-controls" not in code  # GOV.UK Frontend's script would add aria-expanded
    assert "initAll" in code  # GOV.UK Frontend still starts every other component
