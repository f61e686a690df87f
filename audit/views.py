"""DPO review pages for the audit log: entries, refusals, subject history, activity, exports,
integrity. Each view reads through `audit.review`, and each look at the log is itself audited."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from audit import activity as access_activity
from audit import explain as explanations
from audit import flag_reviews, log, permissions, review, saved_filters
from audit import names as naming
from audit import witness as witnesses
from audit.actions import in_words, is_access
from audit.refusals import keep_refusal
from core.db import UTCDateTime, db, utcnow
from core.errors import ValidationFailed
from core.request import current_actor, signed_in_required
from core.security import Actor

blueprint = Blueprint("audit", __name__, template_folder="templates", url_prefix="/audit")

#: The sub-navigation shown at the top of every review page.
SUBNAV = (
    ("Entries", "audit.home"),
    ("Refusals", "audit.refusals"),
    ("Subject access history", "audit.subject"),
    ("Activity and unusual access", "audit.activity"),
    ("Log integrity", "audit.integrity"),
)
FORM_FIELDS = (
    "person",
    "organisation",
    "agreement",
    "purpose",
    "action",
    "outcome",
    "date_from",
    "date_to",
    "subject_kind",
    "subject",
)
OUTCOME_COLOURS = {"granted": "green", "denied": "red", "failed": "orange"}
NO_ORGANISATION = "No organisation (the hub itself, or not signed in)"

# GOV.UK colours, each with its own dash pattern so that series differ without colour too.
SERIES_STYLES = (
    ("#1d70b8", ""),
    ("#d4351c", "10 5"),
    ("#00703c", "3 4"),
    ("#f47738", "12 4 3 4"),
    ("#4c2c92", "6 6"),
    ("#505a5f", "1 4"),
)
CHART_SERIES = len(SERIES_STYLES) - 1  # the largest organisations; the rest are summed
RULE_TITLES = access_activity.RULE_TITLES


@blueprint.context_processor
def _review_context() -> dict[str, Any]:
    """What every review page's template uses: the sub-navigation, tag colours, the scope."""
    return {
        "subnav": [(text, url_for(endpoint), endpoint) for text, endpoint in SUBNAV],
        "outcome_colours": OUTCOME_COLOURS,
        "whole_log": permissions.sees_whole_log(current_actor()),
        "no_organisation": NO_ORGANISATION,
    }


# --- lists ------------------------------------------------------------------------------


def _page_number() -> int:
    """The requested page of a list (1 when absent or not a number)."""
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def _page_links(endpoint: str, args: Mapping[str, str], page: int, pages: int) -> dict[str, Any]:
    """GOV.UK pagination: first, last, and the pages either side of the current one."""
    numbers = sorted({1, pages, page - 1, page, page + 1} & set(range(1, pages + 1)))
    items: list[dict[str, Any]] = []
    for number in numbers:
        if items and number - items[-1]["number"] > 1:
            items.append({"ellipsis": True, "number": None})
        items.append(
            {
                "number": number,
                "href": url_for(endpoint, **args, page=number),
                "current": number == page,
            }
        )
    return {
        "items": items if pages > 1 else [],
        "previous": url_for(endpoint, **args, page=page - 1) if page > 1 else None,
        "next": url_for(endpoint, **args, page=page + 1) if page < pages else None,
    }


def _choices(options: review.FilterOptions, *, with_outcome: bool) -> dict[str, Any]:
    """The filter form's select options, each led by its "any" choice (actions, agreements and
    purposes in words)."""
    return {
        "person": [("", "Anyone"), *options.people],
        "organisation": [("", "Any organisation"), *options.organisations],
        "action": [("", "Any action"), *((a, in_words(a)) for a in options.actions)],
        "agreement": [("", "Any agreement"), *options.agreements],
        "purpose": [("", "Any purpose"), *options.purposes],
        "outcome": [("", "Any outcome"), *((o, o.capitalize()) for o in review.OUTCOMES)]
        if with_outcome
        else [],
    }


def _look_up_subject(actor: Actor, page: str) -> tuple[Response | None, dict[str, list[str]]]:
    """Swap a typed subject identifier for its pseudonym and redirect, so that the identifier
    is not carried on into page links, exports and history (only the first request has it)."""
    try:
        pseudonym = review.look_up_subject(
            actor, request.args.get("subject_kind", ""), request.args.get("subject", ""), page
        )
    except ValidationFailed as exc:
        keep_refusal(actor, exc)
        return None, exc.errors
    args = {
        key: value
        for key, value in request.args.items()
        if key not in {"subject", "subject_kind", "page"} and value
    }
    return redirect(url_for(request.endpoint or "audit.home", **args, pseudonym=pseudonym)), {}


