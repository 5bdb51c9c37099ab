"""Hono's Device and Tenant bodies, id patterns, and the search of GET /v1/devices/{tenant}.

Facts from provisioning-api.md §10 and the spec's Device and Tenant schemas: both have
``additionalProperties: false``, so an unknown property is a 400; ``via`` and ``viaGroups``
may not be set with ``memberOf``. A problem raises RegistryError(message); the view answers
400 ``{"error": message}``.
"""

import json
import re

TENANT_ID = re.compile(r"[a-zA-Z0-9_.-]+")
DEVICE_ID = re.compile(r"[a-zA-Z0-9_.:-]+")  # §10: a colon is allowed, so namespace:name fits
MAX_ID = 256
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 30

STRING_LISTS = ("via", "viaGroups", "memberOf", "authorities")
DEVICE_FIELDS = {
    "enabled": bool,
    "defaults": dict,
    "ext": dict,
    "status": dict,
    "command-endpoint": dict,
    "downstream-message-mapper": str,
    "upstream-message-mapper": str,
    **dict.fromkeys(STRING_LISTS, list),
}
TENANT_FIELDS = {
    "enabled": bool,
    "alias": str,
    "ext": dict,
    "adapters": list,
    "defaults": dict,
    "minimum-message-size": int,
    "registration-limits": dict,
    "resource-limits": dict,
    "tracing": dict,
    "trust-anchor-group": str,
    "trusted-ca": list,
}
TYPE_WORDS = {
    bool: "true or false",
    dict: "a JSON object",
    list: "an array",
    str: "a string",
    int: "an integer",
}


class RegistryError(Exception):
    pass


def id_error(value, pattern, noun):
    """Why ``value`` is not a valid tenant or device id, or None."""
    if not value or len(value) > MAX_ID or not pattern.fullmatch(value):
        return (
            f"{noun} '{value}' does not match the pattern ^{pattern.pattern}$ (at most {MAX_ID} characters)"
        )
    return None


def _check_types(body, fields, noun):
    if not isinstance(body, dict):
        raise RegistryError(f"the {noun} must be a JSON object")
    for key, value in body.items():
        expected = fields.get(key)
        if expected is None:
            raise RegistryError(f"unknown property '{key}' of the {noun}")
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise RegistryError(f"property '{key}' must be {TYPE_WORDS[expected]}")


def check_device(body):
    """The Device to store (``status`` is read-only and dropped)."""
    _check_types(body, DEVICE_FIELDS, "device")
    for key in STRING_LISTS:
        if key in body and not all(isinstance(item, str) for item in body[key]):
            raise RegistryError(f"property '{key}' must be an array of strings")
    if "memberOf" in body and ("via" in body or "viaGroups" in body):
        raise RegistryError("'via' and 'viaGroups' must not be set together with 'memberOf'")
    endpoint = body.get("command-endpoint")
    if endpoint is not None:
        unknown = sorted(set(endpoint) - {"uri", "headers", "payload-properties"})
        if unknown:
            raise RegistryError(f"unknown property '{unknown[0]}' of command-endpoint")
        if not isinstance(endpoint.get("uri"), str):
            raise RegistryError("command-endpoint needs a uri")
        for key in ("headers", "payload-properties"):
            if key in endpoint and not isinstance(endpoint[key], dict):
                raise RegistryError(f"command-endpoint {key} must be a JSON object")
    return {key: value for key, value in body.items() if key != "status"}


def check_tenant(body):
    _check_types(body, TENANT_FIELDS, "tenant")
    if "alias" in body and not re.fullmatch(r"[a-z0-9-]+", body["alias"]):
        raise RegistryError("alias may hold only lower case letters, digits and hyphens")
    adapters = body.get("adapters")
    if adapters is not None:
        if not adapters:
            raise RegistryError("adapters must not be empty when set")
        types = [item.get("type") if isinstance(item, dict) else None for item in adapters]
        if not all(isinstance(kind, str) and kind for kind in types):
            raise RegistryError("every adapter needs a type")
        if len(set(types)) != len(types):
            raise RegistryError("adapters holds the same type more than once")
    return body


