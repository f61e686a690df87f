"""The application shell: health, readiness, security headers, problem details, CSRF."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.config import ConfigurationError, Settings
from core.db import db


def test_healthz_answers_json(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_database_and_migrations_at_head(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ok"
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]


def test_pages_carry_security_headers(client):
    response = client.get("/sign-in")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Local development and tests serve plain HTTP: no HSTS, no Secure cookie.
    assert "Strict-Transport-Security" not in response.headers


def test_pages_have_no_inline_script(client):
    html = client.get("/sign-in").get_data(as_text=True)
    for tag in html.split("<script")[1:]:
        assert "src=" in tag.split(">")[0], "inline script found"


def test_session_cookie_is_httponly_and_lax(client):
    response = client.get("/sign-in")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_production_cookie_and_hsts(tmp_path, database_server):
    from hub.app import create_app

    app = create_app(
        {
            "env": "production",
            "allow_insecure_production": True,
            "database_url": f"sqlite:///{tmp_path / 'p.sqlite3'}",
            "instance_path": tmp_path,
            "secret_key": "x" * 40,
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_production_refuses_demo_defaults(tmp_path):
    settings = Settings(env="production", instance_path=tmp_path)
    with pytest.raises(ConfigurationError) as excinfo:
        settings.finalise()
    message = str(excinfo.value)
    assert "HUB_SECRET_KEY" in message and "SQLite" in message


def test_settings_read_types_from_environment(tmp_path):
    settings = Settings.from_environ(
        {
            "HUB_REQUIRE_MFA": "false",
            "HUB_LOCKOUT_THRESHOLD": "7",
            "HUB_INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": "postgresql+psycopg://x/y",
        }
    )
    assert settings.require_mfa is False
    assert settings.lockout_threshold == 7
    assert settings.instance_path == tmp_path
    assert settings.database_url == "postgresql+psycopg://x/y"


def test_bad_boolean_setting_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="HUB_REQUIRE_MFA"):
        Settings.from_environ({"HUB_REQUIRE_MFA": "maybe"})


def test_unknown_api_route_is_a_problem_document(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == 404 and body["type"].endswith("/not-found") and body["title"]


def test_api_without_sign_in_is_401_problem(client):
    response = client.get("/api/v1/organisations")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_malformed_json_body_is_a_problem_document(client, make_org, make_person):
    admin = make_person(make_org(kind="hub"), ["org_admin"])
    client.sign_in(admin)
    response = client.api(
        "POST", "/api/v1/organisations", data="{not json", content_type="application/json"
    )
    assert response.status_code in (400, 422)
    assert response.mimetype == "application/problem+json"
    assert "detail" in response.json


def test_invalid_api_fields_list_each_field(client, make_org, make_person):
    admin = make_person(make_org(kind="hub"), ["org_admin"])
    client.sign_in(admin)
    response = client.api("POST", "/api/v1/organisations", json={"name": "X", "kind": "pub"})
    assert response.status_code == 422
    errors = response.json["errors"]
    assert "kind" in errors and "slug" in errors and "region" in errors


def test_unknown_page_is_styled_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Page not found" in html and "govuk-template" in html


def test_form_without_csrf_token_is_refused_and_audited(client):
    response = client.post("/sign-in", data={"email": "a@b.example", "password": "x"})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    entry = db.session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "request.csrf")
        .order_by(AuditEntry.seq.desc())
    )
    assert entry is not None and entry.outcome == "denied"


def test_openapi_document_is_served(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = json.loads(response.get_data(as_text=True))
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/organisations" in spec["paths"]


def test_api_docs_page_loads_local_swagger(client):
    html = client.get("/api/docs").get_data(as_text=True)
    assert "/static/build/swagger/swagger-ui-bundle.js" in html
    assert "openapi.json" in html


# --- input no field can hold (issue 11, item 17) -------------------------------------------


@pytest.fixture
def records_writer(client, make_org, make_person):
    client.sign_in(make_person(make_org(kind="university"), ["events_officer"]))
    return client


@pytest.mark.parametrize("depth", [40, 1_000, 100_000])
def test_deeply_nested_json_is_a_400_problem_not_a_crash(records_writer, depth):
    body = '{"display_name": "Ember Quillfeather", "topics": ' + "[" * depth + "]" * depth + "}"
    response = records_writer.api(
        "POST", "/api/v1/speakers", data=body, content_type="application/json"
    )
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    assert "nested more than 32 levels" in response.json["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": "Ember Quillfeather", "topics": ["lanterns\x00"]},
        {"display_name": "Ember Quillfeather", "aliases": [{"name": "E\x00Q"}]},
        {"display_name": "Ember\x00Quillfeather"},
        {"display_name": "Ember Quillfeather", "sources\x00": []},
    ],
)
def test_a_nul_character_anywhere_is_a_400_problem(records_writer, body):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    response = records_writer.api("POST", "/api/v1/speakers", json=body)
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    assert "NUL character" in response.json["detail"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) >= before


def test_a_nul_character_in_a_form_or_address_is_refused(records_writer):
    page = records_writer.submit(
        "/speakers/new", {"display_name": "Ember\x00Quillfeather", "distribution": "internal"}
    )
    assert page.status_code == 400
    assert "NUL character" in page.get_data(as_text=True)
    assert records_writer.get("/speakers/?q=Ember%00").status_code == 400


def test_the_checker_refuses_nul_in_every_list_item():
    from core.validation import Checker

    check = Checker({"topics": ["lanterns", "tides\x00"]})
    assert check.strings("topics", "topics") == ["lanterns"]
    assert "not allowed" in check.errors["topics"][0]


# --- privacy by default (issue 11, item 3) -------------------------------------------------


def _checked_radio(html: str, name: str) -> list[str]:
    import re

    return re.findall(rf'name="{name}" type="radio" value="([^"]+)" checked', html)


@pytest.mark.parametrize("path", ["/speakers/new", "/events/new"])
def test_new_records_are_internal_until_someone_chooses_to_share(records_writer, path):
    """Data protection by default (UK GDPR Art. 25): a new record's form pre-selects keeping
    it inside the organisation; sharing is a choice."""
    html = records_writer.get(path).get_data(as_text=True)
    assert _checked_radio(html, "distribution") == ["internal"]


def test_a_record_made_without_a_choice_is_internal(records_writer):
    response = records_writer.api(
        "POST", "/api/v1/speakers", json={"display_name": "Ember Quillfeather"}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["distribution"] == "internal"


# --- Idempotency-Key on creating requests (issue 12, item 2) -------------------------------


def test_a_retried_create_with_the_same_idempotency_key_returns_the_first_answer(
    records_writer,
):
    from hub.records.models import Speaker

    count = sa.select(sa.func.count()).select_from(Speaker)
    before = db.session.scalar(count)
    key = "7c1f0a64-2b8e-4d5b-9a51-3e9f4b2d6c10"
    body = {"display_name": "Ember Quillfeather"}
    first = records_writer.api(
        "POST", "/api/v1/speakers", json=body, headers={"Idempotency-Key": key}
    )
    again = records_writer.api(
        "POST", "/api/v1/speakers", json=body, headers={"Idempotency-Key": f'"{key}"'}
    )
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert db.session.scalar(count) == before + 1
    other = records_writer.api(
        "POST",
        "/api/v1/speakers",
        json={"display_name": "Someone Else"},
        headers={"Idempotency-Key": key},
    )
    assert other.status_code == 422 and other.json["type"].endswith("/idempotency-key-reused")
    assert db.session.scalar(count) == before + 1
    # Without a key, each request is its own (confirmed as a new person: issue 14's
    # duplicate check would otherwise answer 409 with the first record).
    again_new = {**body, "confirm_new": True}
    assert records_writer.api("POST", "/api/v1/speakers", json=again_new).status_code == 201
    assert db.session.scalar(count) == before + 2


def test_a_date_inputs_parts_arrive_joined_and_kept():
    from werkzeug.datastructures import MultiDict

    from hub.web.input import join_date_parts

    form = join_date_parts(
        MultiDict(
            {
                "due_on-day": "3",
                "due_on-month": "7",
                "due_on-year": "2027",
                "empty-day": "",
                "empty-month": "",
                "empty-year": "",
                "given": "2027-01-01",
                "given-day": "9",
                "wrong-day": "40",
                "wrong-month": "1",
                "wrong-year": "2027",
            }
        )
    )
    assert form["due_on"] == "2027-07-03" and form["due_on-day"] == "3"
    assert form["empty"] == ""
    assert form["given"] == "2027-01-01"  # a field the form fills is left as it is
    assert form["wrong"] == "2027-01-40"  # as typed: the service refuses it with its message


def test_every_api_blueprint_makes_its_argument_schemas_once(app):
    """Every API blueprint is `core.api.Blueprint`, whose parser makes each argument schema
    once (webargs' own makes one per request); a request's answer is unchanged by it."""
    import flask_smorest

    from core.api import Blueprint
    from hub.records.sharing.schemas import PurposeArgsSchema

    api_blueprints = [
        bp for bp in app.blueprints.values() if isinstance(bp, flask_smorest.Blueprint)
    ]
    assert api_blueprints
    assert all(isinstance(bp, Blueprint) for bp in api_blueprints), [
        bp.name for bp in api_blueprints if not isinstance(bp, Blueprint)
    ]
    parser = Blueprint.ARGUMENTS_PARSER
    first = parser._get_schema(PurposeArgsSchema, None)
    assert isinstance(first, PurposeArgsSchema)
    assert parser._get_schema(PurposeArgsSchema, None) is first
    made = PurposeArgsSchema(only=("purpose",))
    assert parser._get_schema(made, None) is made  # an instance given is used as it is


def test_a_shared_schema_instance_still_refuses_bad_arguments(client, make_org, make_person):
    """The same schema instance parses request after request: each is checked on its own."""
    client.sign_in(make_person(make_org(), ["events_officer"]))
    for limit in ("nope", "-1"):
        bad = client.api(
            "GET", f"/api/v1/shared/speakers?q=a&limit={limit}&purpose=speaker_due_diligence"
        )
        assert bad.status_code == 422, bad.get_data(as_text=True)
        assert "limit" in bad.json["errors"]
