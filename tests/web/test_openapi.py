"""The OpenAPI document and its page (issue 14, item 9): examples on every operation that
validate against their schemas, authentication described as the hub's clients do it (a key and
bearer or DPoP tokens, never a client secret), `Hub-On-Behalf-Of` required for partner tokens
only, a getting-started guide, and a docs page with its favicon and no stray heading."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest

from hub.web.openapi_examples import NO_BODY_EXAMPLE, example_for

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def document(client) -> dict[str, Any]:
    return client.get("/api/openapi.json").get_json()


def _operations(document: dict[str, Any]):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _bodies(operation: dict[str, Any]):
    """(where, media type, media) of the request body and each successful response."""
    body = operation.get("requestBody")
    for media_type, media in (body or {}).get("content", {}).items():
        yield "request body", media_type, media
    for status, response in operation["responses"].items():
        if status.startswith("2") and isinstance(response, dict):
            for media_type, media in response.get("content", {}).items():
                yield status, media_type, media


def _validator(document: dict[str, Any], schema: dict[str, Any]):
    rooted = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "components": document["components"],
    }
    return jsonschema_rs.Draft202012Validator(rooted, validate_formats=True)


def test_every_operation_has_an_example_of_what_it_sends_and_answers(document):
    missing = [
        (path, method)
        for path, method, operation in _operations(document)
        for where, _media_type, media in _bodies(operation)
        if "example" not in media
    ]
    assert missing == list(NO_BODY_EXAMPLE)  # each with the bug that keeps it out
    with_body = [op for _p, _m, op in _operations(document) if list(_bodies(op))]
    assert len(with_body) > 100  # nearly all of them answer a body


def test_every_example_matches_its_schema(document):
    wrong = []
    for path, method, operation in _operations(document):
        for where, _media_type, media in _bodies(operation):
            if "example" not in media:  # NO_BODY_EXAMPLE, checked above
                continue
            errors = [
                e.message
                for e in _validator(document, media["schema"]).iter_errors(media["example"])
            ]
            if errors:
                wrong.append((method.upper(), path, where, errors[:2]))
    assert wrong == []


def test_a_wrong_example_would_be_caught(document):
    """The check above can fail: a number where the schema wants a string is refused."""
    schema = document["paths"]["/api/v1/shared/speakers"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    assert not _validator(document, schema).is_valid({"total": "many", "results": [1]})


def test_generated_examples_read_like_the_hubs_data():
    schemas = {
        "Thing": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "display_name": {"type": "string"},
                "starts_at": {"type": "string", "format": "date-time"},
                "owner_org_id": {"type": "string"},
                "kind": {"type": "string", "enum": ["fact", "opinion"]},
                "size": {"type": "integer", "minimum": 5, "maximum": 9},
                "secret": {"type": "string", "readOnly": True},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
        }
    }
    example = example_for({"$ref": "#/components/schemas/Thing"}, schemas, writing=True)
    assert example["display_name"] == "Dr Ember Quillfeather"
    assert example["kind"] == "fact" and example["size"] == 5
    assert len(example["id"]) == 36 and example["starts_at"].startswith("2026-")
    assert "secret" not in example and example["tags"] == ["astronomy"]


def test_the_curated_partner_examples_are_kept(document):
    shared = document["paths"]["/api/v1/shared/speakers/{speaker_id}"]["get"]
    example = shared["responses"]["200"]["content"]["application/json"]["example"]
    assert example["speaker"]["disclosed_under"]["reference"] == "NSH-DSA-2026-01"
    assert example["speaker"]["data"]["sources"] == ["•••"]  # masked: no host
    assert example["contact"]["dp_contact_email"].endswith(".example")


def test_authentication_is_a_key_and_tokens_never_a_client_secret(document):
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"oauth2", "DPoP", "session"}
    bearer = schemes["oauth2"]
    # No OAuth flow object: tools read "clientCredentials" as a client id and secret.
    assert "flows" not in bearer
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert "private_key_jwt" in bearer["description"]
    assert "There is no client secret" in bearer["description"]
    assert (schemes["DPoP"]["type"], schemes["DPoP"]["scheme"]) == ("http", "DPoP")
    text = json.dumps(document)
    assert "client_secret" not in text and "clientCredentials" not in text


def test_on_behalf_of_is_documented_as_required_for_partner_tokens_only(document):
    shared = [op for path, _m, op in _operations(document) if path.startswith("/api/v1/shared/")]
    assert shared
    for operation in shared:
        [header] = [p for p in operation["parameters"] if p["name"] == "Hub-On-Behalf-Of"]
        assert header["in"] == "header" and header["required"] is False
        assert "Required with a partner access token" in header["description"]
        assert "People signed in to the hub do not send it" in header["description"]
    others = [op for path, _m, op in _operations(document) if path.startswith("/api/v1/speakers")]
    assert all(
        p.get("name") != "Hub-On-Behalf-Of" for op in others for p in op.get("parameters", [])
    )


def test_the_document_starts_with_a_getting_started_guide(document):
    guide = document["info"]["description"]
    assert "## Getting started" in guide
    for words in (
        "Register your system with a key",
        "private_key_jwt",
        "There is no client secret",
        "DPoP",
        "Hub-Purpose",
        "Hub-On-Behalf-Of` is required with partner tokens only",
        "/oauth/token",
    ):
        assert words in guide, words


def test_the_docs_page_has_its_favicon_styles_and_no_stray_heading(client):
    html = client.get("/api/docs").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    assert "/static/api-docs.css" in html and "/static/build/hub.css" in html
    assert "hub-visually-hidden" not in html and "<h1" not in html  # Swagger draws the title
    assert "/static/build/swagger/swagger-ui-bundle.js" in html
    icon = client.get("/static/favicon.svg")
    try:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    finally:
        icon.close()  # a static file is streamed from disk