def _entry_list(
    page: str,
    template: str,
    page_title: str,
    *,
    refusals_only: bool = False,
    oldest_first: bool = False,
) -> Any:
    """The shared body of the entries, refusals and subject pages."""
    actor = current_actor()
    review.require_reviewer(actor)
    errors: dict[str, list[str]] = {}
    # On the subject page an empty identifier is an error; the entries page's form always
    # sends the (usually empty) subject field, so there only a typed identifier counts.
    typed = (request.args.get("subject") or "").strip()
    if typed or (page == "subject" and "subject" in request.args):
        response, errors = _look_up_subject(actor, page)
        if response is not None:
            return response
    options = review.filter_options(actor)
    entry_filter, filter_errors = review.parse_filter(
        request.args, options, refusals_only=refusals_only
    )
    errors = {**filter_errors, **errors}
    context: dict[str, Any] = {
        "choices": _choices(options, with_outcome=not refusals_only),
        "values": {key: request.args.get(key, "") for key in FORM_FIELDS},
        "entry_filter": entry_filter,
        "errors": errors,
        "subject_kinds": review.SUBJECT_KINDS,
        "export_cap": review.EXPORT_CAP,
        "page_title": page_title,
        "remove_subject": url_for(
            request.endpoint or "audit.home",
            **{k: v for k, v in entry_filter.query_args().items() if k != "pseudonym"},
        ),
    }
    if errors:
        review.record_review(actor, page=page, rejected_filters=sorted(errors))
        return render_template(template, results=None, **context), 422
    show = page != "subject" or entry_filter.pseudonym is not None
    results = None
    if show:
        results = review.list_entries(
            actor, entry_filter, _page_number(), oldest_first=oldest_first
        )
        args = entry_filter.query_args()
        context["page_links"] = _page_links(
            request.endpoint or "", args, results.page, results.pages
        )
        context["export_args"] = args
        if refusals_only:
            context["reasons"] = review.refusal_reasons(actor, entry_filter)
        if page != "subject":
            context["saved"] = [
                (
                    saved,
                    url_for(
                        "audit.refusals"
                        if saved_filters.query_args(saved).get("view") == "refusals"
                        else "audit.home",
                        **{k: v for k, v in saved_filters.query_args(saved).items() if k != "view"},
                    ),
                )
                for saved in saved_filters.saved_filters(actor)
            ]
            context["save_url"] = (
                url_for("audit.save_filter", **args) if entry_filter.names() else None
            )
    review.record_review(
        actor,
        page=page,
        filters=entry_filter.names(),
        returned=len(results.rows) if results else 0,
        page_number=results.page if results else 0,
    )
    return render_template(template, results=results, **context)


@blueprint.get("/")
@signed_in_required
def home() -> Any:
    """The audit log, newest first, filtered by person, organisation, agreement, purpose,
    action, outcome, dates and subject."""
    return _entry_list("entries", "audit/entries.html", "Audit log")


@blueprint.get("/refusals")
@signed_in_required
def refusals() -> Any:
    """Refused requests and failed sign-ins, counted by reason."""
    return _entry_list("refusals", "audit/refusals.html", "Refusals", refusals_only=True)


@blueprint.get("/subject")
@signed_in_required
def subject() -> Any:
    """Everything the log holds about one subject, oldest first (subject access requests)."""
    return _entry_list("subject", "audit/subject.html", "Subject access history", oldest_first=True)


@blueprint.get("/entries/<int:seq>")
@signed_in_required
def entry(seq: int) -> Any:
    """One entry: who, what, which record and agreement, every field of its leaf, its leaf
    hash, index and receipt."""
    actor = current_actor()
    detail = review.get_entry(actor, seq)
    review.record_review(actor, page="entry", resource_ids=[str(seq)])
    return render_template(
        "audit/entry.html",
        detail=detail,
        row=detail.row,
        explainable=is_access(detail.row.action),
        page_title=detail.row.title,
    )


