"""The annual return: current decisions only, period boundaries, regional sums, suppression."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from core.errors import PermissionDenied, ValidationFailed
from hub.records.advisory import returns
from tests.conftest import actor_of
from tests.factories import past_decision


@pytest.fixture
def decided_event(make_event):
    """decided_event(org, outcome, on, reason=None): an event of `org` decided on `on`."""

    def factory(org, outcome, on: date, reason=None):
        event = make_event(org, title=f"{outcome} {on}")
        past_decision(event, outcome, on, reason)
        return event

    return factory


@pytest.fixture
def uni(make_org):
    return make_org(kind="university")


@pytest.fixture
def officer(uni, make_person):
    return actor_of(make_person(uni, ["events_officer"]))


def test_counts_by_outcome_and_reason_with_postponed_apart(uni, officer, make_org, decided_event):
    on = date(2025, 11, 3)
    for outcome, reason, times in [
        ("approved", None, 3),
        ("approved_with_conditions", None, 2),
        ("rejected", "prevent", 1),
        ("rejected", "health_and_safety", 2),
        ("rejected", "procedural", 1),
        ("postponed", None, 4),
    ]:
        for _ in range(times):
            decided_event(uni, outcome, on, reason)
    decided_event(make_org(kind="university"), "approved", on)  # another institution's
    result = returns.annual_return(officer, "academic", 2025)
    assert (result.approved, result.approved_with_conditions, result.postponed) == (3, 2, 4)
    assert result.rejected == {"health_and_safety": 2, "procedural": 1, "prevent": 1, "other": 0}
    assert result.rejected_total == 4
    assert result.decided_total == 9


@pytest.mark.parametrize(
    ("basis", "year", "counted"),
    [
        ("academic", 2024, ["2025-07-31"]),
        ("academic", 2025, ["2025-08-01", "2025-12-31", "2026-01-01", "2026-07-31"]),
        ("calendar", 2025, ["2025-07-31", "2025-08-01", "2025-12-31"]),
        ("calendar", 2026, ["2026-01-01", "2026-07-31"]),
    ],
)
def test_period_boundaries(uni, officer, basis, year, counted, decided_event):
    days = ["2025-07-31", "2025-08-01", "2025-12-31", "2026-01-01", "2026-07-31"]
    for day in days:
        decided_event(uni, "approved", date.fromisoformat(day))
    assert returns.annual_return(officer, basis, year).approved == len(counted)


def test_a_decision_replaced_on_appeal_counts_once_as_its_replacement(uni, officer, make_event):
    event = make_event(uni)
    past_decision(event, "rejected", date(2025, 9, 1), "prevent", superseded=True)
    past_decision(event, "approved_with_conditions", date(2025, 9, 20))
    result = returns.annual_return(officer, "academic", 2025)
    assert result.rejected_total == 0
    assert result.approved_with_conditions == 1
    assert result.decided_total == 1


def test_a_later_decision_on_the_same_event_replaces_a_postponement(uni, officer, make_event):
    event = make_event(uni)
    past_decision(event, "postponed", date(2025, 9, 1))
    past_decision(event, "approved", date(2025, 10, 1))
    result = returns.annual_return(officer, "academic", 2025)
    assert (result.postponed, result.approved) == (0, 1)


def test_coordinators_see_the_regional_sum_only(make_org, make_person, decided_event):
    coordinator = actor_of(
        make_person(make_org(kind="regional_coordinator", region="Sumshire"), ["coordinator"])
    )
    unis = [make_org(kind="university", region="Sumshire") for _ in range(2)]
    union = make_org(kind="students_union", region="Sumshire")
    elsewhere = make_org(kind="university", region="Othershire")
    on = date(2026, 2, 2)
    decided_event(unis[0], "approved", on)
    decided_event(unis[1], "approved", on)
    decided_event(union, "rejected", on, "other")
    decided_event(elsewhere, "approved", on)
    result = returns.annual_return(coordinator, "academic", 2025)
    assert result.scope == "region" and result.name == "Sumshire"
    assert result.institutions == 3 and not result.suppressed
    assert result.approved == 2 and result.rejected["other"] == 1
    # An aggregate of other organisations' decisions: its basis named and the read audited.
    entry = db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "returns.read")
        .order_by(AuditEntry.seq.desc())
    ).first()
    assert entry.actor == f"person:{coordinator.id}"
    details = json.loads(entry.details)
    assert details["basis"] == "regional_aggregate" and details["institutions"] == 3


def test_a_region_below_the_threshold_shows_no_figures(
    make_org, make_person, client, decided_event
):
    person = make_person(make_org(kind="regional_coordinator", region="Tinyshire"), ["coordinator"])
    only = make_org(kind="university", region="Tinyshire", name="Solitary University")
    make_org(kind="students_union", region="Tinyshire", name="Solitary Students' Union")
    decided_event(only, "approved", date(2026, 2, 2))
    result = returns.annual_return(actor_of(person), "academic", 2025)
    assert result.suppressed and result.approved == 0
    row = list(csv.reader(io.StringIO(returns.to_csv(result))))[1]
    assert row[6:] == [""] * (len(returns.CSV_COLUMNS) - 6)
    client.sign_in(person)
    page = client.get("/returns?basis=academic&year=2025").get_data(as_text=True)
    assert 'id="suppressed"' in page and 'id="counts"' not in page
    assert "Solitary University" not in page


def test_the_page_names_its_basis_and_the_csv_matches(uni, make_person, client, decided_event):
    decided_event(uni, "approved", date(2026, 3, 1))
    decided_event(uni, "rejected", date(2026, 3, 2), "health_and_safety")
    client.sign_in(make_person(uni, ["dpo"]))
    page = client.get("/returns?year=2025").get_data(as_text=True)
    assert "academic year 2025/26" in page
    assert "1 August 2025 to 31 July 2026" in page
    assert 'id="approved">1<' in page and 'id="rejected_health_and_safety">1<' in page
    response = client.get("/returns/annual.csv?basis=calendar&year=2026")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    header, row = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    values = dict(zip(header, row, strict=True))
    assert values["period"] == "2026" and values["basis"] == "calendar"
    assert values["approved"] == "1" and values["rejected_health_and_safety"] == "1"
    assert values["rejected_total"] == "1" and values["postponed"] == "0"


def test_bad_year_is_shown_in_the_error_summary(uni, make_person, client):
    client.sign_in(make_person(uni, ["events_officer"]))
    response = client.get("/returns?year=19x")
    assert response.status_code == 422
    assert "Enter a year between 2000" in response.get_data(as_text=True)
    assert client.api("GET", "/api/v1/advisory/annual-return?basis=fiscal").status_code == 422


def test_the_api_gives_the_counts(uni, make_person, client, decided_event):
    decided_event(uni, "approved", date(2025, 8, 1))
    client.sign_in(make_person(uni, ["prevent_lead"]))
    body = client.api("GET", "/api/v1/advisory/annual-return?year=2025").get_json()
    assert body["approved"] == 1 and body["basis"] == "academic" and body["period"] == "2025/26"
    assert body["rejected"] == {"health_and_safety": 0, "procedural": 0, "prevent": 0, "other": 0}


def test_police_cannot_see_returns(make_org, make_person):
    police = actor_of(make_person(make_org(kind="police_prevent"), ["prevent_lead"]))
    with pytest.raises(PermissionDenied):
        returns.annual_return(police, "academic", 2025)


@pytest.mark.parametrize(("basis", "year"), [("fiscal", "2025"), ("academic", "1999")])
def test_read_args_refuses_unknown_basis_and_far_years(basis, year):
    with pytest.raises(ValidationFailed):
        returns.read_args(basis, year, date(2026, 5, 1))


def test_default_is_the_current_academic_year():
    assert returns.read_args(None, None, date(2026, 7, 31)) == ("academic", 2025)
    assert returns.read_args(None, None, date(2026, 8, 1)) == ("academic", 2026)
    assert returns.read_args("calendar", "", date(2026, 7, 31)) == ("calendar", 2026)
