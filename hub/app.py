"""The application factory: settings, extensions, blueprints, errors and security headers."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from agreements.purposes import PURPOSES
from audit import log as audit_log
from audit.log import load_signer_key
from core import policy
from core.config import Settings
from core.db import Deadlines, db
from core.extensions import api, csrf, limiter
from core.keys import FieldCipher, instance_key
from hub.federation import witnessing as federation_witnessing
from hub.web import openapi
from hub.web.edge import HubFlask
from partners.mail import sender as mail_sender
from partners.oauth import rate_limits as api_rate_limits
from partners.oauth import server as oauth_server

log = logging.getLogger(__name__)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the hub: `config` overrides settings read from the environment (tests use it)."""
    settings = Settings.from_environ()
    settings.apply_overrides(config or {})
    settings.finalise()

    app = HubFlask(
        "hub",
        instance_path=str(settings.instance_path),
        static_folder="web/static",
        template_folder="web/templates",
    )
    app.config.update(
        HUB_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        TESTING=settings.env == "test",
        SESSION_COOKIE_NAME="hub_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not settings.is_development,
        PERMANENT_SESSION_LIFETIME=settings.session_hours * 3600,
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=settings.session_hours * 3600,
        WTF_CSRF_SSL_STRICT=not settings.is_development,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in `web.auth.check_csrf`, after sign-in is known
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_ENABLED=settings.extra.get("RATELIMIT_ENABLED", settings.ratelimit_enabled),
        HUB_AUDIT_PSEUDONYM_KEY=instance_key(
            settings.instance_path, "audit-pseudonym", "HUB_AUDIT_PSEUDONYM_KEY"
        ),
        # What lower layers need of higher ones, given to them here (see each's module).
        HUB_PURPOSES=PURPOSES,
        HUB_SIGN_IN_ENDPOINT="web.sign_in",
        HUB_HOME_ENDPOINT="web.dashboard",
        API_TITLE="Prevent Information Sharing Hub API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Speaker and event information shared between partners under recorded "
                    "data-sharing agreements. Errors are RFC 9457 problem details."
                )
            }
        },
    )
    app.config.update({k: v for k, v in settings.extra.items() if k.isupper()})
    app.config["HUB_AUDIT_SIGNER_KEY"] = load_signer_key(settings.instance_path, settings.origin)
    app.extensions["hub_field_cipher"] = FieldCipher(
        instance_key(settings.instance_path, "field-encryption", "HUB_FIELD_ENCRYPTION_KEY")
    )

    db.init_app(
        app,
        settings.database_url,
        Deadlines(
            connect=settings.db_connect_timeout,
            statement=settings.db_statement_timeout,
            pool=settings.db_pool_timeout,
            ping=min(settings.db_ready_timeout, settings.db_connect_timeout),
        ),
    )
    policy.init_app(app)
    oauth_server.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    api.init_app(app)
    openapi.init_app(app, api)

    _register_blueprints(app)
    _register_audit_links(app)
    _register_request_hooks(app)
    api_rate_limits.init_app(app)
    _register_error_handlers(app)
    _register_cli(app)
    federation_witnessing.init_app(app)
    audit_log.start_integrating(app)
    mail_sender.start_sending(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from agreements import api as agreements_api
    from agreements import views as agreements_views
    from audit import api as audit_api
    from audit import views as audit_views
    from hub.federation import api as federation_api
    from hub.federation import views as federation_views
    from hub.federation import witness_api
    from hub.groups import api as groups_api
    from hub.groups import views as groups_views
    from hub.groups.meetings import api as meetings_api
    from hub.groups.meetings import views as meetings_views
    from hub.records.advisory import api as advisory_api
    from hub.records.advisory import views as advisory_views
    from hub.records.events import api as events_api
    from hub.records.events import views as events_views
    from hub.records.sharing import api as shared_api
    from hub.records.sharing import views as shared_views
    from hub.records.speakers import api as speakers_api
    from hub.records.speakers import views as speakers_views
    from hub.records.subject_access import views as subject_access_views
    from hub.web import health, views
    from partners import api as partners_api
    from partners import api_notifications
    from partners import views as partners_views
    from partners.identity import views as identity_views
    from partners.oauth import pages as client_pages
    from partners.oauth import views as oauth_views

    app.register_blueprint(views.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(partners_views.blueprint)
    app.register_blueprint(identity_views.blueprint)
    app.register_blueprint(oauth_views.blueprint)
    app.register_blueprint(client_pages.blueprint)
    app.register_blueprint(audit_views.blueprint)
    app.register_blueprint(agreements_views.blueprint)
    for records_blueprint in (
        speakers_views,
        events_views,
        advisory_views,
        shared_views,
        subject_access_views,
    ):
        app.register_blueprint(records_blueprint.blueprint)
    for records_api in (speakers_api, events_api, advisory_api, shared_api):
        api.register_blueprint(records_api.blueprint)
    app.register_blueprint(groups_views.blueprint)
    app.register_blueprint(meetings_views.blueprint)
    api.register_blueprint(groups_api.blueprint)
    api.register_blueprint(meetings_api.blueprint)
    api.register_blueprint(partners_api.blueprint)
    api.register_blueprint(api_notifications.blueprint)
    api.register_blueprint(audit_api.blueprint)
    api.register_blueprint(agreements_api.blueprint)
    app.register_blueprint(federation_views.blueprint)
    api.register_blueprint(federation_api.blueprint)
    api.register_blueprint(witness_api.blueprint)
    if app.config["HUB_SETTINGS"].env == "development":
        # The mail catcher shows every delivered message: never outside development.
        from partners.mail import views as dev_mail_views

        app.register_blueprint(dev_mail_views.blueprint)


def _register_request_hooks(app: Flask) -> None:
    from hub.web import auth, edge, headers
    from hub.web import input as web_input
    from partners.oauth import resource

    @app.before_request
    def _request_id() -> None:
        supplied = request.headers.get("X-Request-Id", "")
        try:
            g.request_id = str(uuid.UUID(supplied))
        except ValueError:
            g.request_id = str(uuid.uuid4())

    app.before_request(auth.load_signed_in_person)
    app.before_request(resource.authenticate_api_request)
    app.before_request(auth.check_csrf)
    app.before_request(web_input.check_request_input)
    edge.init_app(app)
    app.after_request(resource.add_dpop_nonce)
    app.after_request(headers.apply_security_headers)


def _register_error_handlers(app: Flask) -> None:
    from hub.web import errors

    app.register_error_handler(HTTPException, errors.handle_http_exception)
    app.register_error_handler(Exception, errors.handle_exception)


def _register_cli(app: Flask) -> None:
    from agreements import cli as agreements_cli
    from audit import cli as audit_cli
    from hub import cli as hub_cli
    from hub.federation import cli as federation_cli
    from hub.records.advisory import cli as advisory_cli
    from partners import cli as partners_cli
    from partners.mail import cli as mail_cli

    app.cli.add_command(hub_cli.hub_group)
    app.cli.add_command(hub_cli.db_group)
    app.cli.add_command(partners_cli.partners_group)
    app.cli.add_command(audit_cli.audit_group)
    app.cli.add_command(agreements_cli.agreements_group)
    app.cli.add_command(federation_cli.federation_group)
    app.cli.add_command(mail_cli.mail_group)
    app.cli.add_command(advisory_cli.advisory_group)


def _register_audit_links(app: Flask) -> None:
    """Tell the audit review pages (which may not import the domains above them) how records
    and agreements are named and where their pages are (`audit.links`)."""
    import sqlalchemy as sa
    from flask import url_for

    from agreements.fields import FIELDS
    from agreements.models import Agreement
    from audit import links
    from core.request import current_actor

    def agreement_labels(ids: Any) -> dict[str, links.AgreementLabel]:
        parsed = {}
        for value in ids:
            try:
                parsed[uuid.UUID(value)] = value
            except ValueError:
                continue
        rows = db.session.execute(
            sa.select(Agreement.id, Agreement.reference, Agreement.version, Agreement.title).where(
                Agreement.id.in_(list(parsed))
            )
        )
        return {
            parsed[row.id]: links.AgreementLabel(
                row.reference,
                row.version,
                row.title,
                url_for("agreements.show", agreement_id=str(row.id)),
            )
            for row in rows
        }

    def field_label(kind: str, name: str) -> str | None:
        spec = FIELDS.get(kind, {}).get(name)
        return spec.label if spec is not None else None

    links.register_agreements(app, agreement_labels)
    links.register_field_labels(app, field_label)

    def record_link(endpoint: str, argument: str, shared: str | None) -> links.RecordLink:
        def link(record_id: str, owner_org: str | None) -> str:
            # Another organisation's record is seen through the sharing pages.
            mine = owner_org is None or owner_org == current_actor().org_id
            return url_for(endpoint if mine or shared is None else shared, **{argument: record_id})

        return link

    for kind, words, endpoint, argument, shared in (
        ("speaker", "Speaker", "speakers.show", "speaker_id", "shared.speaker"),
        ("event", "Event", "events.show", "event_id", "shared.event"),
        ("advisory_request", "Advisory request", "advisory.detail", "request_id", None),
        ("working_group", "Working group", "groups.show", "group_id", None),
        ("agreement", "Agreement", "agreements.show", "agreement_id", None),
    ):
        links.register_record(app, kind, words, record_link(endpoint, argument, shared))