@blueprint.get("/entries/<int:seq>/explain")
@signed_in_required
def explain(seq: int) -> Any:
    """Explain an access: who, under which agreement and purpose, which fields, and what else
    that person read that day."""
    actor = current_actor()
    found = explanations.explain(actor, seq)
    person = found.row.actor.partition(":")[2] if found.row.actor.startswith("person:") else None
    options = review.filter_options(actor)
    same_day_args = None
    if person and person in {value for value, _ in options.people}:
        same_day_args = {"person": person, "date_from": found.day, "date_to": found.day}
    return render_template(
        "audit/explain.html",
        found=found,
        row=found.row,
        same_day_args=same_day_args,
        page_title=f"Explain this access: {found.row.title}",
    )


# --- saved filters ----------------------------------------------------------------------


@blueprint.route("/saved-filters/new", methods=["GET", "POST"])
@signed_in_required
def save_filter() -> Any:
    """Name the filters in use and keep them, to come back to in one click."""
    actor = current_actor()
    review.require_reviewer(actor, "audit.filter.save")
    options = review.filter_options(actor)
    source = request.form if request.method == "POST" else request.args
    entry_filter, errors = review.parse_filter(
        source, options, refusals_only=source.get("view") == "refusals"
    )
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    form_errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            saved_filters.save_filter(actor, request.form, entry_filter)
        except ValidationFailed as exc:
            keep_refusal(actor, exc)
            form_errors = exc.errors
        else:
            flash("Filter saved. It is listed under Saved filters.", "success")
            args = entry_filter.query_args()
            target = "audit.refusals" if args.pop("view", None) else "audit.home"
            return redirect(url_for(target, **args))
    return render_template(
        "audit/save_filter.html",
        entry_filter=entry_filter,
        described=_describe_filter(entry_filter, options),
        args=entry_filter.query_args(),
        errors=form_errors,
        name=request.form.get("name", "") if request.method == "POST" else "",
        page_title="Save these filters",
    ), (422 if form_errors else 200)


@blueprint.post("/saved-filters/<filter_id>/delete")
@signed_in_required
def delete_filter(filter_id: str) -> Any:
    """Delete one of your saved filters."""
    actor = current_actor()
    saved_filters.delete_filter(actor, filter_id)
    flash("Saved filter deleted.", "success")
    return redirect(url_for("audit.home"))


def _describe_filter(
    entry_filter: review.EntryFilter, options: review.FilterOptions
) -> list[tuple[str, str]]:
    """The filters in use, in words, as (what, value) pairs."""
    f = entry_filter
    people, orgs = dict(options.people), dict(options.organisations)
    agreements, purposes = dict(options.agreements), dict(options.purposes)
    described = [
        ("Person", people.get(f.person_id or "")),
        ("Organisation that acted", orgs.get(f.organisation_id or "")),
        ("Action", in_words(f.action) if f.action else None),
        ("Outcome", f.outcome.capitalize() if f.outcome else None),
        ("Agreement", agreements.get(f.agreement_id or "")),
        ("Purpose", purposes.get(f.purpose or "")),
        ("From (UTC)", f.date_from.isoformat() if f.date_from else None),
        ("To (UTC)", f.date_to.isoformat() if f.date_to else None),
        ("Subject", "One subject (by pseudonym)" if f.pseudonym else None),
        ("Page", "Refusals only" if f.refusals_only else None),
    ]
    return [(what, value) for what, value in described if value]


# --- exports ----------------------------------------------------------------------------


def _export(kind: str) -> tuple[review.Export, review.EntryFilter]:
    """Check, integrate, read and audit an export of the current filter."""
    actor = current_actor()
    review.require_reviewer(actor, "audit.export")
    options = review.filter_options(actor)
    entry_filter, errors = review.parse_filter(
        request.args, options, refusals_only=request.args.get("view") == "refusals"
    )
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    # Integrate first, so that every entry has its index and the receipts the newest checkpoint.
    log.integrate_now(force_checkpoint=True)
    export = review.export_entries(actor, entry_filter)
    review.record_review(
        actor,
        "audit.export",
        format=kind,
        filters=entry_filter.names(),
        count=len(export.entries),
        total=export.total,
    )
    return export, entry_filter


def _download(body: str, mimetype: str, extension: str, export: review.Export) -> Response:
    """An attachment whose name, and headers, say whether the cap cut the export short."""
    name = "audit-log"
    if export.truncated:
        name += f"-first-{len(export.entries)}-of-{export.total}"
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{extension}"',
            "X-Hub-Export-Total": str(export.total),
            "X-Hub-Export-Truncated": "true" if export.truncated else "false",
        },
    )


