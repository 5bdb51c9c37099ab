"""ID rules for namespaces, thing/device ids and definitions (provisioning-api.md §6).

Eclipse Ditto's rules, written for Python: Java's ``\\w`` is ASCII, so it is
spelled out here instead of relying on Python's Unicode ``\\w``.
"""

import re

NAMESPACE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:[.-][A-Za-z][A-Za-z0-9_]*)*")
# At least one character; none of them "/" or a control character (\x00-\x1F, \x7F-\xFF).
NAME_RE = re.compile(r"[^\x00-\x1F\x7F-\xFF/]+")
NAME_ALLOWED = (
    "Use letters a-z and A-Z, digits, spaces and punctuation other than '/' (such as - _ . : @), "
    "and write ü as ue, é as e."
)
DEFINITION_RE = re.compile(r"([_a-zA-Z0-9\-.]+):([_a-zA-Z0-9\-.]+):([_a-zA-Z0-9\-.]+)")
MAX_ID_LENGTH = 256


def namespace_error(value):
    """Return a plain-words reason why ``value`` is not a valid namespace, or None."""
    if not value:
        return "Enter a namespace."
    if len(value) > MAX_ID_LENGTH - 2:
        return f"A namespace can be at most {MAX_ID_LENGTH - 2} characters long."
    if NAMESPACE_RE.fullmatch(value):
        return None
    if not value[0].isascii() or not value[0].isalpha():
        return "A namespace must start with a letter (a-z, A-Z)."
    if value[-1] in ".-":
        return "A namespace cannot end with '.' or '-'."
    for index, char in enumerate(value):
        if char in ".-":
            following = value[index + 1 : index + 2]
            if not (following.isascii() and following.isalpha()):
                return f"After '{char}' a namespace needs a letter (found {following!r})."
        elif not (char.isascii() and (char.isalnum() or char == "_")):
            return f"A namespace may only hold letters, digits, '_', '.' and '-' (found {char!r})."
    return "This is not a valid namespace."


def name_error(value):
    """Why ``value`` is not a valid device/thing name (the part after the colon), or None."""
    if not value:
        return "Enter a device name."
    if value == "*":
        return "The name '*' is reserved."
    if "/" in value:
        return "A device name cannot contain '/'."
    if NAME_RE.fullmatch(value):
        return None
    for char in value:  # which character, and why
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            return f"A device name cannot contain the control character U+{code:04X}."
        if code <= 0xFF and not NAME_RE.fullmatch(char):
            # U+00A0 to U+00FF are printable (ü, é, ß, the no-break space), yet Ditto refuses them.
            return (
                f"A device name cannot contain {char!r} (U+{code:04X}): the provider refuses the "
                f"characters U+0080 to U+00FF, accented letters such as ü and é among them. {NAME_ALLOWED}"
            )
    return None


def thing_id_error(thing_id):
    """Why ``namespace:name`` is not a valid thing id, or None."""
    if len(thing_id) > MAX_ID_LENGTH:
        return f"The full id is {len(thing_id)} characters long; the limit is {MAX_ID_LENGTH}."
    namespace, sep, name = thing_id.partition(":")
    if not sep:
        return "A device id has the form namespace:name."
    return namespace_error(namespace) or name_error(name)


def default_auth_id(thing_id):
    """Bosch's default auth id: the device id with ':' replaced by '_'."""
    return thing_id.replace(":", "_")


def key_error(value, what):
    """Why ``value`` is not a valid attribute key / feature id / policy label, or None.

    Bosch restrictions: no '/', no control characters, not '*', at most 256
    characters; a feature id must not look like a {{ placeholder }}.
    """
    if not value:
        return f"Enter the {what}."
    if len(value) > MAX_ID_LENGTH:
        return f"The {what} can be at most {MAX_ID_LENGTH} characters long."
    if value == "*":
        return f"'*' is not allowed as a {what}."
    if "/" in value:
        return f"The {what} cannot contain '/'."
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
        return f"The {what} cannot contain control characters."
    if value.startswith("{{") and value.endswith("}}"):
        return f"The {what} cannot be a {{{{ placeholder }}}}."
    return None


# Eclipse Hono's device registry defaults (provisioning-api.md §10); a registry may be set up
# with looser ones, never with a colon in an auth id (the username is ``auth-id@tenant``).
HONO_DEVICE_ID_RE = re.compile(r"[a-zA-Z0-9\-_.:]+")
HONO_AUTH_ID_RE = re.compile(r"[a-zA-Z0-9\-_=.]+")
HONO_TENANT_RE = re.compile(r"[a-zA-Z0-9\-_.]+")
HONO_ALLOWED = "letters a-z and A-Z, digits and - _ ."


def hono_device_id_error(device_id):
    """Why Hono's registry would refuse ``device_id``, or None."""
    if HONO_DEVICE_ID_RE.fullmatch(device_id):
        return None
    return f"Eclipse Hono accepts only {HONO_ALLOWED} and ':' in a device id."


def hono_auth_id_error(auth_id):
    """Why Hono's registry would refuse ``auth_id``, or None."""
    if HONO_AUTH_ID_RE.fullmatch(auth_id):
        return None
    return f"Eclipse Hono accepts only {HONO_ALLOWED} and '=' in an auth id (no ':' or '@')."


def hono_tenant_error(tenant):
    """Why ``tenant`` is not a Hono tenant id, or None."""
    if not tenant:
        return "Enter the Hono tenant."
    if HONO_TENANT_RE.fullmatch(tenant):
        return None
    return f"Eclipse Hono accepts only {HONO_ALLOWED} in a tenant id."
