"""`/dev/mail`: the development mail catcher, listing what the `dev` backend delivered, newest
first, with each message's plain text and HTML. Registered only when `HUB_ENV=development`
(`hub.app`), so it is a 404 everywhere else."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template

from partners.mail import backends

blueprint = Blueprint("dev_mail", __name__, url_prefix="/dev/mail", template_folder="templates")


def _settings() -> Any:
    return current_app.config["HUB_SETTINGS"]


@blueprint.get("/")
def index() -> Any:
    """Every message the development backend kept, newest first."""
    settings = _settings()
    return render_template(
        "dev_mail/index.html",
        messages=backends.kept_mail(backends.dev_folder(settings)),
        backend=settings.mail_backend,
        page_title="Mail sent by this development hub",
    )


@blueprint.get("/<name>.html")
def html_part(name: str) -> Any:
    """One message's HTML part, as a mail client would show it."""
    for message in backends.kept_mail(backends.dev_folder(_settings())):
        if message.name == name and message.html:
            return Response(message.html, mimetype="text/html")
    abort(404)