@blueprint.get("/export.csv")
@signed_in_required
def export_csv() -> Any:
    """The current filter's entries as CSV, one row per entry (at most 10,000)."""
    export, _filter = _export("csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(review.CSV_COLUMNS)
    writer.writerows(review.csv_row(item) for item in export.entries)
    return _download(buffer.getvalue(), "text/csv", "csv", export)


@blueprint.get("/export.json")
@signed_in_required
def export_json() -> Any:
    """The current filter's entries as JSON, each with its exact leaf and a receipt."""
    export, entry_filter = _export("json")
    found = review.receipts(item.index for item in export.entries if item.index is not None)
    checkpoint = log.latest_checkpoint(db.session())
    body = {
        "generated_at": utcnow().isoformat(),
        "filters": entry_filter.query_args(),
        "total": export.total,
        "exported": len(export.entries),
        "cap": review.EXPORT_CAP,
        "truncated": export.truncated,
        "verifier_key": log.verifier_key(),
        "checkpoint": checkpoint.note if checkpoint else None,
        "entries": [
            {
                "seq": item.seq,
                "index": item.index,
                "leaf": base64.b64encode(item.leaf).decode(),
                "entry": item.entry,
                "receipt": found[item.index][0] if item.index in found else None,
                "receipt_checkpoint": found[item.index][1] if item.index in found else None,
            }
            for item in export.entries
        ],
    }
    text = json.dumps(body, ensure_ascii=False, indent=1)
    return _download(text, "application/json", "json", export)


# --- activity ---------------------------------------------------------------------------


def _nice_maximum(value: int) -> int:
    """The smallest of 4, 8, 20, 40, 80, 200, ... at or above `value` (4 even gridlines)."""
    step = 1
    while True:
        for factor in (4, 8, 20):
            if value <= factor * step:
                return factor * step
        step *= 10


def _line_chart(days: Sequence[str], series: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Coordinates for a server-drawn SVG line chart (presentation attributes only: the CSP
    blocks style attributes, not these)."""
    width, height = 960, 320
    left, right, top, bottom = 56, 32, 16, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_maximum(max([1, *(max(s["counts"], default=0) for s in series)]))
    step = plot_w / max(1, len(days) - 1)

    def y(count: int) -> float:
        """The vertical position of a count (SVG's y axis points down)."""
        return round(top + plot_h - count / peak * plot_h, 1)

    lines = []
    for item in series:
        points = [(round(left + i * step, 1), y(c)) for i, c in enumerate(item["counts"])]
        lines.append(
            {**item, "points": " ".join(f"{px},{py}" for px, py in points), "markers": points}
        )
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": top + plot_h,
        "y_ticks": [(peak * k // 4, y(peak * k // 4)) for k in range(5)],
        "x_ticks": [
            (label, round(left + i * step, 1))
            for i, label in enumerate(days)
            if i % 5 == 0 or i == len(days) - 1
        ],
        "lines": lines,
    }


def _series(
    result: access_activity.Activity, labels: Mapping[str | None, str]
) -> list[dict[str, Any]]:
    """The largest organisations one by one, the rest summed (as the chart and table show)."""
    shown = result.organisations[:CHART_SERIES]
    rest = result.organisations[CHART_SERIES:]
    series = [
        {"label": labels[org], "counts": [result.counts.get((org, d), 0) for d in result.days]}
        for org in shown
    ]
    if rest:
        series.append(
            {
                "label": f"Other organisations ({len(rest)})",
                "counts": [
                    sum(result.counts.get((org, d), 0) for org in rest) for d in result.days
                ],
            }
        )
    for item, (colour, dash) in zip(series, SERIES_STYLES, strict=False):
        item.update(colour=colour, dash=dash)
    return series


def _flag_view(
    flag: access_activity.Flag,
    org_labels: Mapping[str | None, str],
    actor_names: Mapping[str, str],
    filterable: Mapping[str, str],
    reviews: Mapping[str, list[flag_reviews.ReviewShown]],
) -> dict[str, Any]:
    """A flag with names, a link to the entries behind it (where the reviewer may filter),
    its reviews and the link to mark it reviewed."""
    day = access_activity.day_of(flag.day).isoformat()
    link = None
    if flag.actor is None and flag.organisation is not None:
        link = url_for("audit.home", organisation=flag.organisation, date_from=day, date_to=day)
    elif flag.actor is not None and flag.actor in filterable:
        person = flag.actor.partition(":")[2]
        link = url_for("audit.home", person=person, date_from=day, date_to=day)
    actor_name = None
    if flag.actor is not None:
        actor_name = naming.who_acted(
            flag.actor, actor_names.get(flag.actor), org_labels.get(flag.organisation)
        )
    return {
        "key": flag.key,
        "day": day,
        "count": flag.count,
        "organisation": org_labels.get(flag.organisation, flag.organisation or NO_ORGANISATION),
        "actor": flag.actor,
        "actor_name": actor_name,
        "detail": flag.detail,
        "link": link,
        "reviews": reviews.get(flag.key, []),
        "review_url": url_for("audit.review_flag", flag=flag.key),
    }


@blueprint.get("/activity")
@signed_in_required
def activity() -> Any:
    """Access volume per organisation per day for 30 days, and flags for unusual access."""
    actor = current_actor()
    result = access_activity.activity(actor)
    flagged = [flag for flags in result.flags.values() for flag in flags]
    names = naming.organisation_names(
        [*result.organisations, *(flag.organisation for flag in flagged)]
    )
    labels = {org: names.get(org or "", org or NO_ORGANISATION) for org in result.organisations}
    org_labels = {None: NO_ORGANISATION, **names}
    flag_actors = [f.actor for f in flagged if f.actor]
    actor_names = naming.names_of_people(flag_actors)
    filterable = naming.actor_names_for(actor, flag_actors)
    reviews = flag_reviews.reviews_of(actor, [f.key for f in flagged])
    series = _series(result, labels)
    days = [access_activity.day_of(day).isoformat() for day in result.days]
    table = [
        {"day": label, "counts": [s["counts"][i] for s in series]} for i, label in enumerate(days)
    ]
    flags = [
        {
            "rule": access_activity.RULES[rule],
            "title": RULE_TITLES[rule],
            "key": rule,
            "items": [
                _flag_view(f, org_labels, actor_names, filterable, reviews)
                for f in result.flags[rule]
            ],
        }
        for rule in access_activity.RULES
    ]
    review.record_review(actor, page="activity", flags=sum(len(f) for f in result.flags.values()))
    return render_template(
        "audit/activity.html",
        chart=_line_chart([d[5:] for d in days], series),
        series=series,
        table=table,
        totals=[(labels[org], result.total(org)) for org in result.organisations],
        flags=flags,
        first_day=days[0],
        last_day=days[-1],
        page_title="Activity and unusual access",
    )


@blueprint.route("/flags/review", methods=["GET", "POST"])
@signed_in_required
def review_flag() -> Any:
    """Mark an unusual-access flag reviewed, with a note of what you found (the note is kept
    beside the log, never in it)."""
    actor = current_actor()
    key = (request.values.get("flag") or "").strip()
    flag = flag_reviews.find_flag(actor, key)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            flag_reviews.review_flag(actor, key, request.form)
        except ValidationFailed as exc:
            keep_refusal(actor, exc)
            errors = exc.errors
        else:
            flash("Flag marked as reviewed. Your note is kept with the flag.", "success")
            return redirect(url_for("audit.activity") + f"#flags-{flag.rule}")
    names = naming.organisation_names([flag.organisation])
    organisation = names.get(flag.organisation or "", NO_ORGANISATION)
    actor_name = (
        naming.who_acted(
            flag.actor, naming.names_of_people([flag.actor]).get(flag.actor), organisation
        )
        if flag.actor
        else None
    )
    review.record_review(actor, page="flag_review", rule=flag.rule)
    return render_template(
        "audit/review_flag.html",
        flag=flag,
        title=RULE_TITLES[flag.rule],
        rule=access_activity.RULES[flag.rule],
        day=access_activity.day_of(flag.day).isoformat(),
        organisation=organisation,
        actor_name=actor_name,
        reviews=flag_reviews.reviews_of(actor, [flag.key]).get(flag.key, []),
        errors=errors,
        note=request.form.get("note", "") if request.method == "POST" else "",
        page_title="Mark a flag as reviewed",
    ), (422 if errors else 200)


# --- integrity --------------------------------------------------------------------------

#: Peer hubs (hub/federation/models.py), read by table name: audit imports no domain package.
_PEER_HUBS = sa.table(
    "peer_hubs",
    sa.column("organisation_id", sa.Uuid()),
    sa.column("witnessed_size", sa.BigInteger()),
    sa.column("witnessed_at", UTCDateTime()),
    sa.column("last_witness_at", UTCDateTime()),
    sa.column("last_witness_outcome", sa.String()),
    sa.column("last_witness_detail", sa.String()),
)
_ORGANISATIONS = sa.table("organisations", sa.column("id", sa.Uuid()), sa.column("name"))


def _peer_witnessing(cosigners: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For each peer hub: what this hub last cosigned of its log, and what it last cosigned of
    ours (its witness's latest cosignature here), with times and the last round's outcome."""
    rows = db.session.execute(
        sa.select(_PEER_HUBS, _ORGANISATIONS.c.name)
        .join(_ORGANISATIONS, _ORGANISATIONS.c.id == _PEER_HUBS.c.organisation_id)
        .order_by(_ORGANISATIONS.c.name)
    ).mappings()
    theirs: dict[str, Mapping[str, Any]] = {}
    for cosigner in cosigners:
        best = theirs.get(cosigner["organisation_id"])
        if best is None or cosigner["size"] > best["size"]:
            theirs[cosigner["organisation_id"]] = cosigner
    return [{**row, "theirs": theirs.get(str(row["organisation_id"]))} for row in rows]


def _age_in_words(age: timedelta) -> str:
    """How long ago, as a person says it ("3 hours ago"), rounded down."""
    seconds = int(age.total_seconds())
    if seconds < 60:
        return "less than a minute ago"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class Witnessing:
    """The witness policy and the latest checkpoint that meets it, for the integrity page."""

    policy: witnesses.WitnessPolicy
    counting: list[str]  # the names of the witnesses whose cosignatures count
    witnessed: witnesses.WitnessedCheckpoint | None
    #: (witness name, when it says it cosigned) for each cosignature that counts, by name.
    cosigned: list[tuple[str, datetime]]
    age: str | None  # since the policy was met, in words
    stale: bool  # older than HUB_AUDIT_WITNESSED_MAX_AGE_HOURS
    max_age_hours: float
    entries_since: int  # entries written after the witnessed checkpoint

    @property
    def satisfiable(self) -> bool:
        return self.policy.quorum <= len(self.counting)


def _witnessing() -> Witnessing:
    """Whether the log is independently witnessed, and how recently."""
    session = db.session()
    settings = current_app.config["HUB_SETTINGS"]
    policy = witnesses.WitnessPolicy.current()
    counting = [w.name for w in witnesses.counting_witnesses(session, policy)]
    witnessed = witnesses.latest_witnessed(session, log.verifier_key(), policy)
    max_age = float(settings.audit_witnessed_max_age_hours)
    age = None
    stale = False
    entries_since = 0
    cosigned: list[tuple[str, datetime]] = []
    if witnessed is not None:
        # The hub's own clock says when the policy was met; a witness's clock may be off.
        elapsed = max(utcnow() - witnessed.witnessed_at, timedelta(0))
        age = _age_in_words(elapsed)
        stale = elapsed > timedelta(hours=max_age)
        entries_since = max(log.tree_size(session) - witnessed.checkpoint.size, 0)
        cosigned = [
            (witness.name, datetime.fromtimestamp(cosignature.timestamp, UTC))
            for witness, cosignature in witnessed.cosignatures
        ]
    return Witnessing(
        policy=policy,
        counting=counting,
        witnessed=witnessed,
        cosigned=cosigned,
        age=age,
        stale=stale,
        max_age_hours=max_age,
        entries_since=entries_since,
    )


@blueprint.route("/integrity", methods=["GET", "POST"])
@signed_in_required
def integrity() -> Any:
    """The last verification, the latest signed and witnessed checkpoints, the verifier key
    and the cosigners; "Verify now" re-checks the whole log."""
    actor = current_actor()
    if request.method == "POST":
        review.require_reviewer(actor, "audit.verify")
        try:
            log.integrate_now(force_checkpoint=True)
        except log.AuditIntegrityError:
            # The integrator refuses to sign over a damaged tree; verifying says what is wrong.
            db.session.rollback()
        row = review.verify_now(actor)
        if row.ok:
            flash(f"The log verified: {row.tree_size:,} entries hold together.", "success")
        else:
            flash("The log FAILED verification. See the summary below.", "error")
        return redirect(url_for("audit.integrity"))
    state = review.integrity(actor)
    triggered_by = None
    if state.last_verification is not None:
        reference = state.last_verification.triggered_by
        triggered_by = naming.actor_names_for(actor, [reference]).get(reference, reference)
    review.record_review(actor, page="integrity")
    return render_template(
        "audit/integrity.html",
        state=state,
        peers=_peer_witnessing(state.cosigners),
        witnessing=_witnessing(),
        triggered_by=triggered_by,
        root=base64.b64encode(state.checkpoint.root).decode() if state.checkpoint else None,
        page_title="Log integrity",
    )
