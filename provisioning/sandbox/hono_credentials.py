"""A Hono credentials set: checking a PUT body, and what is stored and shown of it.

The registry runs in *patch mode* (the spec's setAllCredentials, provisioning-api.md §10):

- ``GET`` shows each credential with its secrets' metadata (``id``, ``enabled``,
  ``not-before``, ``not-after``, ``comment``, and an RPK's ``algorithm``), never a
  password, hash, salt or key;
- a ``PUT`` replaces the whole set. A secret sent with the ``id`` of a secret of the same
  (type, auth-id) keeps that secret's confidential part unless it brings a new one; an
  unknown ``id`` is a 400; a credential left out is deleted;
- ``pwd-plain`` is hashed at once (salted SHA-256 here, where Hono uses bcrypt: the hash
  is never shown, and the sandbox stays fast) and never stored or echoed.

Bad input raises CredentialsError(status, message); the view answers ``{"error": message}``.
"""

import base64
import binascii
import re
import uuid
from datetime import datetime

from provisioning.sandbox.models import hash_secret

TYPES = ("hashed-password", "psk", "x509-cert", "rpk")
AUTH_ID = re.compile(r"[a-zA-Z0-9_=.-]+")  # Hono's default; x509-cert auth-ids are subject DNs
CREDENTIAL_FIELDS = {"type", "auth-id", "enabled", "ext", "secrets"}
SECRET_FIELDS = {"id", "enabled", "not-before", "not-after", "comment"}
TYPE_SECRET_FIELDS = {
    "hashed-password": {"hash-function", "pwd-hash", "salt", "pwd-plain"},
    "psk": {"key"},
    "x509-cert": set(),
    "rpk": {"algorithm", "key", "cert"},
}
SHOWN = ("id", "enabled", "not-before", "not-after", "comment", "algorithm")
HASH_FUNCTIONS = ("sha-256", "sha-512", "bcrypt")
BCRYPT = re.compile(r"\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}")
MAX_BCRYPT_COST = 10
MAX_SECRETS = 10
BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


class CredentialsError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def bad(message):
    return CredentialsError(400, message)


def plan(body, existing):
    """The rows to store for the set ``body``; ``existing`` is the device's current rows.

    Returns a list of dicts (type, auth_id, enabled, ext, secrets), in the order sent.
    """
    if not isinstance(body, list):
        raise bad("the credentials must be a JSON array")
    old = {(row.type, row.auth_id): row for row in existing}
    rows, seen = [], set()
    for index, item in enumerate(body):
        row = _credential(item, f"credentials[{index}]", old)
        key = (row["type"], row["auth_id"])
        if key in seen:
            raise CredentialsError(409, "credentials (type, auth-id) must be unique for device")
        seen.add(key)
        rows.append(row)
    return rows


def _credential(item, where, old):
    if not isinstance(item, dict):
        raise bad(f"{where} must be a JSON object")
    kind = item.get("type")
    if not isinstance(kind, str) or not kind:
        raise bad(f"{where} has no type")
    if kind not in TYPES:
        raise bad(f"{where}: unsupported credentials type '{kind}'")
    fields = CREDENTIAL_FIELDS | ({"cert"} if kind == "x509-cert" else set())
    _no_unknown(item, fields, where)
    if "cert" in item:
        raise bad(f"{where}: the sandbox cannot read certificates; send auth-id and secrets instead")
    auth_id = item.get("auth-id")
    if not isinstance(auth_id, str) or not auth_id or len(auth_id) > 256:
        raise bad(f"{where}: auth-id must be a string of 1 to 256 characters")
    if kind != "x509-cert" and not AUTH_ID.fullmatch(auth_id):
        raise bad(f"{where}: auth-id '{auth_id}' does not match the pattern ^[a-zA-Z0-9-_=\\.]+$")
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise bad(f"{where}: enabled must be true or false")
    ext = item.get("ext")
    if ext is not None and not isinstance(ext, dict):
        raise bad(f"{where}: ext must be a JSON object")
    secrets = item.get("secrets", [] if kind == "x509-cert" else None)
    if not isinstance(secrets, list):
        raise bad(f"{where}: secrets must be an array")
    low, high = (0, 1) if kind == "x509-cert" else (1, MAX_SECRETS)
    if not low <= len(secrets) <= high:
        raise bad(f"{where}: a {kind} credential takes {low} to {high} secrets")
    previous = old.get((kind, auth_id))
    known = {secret["id"]: secret for secret in previous.secrets} if previous else {}
    stored = [_secret(kind, secret, f"{where}.secrets[{n}]", known) for n, secret in enumerate(secrets)]
    return {"type": kind, "auth_id": auth_id, "enabled": enabled, "ext": ext, "secrets": stored}


