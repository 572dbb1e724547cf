"""Text that came from files or folder names, made safe to print: no control characters, bounded length."""

from __future__ import annotations

import unicodedata

MAX_SHOWN = 120


def printable(text: object, limit: int = MAX_SHOWN) -> str:
    """`text` as one printable line: control and format characters (escape sequences, newlines, bidi marks)
    become '?', and anything past `limit` characters is cut with an ellipsis."""
    cleaned = "".join("?" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in str(text))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def shown(value: object, limit: int = 60) -> str:
    """A short, printable repr of a value read from a file, for an error message."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # absurdly nested or huge values read from a file
        text = f"<{type(value).__name__}>"
    return printable(text, limit)