# Search (the spec's searchDevicesForTenant parameters)


def search_options(query):
    """(page_size, page_offset, filters, sorts, is_gateway) from the query string, or RegistryError."""
    page_size = _int_param(query, "pageSize", DEFAULT_PAGE_SIZE, 0, MAX_PAGE_SIZE)
    page_offset = _int_param(query, "pageOffset", 0, 0, None)
    filters = [_filter(text) for text in query.getlist("filterJson")]
    sorts = [_sort(text) for text in query.getlist("sortJson")]
    is_gateway = query.get("isGateway")
    if is_gateway not in (None, "true", "false"):
        raise RegistryError("isGateway must be true or false")
    return page_size, page_offset, filters, sorts, None if is_gateway is None else is_gateway == "true"


def _int_param(query, name, default, low, high):
    text = query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"\d{1,9}", text) or int(text) < low or (high is not None and int(text) > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise RegistryError(f"{name} must be an integer {bound}")
    return int(text)


def _json_param(text, name):
    try:
        value = json.loads(text)
    except ValueError:
        raise RegistryError(f"{name} is not valid JSON") from None
    if not isinstance(value, dict) or not isinstance(value.get("field"), str):
        raise RegistryError(f"{name} must be a JSON object with a string 'field'")
    if not value["field"].startswith("/"):
        raise RegistryError(f"{name} field must be a JSON pointer, such as /ext/brand")
    return value


def _filter(text):
    value = _json_param(text, "filterJson")
    unknown = sorted(set(value) - {"field", "op", "value"})
    if unknown:
        raise RegistryError(f"unknown property '{unknown[0]}' of filterJson")
    if value.get("op", "eq") != "eq":
        raise RegistryError("filterJson op must be eq")
    if "value" not in value or not isinstance(value["value"], (bool, int, float, str)):
        raise RegistryError("filterJson value must be a boolean, a number or a string")
    return value


def _sort(text):
    value = _json_param(text, "sortJson")
    unknown = sorted(set(value) - {"field", "direction"})
    if unknown:
        raise RegistryError(f"unknown property '{unknown[0]}' of sortJson")
    if value.get("direction", "asc") not in ("asc", "desc"):
        raise RegistryError("sortJson direction must be asc or desc")
    return value


def pointer(document, path):
    """The value at a JSON pointer (RFC 6901), or None."""
    value = document
    for part in path.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def matches(document, predicate):
    actual, wanted = pointer(document, predicate["field"]), predicate["value"]
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return actual is wanted
    if isinstance(wanted, str):
        if not isinstance(actual, str):
            return False
        pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in wanted)
        return re.fullmatch(pattern, actual, re.DOTALL) is not None
    return isinstance(actual, (int, float)) and actual == wanted


def search(documents, options):
    """(total, page) of the documents (each with an "id") that match ``options``."""
    page_size, page_offset, filters, sorts, is_gateway = options
    if is_gateway is not None:
        gateways = {gw for doc in documents for gw in doc.get("via", [])}
        gateways |= {doc["id"] for doc in documents if doc.get("memberOf")}
        found = [doc for doc in documents if (doc["id"] in gateways) == is_gateway]
    else:
        found = [doc for doc in documents if all(matches(doc, f) for f in filters)]
    for option in reversed(sorts):
        present = [doc for doc in found if pointer(doc, option["field"]) is not None]
        absent = [doc for doc in found if pointer(doc, option["field"]) is None]
        present.sort(key=lambda doc: _sort_key(pointer(doc, option["field"])))
        if option.get("direction") == "desc":
            present.reverse()
        found = present + absent
    return len(found), found[page_offset : page_offset + page_size]


def _sort_key(value):
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, (int, float)):
        return (1, value, "")
    if isinstance(value, str):
        return (2, 0, value)
    return (3, 0, json.dumps(value, sort_keys=True))
