"""Request bodies are measured before they are parsed: depth without recursion, size, UTF-8."""

from __future__ import annotations

import pytest

from strongroom.domain import json_body
from strongroom.domain.errors import TooLarge, Unreadable


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "]]"]', 1),  # brackets inside strings do not count
        (r'["a \" [[[", "\\", [[]]]', 3),  # nor after an escaped quote; an escaped backslash ends its escape
    ],
)
def test_depth_counts_only_structure(text, expected):
    assert json_body.depth(text, 100) == expected


def test_depth_stops_counting_past_the_limit():
    assert json_body.depth("[" * 1_000_000, 32) == 33


def test_a_body_within_limits_is_parsed():
    assert json_body.loads(b'{"aus": ["a/b/c"]}') == {"aus": ["a/b/c"]}


@pytest.mark.parametrize(
    "body,kind,rule",
    [
        ("[" * 33 + "]" * 33, Unreadable, "depth"),
        (b"\xff{}", Unreadable, "utf-8"),
        ("{'single': 'quotes'}", Unreadable, "json"),
        ("[" + " " * 2000 + "]", TooLarge, "size"),
    ],
)
def test_bad_bodies_are_refused_naming_the_rule(body, kind, rule):
    with pytest.raises(kind) as e:
        json_body.loads(body, max_bytes=1000)
    assert e.value.errors[0].field == "body" and e.value.errors[0].rule == rule
