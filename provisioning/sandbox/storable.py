"""What the database can take from a request: a JSON body, and text from the path.

PostgreSQL refuses NUL characters and unpaired surrogates in text and JSON, so
the API answers 400 (or 404, for a path) before a query could fail on them.
"""

import json
import math

from provisioning.sandbox.errors import bad_request

MAX_NESTING = 64


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def parse_json(raw):
    """Bytes -> a JSON value the database can store, or a 400."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_float=_finite_float, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad_request("The request body is not valid JSON.", "provisioning:json.invalid") from None
    problem = unstorable(value)
    if problem:
        raise bad_request(f"The request body {problem}.", "provisioning:json.invalid")
    return value


def unstorable(value):
    """Why the database (or json.dumps, later) could not take ``value``, or None.

    PostgreSQL refuses NUL characters and unpaired surrogates in text and JSON;
    nesting is capped so that encoding the value again cannot hit Python's
    recursion limit, whatever the stack depth at that point.
    """
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            return f"nests deeper than {MAX_NESTING} levels"
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str) and not storable_text(item):
            return "contains a NUL character or an unpaired surrogate"
    return None


def storable_text(text):
    """True when ``text`` (a JSON string, or a path segment) can be used in a database query."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
