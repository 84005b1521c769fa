"""The one syntax the API reads numbers in from text (a path, a query string, a bbox):
JSON's, in ASCII digits. No `+`, no leading zeros, no `1_000`, no Arabic or full-width
digits, no `NaN` or `Infinity`, and an integer has neither a fraction nor an exponent."""

import re

INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def parse_number(text: str) -> float:
    """The number `text` writes; ValueError unless it is written as JSON writes numbers."""
    if NUMBER.fullmatch(text) is None:
        raise ValueError(f"not a number: {text[:40]!r}")
    return float(text)
