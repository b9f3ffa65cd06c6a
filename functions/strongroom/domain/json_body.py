"""Reading a request's JSON body without trusting it.

json.loads recurses once per nesting level, so a body of 100000 nested lists exhausts the
interpreter's stack (RecursionError, which an API would answer with a 500). The depth is
therefore measured first, in one pass that never recurses, and bodies deeper than any real
request, or larger, are refused with the field and the rule they break.
"""

from __future__ import annotations

import json
import re

from strongroom.domain.errors import TooLarge, Unreadable

MAX_DEPTH = 32  # a proposal is 4 levels deep
MAX_BYTES = 1024 * 1024  # a proposal of 1000 AUs and a 20000-character statement is about 100 KB

_SIGNIFICANT = re.compile(r'["\\\[\]{}]')


def depth(text: str, limit: int) -> int:
    """How deeply arrays and objects nest in `text` (brackets inside strings do not count);
    stops counting at limit + 1."""
    level = deepest = 0
    in_string = False
    escaped_at = -1
    for m in _SIGNIFICANT.finditer(text):
        at, char = m.start(), m.group()
        if at == escaped_at:
            continue
        if in_string:
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            if level > deepest:
                deepest = level
                if deepest > limit:
                    return deepest
        elif char in "]}":
            level -= 1
    return deepest


def loads(text: str | bytes, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH):
    """The JSON value of a request body, or TooLarge / Unreadable naming the rule broken."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > max_bytes:
        raise TooLarge(
            f"the request body is {size} bytes; this API takes at most {max_bytes} bytes. "
            "Send a smaller request (e.g. propose fewer AUs at a time)",
            "body",
            "size",
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Unreadable(
                f"the request body is not UTF-8 (byte {e.start}); send JSON encoded as UTF-8", "body", "utf-8"
            ) from None
    if depth(text, max_depth) > max_depth:
        raise Unreadable(
            f"the request body nests arrays or objects more than {max_depth} levels deep; no "
            "request of this API needs that. Send the JSON document the API describes",
            "body",
            "depth",
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise Unreadable(
            f"the request body is not JSON: {e.msg} at line {e.lineno}, column {e.colno}. "
            "Send a JSON document with Content-Type: application/json",
            "body",
            "json",
        ) from None
