"""docs/openapi.json is generated from the release API's routes; it must not drift from them."""

from __future__ import annotations

import json
from pathlib import Path

from strongroom.handlers.release_api import openapi_json

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_openapi_document_matches_the_routes():
    assert json.loads(DOC.read_text("utf-8")) == json.loads(openapi_json()), (
        "docs/openapi.json is out of date: regenerate it with "
        "`.venv/bin/python -m strongroom.handlers.release_api > docs/openapi.json`"
    )


def test_openapi_names_every_route_and_the_rules_fields():
    doc = json.loads(openapi_json())
    assert set(doc["paths"]) == {
        "/releases",
        "/releases/{release_id}",
        "/releases/{release_id}/approve",
        "/releases/{release_id}/withdraw",
    }
    schemas = doc["components"]["schemas"]
    assert {"for", "against", "abstain"} <= set(schemas["BoardIn"]["properties"])
    assert "CC-BY-4.0" in json.dumps(schemas["ProposalIn"]["properties"]["license"])
