"""The AWS replay function's answers carry the replay's security headers, beside pywb's own CSP."""

from __future__ import annotations

import base64

from strongroom.handlers import replay
from strongroom.render.safety import REPLAY_HEADERS

PYWB_CSP = "default-src 'unsafe-eval' 'unsafe-inline' 'self' data: blob: mediastream: ws: wss: ; form-action 'self'"


def _event(path: str) -> dict:
    return {
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "replay.example"},
        "requestContext": {"http": {"method": "GET", "sourceIp": "192.0.2.1"}},
    }


def test_every_answer_carries_the_replay_policy_and_keeps_pywbs(monkeypatch):
    def app(environ, start_response):
        framed = environ["PATH_INFO"].split("/")[2].endswith("mp_")
        headers = [("Content-Type", "text/html; charset=utf-8")] + (
            [("Content-Security-Policy", PYWB_CSP)] if framed else []
        )
        start_response("200 OK", headers)
        return [b"<html></html>"]

    monkeypatch.setattr(replay, "_current", lambda: {"app": app, "large": {}, "render": "r1"})
    for path, pywb_policy in (
        ("/jrs/20240101000000/https://example.org/", False),
        ("/jrs/20240101000000mp_/https://example.org/", True),
    ):
        answer = replay.handler(_event(path), None)
        headers = answer["headers"]
        assert answer["statusCode"] == 200 and base64.b64decode(answer["body"]) == b"<html></html>"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == REPLAY_HEADERS["Referrer-Policy"]
        policies = headers["Content-Security-Policy"].split(", ")
        assert policies == ([PYWB_CSP] if pywb_policy else []) + [REPLAY_HEADERS["Content-Security-Policy"]]
