"""Examples for every operation of the OpenAPI document: each JSON request body and each
successful response gets one, so that a partner reading `/api/docs` (or any tool reading the
document) sees what a call sends and gets back.

Most are made from the operation's own schema (`example_for`), with values chosen by field
name and format so they read like the hub's data (fictional, like the demo's) and validate
against the schema they illustrate (tests/web/test_openapi_examples.py checks every one). The
calls a partner makes first have hand-written examples (`CURATED`), which win.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from core.errors import PROBLEM_BASE

JSON_TYPE = "application/json"
REF_PREFIX = "#/components/schemas/"
#: How deep nested schemas are followed (the hub's deepest is four levels).
MAX_DEPTH = 8

EXAMPLE_UUID = "4f1c2a9e-5b57-4a43-9d4b-3f3c0f6e2b11"
EXAMPLE_MOMENT = "2026-11-22T14:30:00+00:00"
EXAMPLE_DATE = "2026-11-22"

#: Values by field name, for strings with no format or list of values of their own.
BY_NAME: dict[str, Any] = {
    "id": EXAMPLE_UUID,
    "display_name": "Dr Ember Quillfeather",
    "name": "Ember Quillfeather",
    "speaker_name": "Dr Ember Quillfeather",
    "matched_name": "Ember Quillfeather",
    "for_name": "Rosa Quill",
    "chair_name": "Colm Ridley",
    "issuer_name": "Northshire Police Prevent",
    "origin_name": "Northshire hub",
    "title": "Lanterns and tides",
    "event_title": "Lanterns and tides",
    "synopsis": "A talk on the moon's pull on the northern tides.",
    "organiser_name": "Lantern Society of Fellwater",
    "organisation": "University of Northshire",
    "organisation_name": "Lanternwick Society",
    "owner": "University of Northshire",
    "owner_name": "University of Northshire",
    "venue_place": "Brindlewood Hall",
    "location": "County Hall, committee room 2",
    "online_link": "https://meet.example/northshire-group",
    "url": "https://lanternwick.example/people/ember",
    "source_url": "https://fair.example/programme",
    "link": "/shared/speakers/4f1c2a9e-5b57-4a43-9d4b-3f3c0f6e2b11",
    "slug": "ravensmoor-university",
    "region": "Northshire",
    "reference": "NSH-DSA-2026-01",
    "purpose": "speaker_due_diligence",
    "designated_person": "Dara Protheroe, Data Protection Officer",
    "dp_contact_name": "Dara Protheroe",
    "dp_contact_email": "dpo@uni-northshire.example",
    "signatory": "Dara Protheroe",
    "role": "Trustee",
    "query": "Ember Quillfeather",
    "q": "Ember Quillfeather",
    "topics": "tidal astronomy",
    "tags": "astronomy",
    "speaker_aliases": "E. Q. Vane",
    "content_hash": "9f2c3b1e0d4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e",
    "leaf_hash": "m1J8mJ0a3H6yD0o8m2vQm9w5JQmKQe6Vd3H3rj1p0wQ=",
    "hashes": "0bq0qR6aXgkZr5bX3y9w1Yd3W0P0Gm6wQ1vS5d8s2zA=",
    "scopes": "speakers:read",
    "source": "The fair's printed programme",
    "text": "Spoke at the Northshire lantern fair about tidal calendars.",
    "rationale": "An independent chair and stewards at each exit make the event safe to hold.",
    "reason": "A possible breach is being investigated.",
    "question": "Is there anything we should know before this talk?",
    "summary": "Schedule: topics now pseudonymised.",
    "description": "Shares speaker records for due diligence before invitations.",
    "note": "Checked against the agreement's schedule.",
    "notes": "Checked against the agreement's schedule.",
    "conditions": "Stewards at each exit.",
    "detail": "Described in the organiser's form.",
    "message": "A statement about a speaker you hold was corrected.",
    "body": "A statement about a speaker you hold was corrected.",
    "label": "Speaker due diligence",
    "code": "speaker_due_diligence",
    "kind": "alias",
    "type": "reciprocal",
    "state": "active",
    "status": "active",
}
#: Every field whose name ends so is that kind of value.
BY_SUFFIX = (
    ("_id", EXAMPLE_UUID),
    ("_ids", EXAMPLE_UUID),
    ("_org", "University of Northshire"),
    ("_at", EXAMPLE_MOMENT),
    ("_on", EXAMPLE_DATE),
    ("_email", "dpo@uni-northshire.example"),
    ("_name", "Ember Quillfeather"),
    ("_detail", "Described in the organiser's form."),
    ("_reason", "A possible breach is being investigated."),
    ("_note", "Checked against the agreement's schedule."),
    ("_notes", "Checked against the agreement's schedule."),
)
BY_FORMAT = {
    "uuid": EXAMPLE_UUID,
    "date-time": EXAMPLE_MOMENT,
    "date": EXAMPLE_DATE,
    "email": "dpo@uni-northshire.example",
    "uri": "https://lanternwick.example/people/ember",
    "url": "https://lanternwick.example/people/ember",
}
#: A sentence for any other text.
TEXT = "Described in plain words."


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if kind is None:
        return []
    return [kind] if isinstance(kind, str) else [k for k in kind if k != "null"] or list(kind)


def _string(schema: Mapping[str, Any], name: str | None) -> str:
    value = BY_FORMAT.get(schema.get("format", ""))
    if value is None and name:
        named = BY_NAME.get(name)
        value = named if isinstance(named, str) else None
        if value is None:
            value = next((v for suffix, v in BY_SUFFIX if name.endswith(suffix)), None)
    if value is None:
        value = TEXT
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if high is not None and len(value) > high:
        value = value[:high]
    if len(value) < low:
        value = value + "x" * (low - len(value))
    return value


def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    high = schema.get("maximum")
    value: int | float = max(low, 1)
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        value = schema["exclusiveMinimum"] + 1
    if high is not None:
        value = min(value, high)
    return int(value) if integer else float(value)


def example_for(
    schema: Mapping[str, Any] | None,
    schemas: Mapping[str, Any],
    *,
    name: str | None = None,
    writing: bool = False,
    depth: int = 0,
) -> Any:
    """An example value for `schema` (components resolved from `schemas`): every property of an
    object (for a request body, only those a caller may write), one item of an array."""
    if not isinstance(schema, Mapping) or depth > MAX_DEPTH:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        target = schemas.get(ref[len(REF_PREFIX) :])
        return example_for(target, schemas, name=name, writing=writing, depth=depth + 1)
    for key in ("example", "default"):
        if schema.get(key) is not None:
            return copy.deepcopy(schema[key])
    if schema.get("examples"):
        return copy.deepcopy(schema["examples"][0])
    if schema.get("enum"):
        return next((v for v in schema["enum"] if v is not None), None)
    for key in ("allOf", "oneOf", "anyOf"):
        options = [s for s in schema.get(key, []) if _types(s) != ["null"]]
        if options:
            return example_for(options[0], schemas, name=name, writing=writing, depth=depth + 1)
    types = _types(schema)
    if "object" in types or "properties" in schema:
        return {
            prop: example_for(sub, schemas, name=prop, writing=writing, depth=depth + 1)
            for prop, sub in schema.get("properties", {}).items()
            if not (writing and isinstance(sub, Mapping) and sub.get("readOnly"))
            and not (not writing and isinstance(sub, Mapping) and sub.get("writeOnly"))
        }
    if "array" in types:
        item = example_for(schema.get("items"), schemas, name=name, writing=writing, depth=depth)
        return [] if item is None else [item] * max(1, schema.get("minItems", 1))
    if "string" in types:
        return _string(schema, name)
    if "integer" in types:
        return _number(schema, integer=True)
    if "number" in types:
        return _number(schema, integer=False)
    if "boolean" in types:
        return False
    return None


# --- the calls a partner makes first, by hand ----------------------------------------------

CHECKPOINT = (
    "hub.northshire.example/audit\n"
    "1057\n"
    "m1J8mJ0a3H6yD0o8m2vQm9w5JQmKQe6Vd3H3rj1p0wQ=\n"
    "\n"
    "\u2014 hub.northshire.example/audit Az3kL1c0a9Zt2u6yVq0xW4e1R5t8Y2u3I6o9P0a4S7d1F3g5H8j0k=\n"
)
UNDER = {
    "agreement_id": "7c1d0e4b-91a2-4c55-b7e0-2f6a8d3c9e10",
    "reference": "NSH-DSA-2026-01",
    "version": 1,
}
NORTHSHIRE = "0b9f4c56-2a55-4f0e-8b8f-7d0b9c7e6a21"
#: (path, method) -> {status or "body": example}.
CURATED: dict[tuple[str, str], dict[str, Any]] = {
    ("/api/v1/shared/speakers/{speaker_id}", "get"): {
        "200": {
            "speaker": {
                "record_type": "speaker",
                "id": EXAMPLE_UUID,
                "owner_org_id": NORTHSHIRE,
                "existence_only": False,
                "data": {
                    "display_name": "Dr Ember Quillfeather",
                    "aliases": ["E••• Q•••"],
                    "topics": ["psn:058547693f494ba94ccc1d64", "psn:91dae6abb0d7eaa8eb5e0f83"],
                    "sources": ["•••"],
                },
                "disclosed_under": UNDER,
            },
            "owner": "University of Northshire",
            "statements": [
                {
                    "record_type": "assertion",
                    "id": "9a0e5c1d-3b7f-4e21-8c6a-5d4f3e2b1a09",
                    "owner_org_id": NORTHSHIRE,
                    "existence_only": False,
                    "data": {"kind": "fact", "text": "S••• a••• t••• N•••", "stated_on": "2026-10"},
                    "disclosed_under": UNDER,
                }
            ],
            "ratings": [],
            "appearances": [],
            "contact": {
                "organisation": "University of Northshire",
                "agreement_reference": "NSH-DSA-2026-01",
                "designated_person": "Dara Protheroe, Data Protection Officer",
                "dp_contact_name": "Dara Protheroe",
                "dp_contact_email": "dpo@uni-northshire.example",
            },
        }
    },
    ("/api/v1/me", "get"): {
        "200": {
            "kind": "client",
            "id": "hubc_3kXcTf1o0ZyVqv1Hn0s7N2pQ",
            "organisation": "ravensmoor-university",
            "roles": [],
            "scopes": ["audit:read", "audit:verify", "speakers:read"],
        }
    },
    ("/api/v1/shared/speakers", "get"): {
        "200": {
            "total": 1,
            "purpose": "speaker_due_diligence",
            "results": [
                {
                    "id": EXAMPLE_UUID,
                    "owner_org_id": NORTHSHIRE,
                    "owner": "University of Northshire",
                    "rank": 1,
                    "score": None,
                    "own": False,
                    "existence_only": False,
                    "data": {
                        "display_name": "Dr Ember Quillfeather",
                        "aliases": ["E••• Q•••"],
                        "sources": ["•••"],
                        "topics": ["psn:058547693f494ba94ccc1d64"],
                    },
                    "disclosed_under": UNDER,
                }
            ],
        },
        "400": {
            "type": f"{PROBLEM_BASE}bad-request",
            "title": "Bad request",
            "status": 400,
            "detail": "State the purpose of this call in the Hub-Purpose header.",
        },
    },
    ("/api/v1/audit/proof/inclusion", "get"): {
        "200": {
            "index": 1041,
            "size": 1057,
            "leaf_hash": "m1J8mJ0a3H6yD0o8m2vQm9w5JQmKQe6Vd3H3rj1p0wQ=",
            "hashes": [
                "0bq0qR6aXgkZr5bX3y9w1Yd3W0P0Gm6wQ1vS5d8s2zA=",
                "yq6l3Q1s9R0m2c5b8Xn7Vw4Tz0Kp3Hf6Jd2Gs1Lq9aE=",
            ],
        }
    },
    ("/api/v1/audit/checkpoint", "get"): {"200": CHECKPOINT},
    ("/api/v1/audit/verifier-key", "get"): {
        "200": "hub.northshire.example/audit+5e1c0a9b+"
        "AQm1J8mJ0a3H6yD0o8m2vQm9w5JQmKQe6Vd3H3rj1p0wQ="
    },
    ("/api/v1/audit/entries/{index}/receipt", "get"): {
        "200": CHECKPOINT + "\nindex 1041\nleaf m1J8mJ0a3H6yD0o8m2vQm9w5JQmKQe6Vd3H3rj1p0wQ=\n"
    },
    ("/api/v1/audit/cosignatures", "post"): {
        "body": CHECKPOINT
        + "\u2014 witness.ravensmoor.example Wc9pT3x1b0Qm7Lk2Jh5Gf8Ds4Aa6Zz0Yy1Xx2Ww3Vv4Uu5=\n"
    },
}


#: Request bodies left without an example, and why (path, method). Remove an entry once its
#: bug is fixed.
NO_BODY_EXAMPLE: dict[tuple[str, str], str] = {}


def add_examples(
    path: str,
    method: str,
    operation: dict[str, Any],
    schemas: Mapping[str, Any],
    problem_response: Any,
) -> None:
    """Give `operation` (mutated in place) an example on its request body and on each of its
    successful responses: the curated one, else one made from the schema."""
    curated = CURATED.get((path, method), {})
    body = operation.get("requestBody")
    if isinstance(body, dict) and (path, method) not in NO_BODY_EXAMPLE:
        for media_type, media in body.get("content", {}).items():
            if "example" in media or "examples" in media:
                continue
            if "body" in curated:
                media["example"] = copy.deepcopy(curated["body"])
            elif media_type == JSON_TYPE:
                media["example"] = example_for(media.get("schema"), schemas, writing=True)
    for status, response in list(operation.get("responses", {}).items()):
        if status in curated and isinstance(response, str):
            # A shared component: this operation gets a copy of its own to carry the example.
            response = problem_response(int(status))
            operation["responses"][status] = response
        if not isinstance(response, dict):
            continue
        for media_type, media in response.get("content", {}).items():
            if status in curated:
                media["example"] = copy.deepcopy(curated[status])
            elif status.startswith("2") and "example" not in media and media_type == JSON_TYPE:
                media["example"] = example_for(media.get("schema"), schemas)
