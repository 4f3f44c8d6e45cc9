"""Customer-facing text: sanitized with a real HTML sanitizer, never a regex."""

from __future__ import annotations

import html
import re

import nh3

MAX_PASSES = 10

# A JSON string can spell half of a UTF-16 surrogate pair (`"\ud800"`): Python keeps it, and
# no UTF-8 (what both databases store) can encode it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(value: str) -> str:
    """`value` when both databases can store it as text, else `ValueError`: no NUL (PostgreSQL
    cannot store it) and no lone surrogate. Behind the API's `Text` and the program settings'
    texts, where JSON can bring either; paths, forms and headers cannot bring a surrogate."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.isascii() and _LONE_SURROGATE.search(value):
        raise ValueError("must not contain lone UTF-16 surrogates (\\ud800-\\udfff)")
    return value


def strip_html(value: str) -> str:
    """Remove every tag (keeping their text) and return plain, trimmed text.

    nh3 escapes the text it keeps, and decoding those entities can reveal markup that was
    smuggled in encoded (`&lt;script&gt;`, `<<b>b>`). So clean and decode until nothing changes:
    each pass that changes the text makes it shorter, so this ends, and what comes out holds no
    tag a careless renderer could run.
    """
    text = value
    for _ in range(MAX_PASSES):
        cleaned = html.unescape(nh3.clean(text, tags=set(), attributes={}, strip_comments=True))
        if cleaned == text:
            break
        text = cleaned
    else:
        # Still changing after many passes: drop the angle brackets outright.
        text = text.replace("<", "").replace(">", "")
    return text.strip()


def blank(value: str | None) -> bool:
    return value is None or not value.strip()