def _secret(kind, secret, where, known):
    if not isinstance(secret, dict):
        raise bad(f"{where} must be a JSON object")
    _no_unknown(secret, SECRET_FIELDS | TYPE_SECRET_FIELDS[kind], where)
    meta = {}
    for name in ("id", "comment"):
        if name in secret:
            if not isinstance(secret[name], str):
                raise bad(f"{where}: {name} must be a string")
            meta[name] = secret[name]
    if "enabled" in secret:
        if not isinstance(secret["enabled"], bool):
            raise bad(f"{where}: enabled must be true or false")
        meta["enabled"] = secret["enabled"]
    bounds = [_instant(secret, name, where) for name in ("not-before", "not-after")]
    if all(bounds) and bounds[0] > bounds[1]:
        raise bad(f"{where}: not-before is after not-after")
    meta.update({name: secret[name] for name in ("not-before", "not-after") if name in secret})
    hidden = _confidential(kind, secret, where)
    if "id" in secret:
        earlier = known.get(secret["id"])
        if earlier is None:
            raise bad(f"{where}: there is no secret with the id '{secret['id']}' to update")
        hidden = hidden or earlier.get("hidden", {})
    else:
        meta["id"] = str(uuid.uuid4())
        if hidden is None and kind != "x509-cert":
            raise bad(f"{where}: {_what_is_missing(kind)}")
    if kind == "rpk" and "algorithm" in secret:
        if not isinstance(secret["algorithm"], str):
            raise bad(f"{where}: algorithm must be a string")
        meta["algorithm"] = secret["algorithm"]
    return {**meta, "hidden": hidden or {}}


def _confidential(kind, secret, where):
    """The hashed or kept confidential part of a secret, or None when the secret brings none."""
    if kind == "hashed-password":
        if "pwd-plain" in secret:
            plain = secret["pwd-plain"]
            if not isinstance(plain, str) or not plain:
                raise bad(f"{where}: pwd-plain must be a non-empty string")
            return {"hash-function": "sandbox-sha-256", "hash": hash_secret(plain)}
        if "pwd-hash" in secret or "hash-function" in secret:
            return _pre_hashed(secret, where)
        return None
    if kind in ("psk", "rpk") and ("key" in secret or "cert" in secret):
        name = "key" if "key" in secret else "cert"
        raw = _base64(secret[name], f"{where}: {name}")
        return {f"{name}-hash": hash_secret(raw)}
    return None


def _pre_hashed(secret, where):
    function, digest, salt = secret.get("hash-function"), secret.get("pwd-hash"), secret.get("salt")
    if function not in HASH_FUNCTIONS:
        raise bad(f"{where}: hash-function must be one of {', '.join(HASH_FUNCTIONS)}")
    if not isinstance(digest, str) or not digest:
        raise bad(f"{where}: pwd-hash must be a non-empty string")
    if function == "bcrypt":
        match = BCRYPT.fullmatch(digest)
        if match is None:
            raise bad(f"{where}: pwd-hash is not a bcrypt hash")
        if int(match.group(1)) > MAX_BCRYPT_COST:
            raise bad(f"{where}: the bcrypt cost factor exceeds {MAX_BCRYPT_COST}")
    else:
        _base64(digest, f"{where}: pwd-hash")
    if salt is not None:
        _base64(salt, f"{where}: salt")
    return {"hash-function": function, "pwd-hash": digest, **({"salt": salt} if salt is not None else {})}


def _what_is_missing(kind):
    if kind == "hashed-password":
        return "a new secret needs pwd-plain, or pwd-hash and hash-function"
    return "a new secret needs a key"


def _base64(value, where):
    if not isinstance(value, str) or not value or not BASE64.fullmatch(value):
        raise bad(f"{where} must be standard base64")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad(f"{where} must be standard base64") from None


def _instant(secret, name, where):
    if name not in secret:
        return None
    value = secret[name]
    try:
        if not isinstance(value, str) or "T" not in value.upper():
            raise ValueError(value)
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise bad(f"{where}: {name} must be an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise bad(f"{where}: {name} must name its time zone (RFC 3339)")
    return moment


def _no_unknown(item, allowed, where):
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise bad(f"{where}: unknown property '{unknown[0]}'")


def shown(row):
    """A stored credential as GET shows it: metadata only."""
    body = {"type": row.type, "auth-id": row.auth_id, "enabled": row.enabled}
    if row.ext is not None:
        body["ext"] = row.ext
    body["secrets"] = [{name: s[name] for name in SHOWN if name in s} for s in row.secrets]
    return body
