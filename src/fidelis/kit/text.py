"""Customer-facing text: sanitized with a real HTML sanitizer, never a regex."""

from __future__ import annotations

import html

import nh3


def strip_html(value: str) -> str:
    """Remove every tag (keeping their text) and return plain, trimmed text."""
    cleaned = nh3.clean(value, tags=set(), attributes={}, strip_comments=True)
    # nh3 escapes the text it keeps; the stored value is plain text, escaped again at render time.
    return html.unescape(cleaned).strip()


def blank(value: str | None) -> bool:
    return value is None or not value.strip()
