"""The secret box: AES-256-GCM for secrets at rest.

The key ring comes from ENCRYPTION_KEYS ("kid:base64key,kid:base64key", newest
first). A sealed value is "v1:<kid>:<base64(nonce || ciphertext+tag)>". The
caller passes associated data that names the row and the field, so a ciphertext
copied into another row or column does not open. Anything wrong (unknown key id,
tampered bytes, wrong row) raises SecretBoxError: we never fall back to plain text.
"""

import base64
import binascii
import hashlib
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

VERSION = "v1"
_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class SecretBoxError(Exception):
    """A secret could not be sealed or opened. The message never contains the secret."""


def parse_key_ring(text):
    """Parse the ENCRYPTION_KEYS value into an ordered list of (kid, key bytes)."""
    ring = []
    seen = set()
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        kid, sep, encoded = entry.partition(":")
        if not sep or not _KID_RE.match(kid):
            raise SecretBoxError(
                "Each ENCRYPTION_KEYS entry must look like 'kid:base64key' "
                "(kid: letters, digits, '-' or '_')."
            )
        try:
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise SecretBoxError(f"ENCRYPTION_KEYS entry {kid!r} is not valid base64.") from None
        if len(key) != 32:
            raise SecretBoxError(f"ENCRYPTION_KEYS entry {kid!r} must decode to 32 bytes, not {len(key)}.")
        if kid in seen:
            raise SecretBoxError(f"ENCRYPTION_KEYS names key {kid!r} twice.")
        seen.add(kid)
        ring.append((kid, key))
    if not ring:
        raise SecretBoxError("ENCRYPTION_KEYS holds no key.")
    return ring


def new_key_entry(kid):
    """A fresh 'kid:base64key' entry for the key ring."""
    if not _KID_RE.match(kid):
        raise SecretBoxError("A key id may only hold letters, digits, '-' and '_'.")
    return f"{kid}:{base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip('=')}"


def _ring():
    return parse_key_ring(settings.ENCRYPTION_KEYS)


def seal(plaintext, associated_data):
    """Encrypt with the newest key, bound to ``associated_data``."""
    kid, key = _ring()[0]
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), associated_data.encode())
    return f"{VERSION}:{kid}:{base64.b64encode(nonce + sealed).decode()}"


def _split(token):
    version, kid, payload = [*token.split(":", 2), "", ""][:3]
    if version != VERSION or not kid or not payload:
        raise SecretBoxError("The stored secret is not in a format this version can read.")
    return kid, payload


def key_id(token):
    """The id of the key that sealed ``token``."""
    return _split(token)[0]


def open_sealed(token, associated_data):
    """Decrypt ``token``; raise SecretBoxError if anything does not match."""
    kid, payload = _split(token)
    keys = dict(_ring())
    if kid not in keys:
        raise SecretBoxError(f"The secret was sealed with key {kid!r}, which is not in ENCRYPTION_KEYS.")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise SecretBoxError("The stored secret is damaged.") from None
    if len(raw) < 12 + 16:
        raise SecretBoxError("The stored secret is damaged.")
    try:
        plain = AESGCM(keys[kid]).decrypt(raw[:12], raw[12:], associated_data.encode())
    except InvalidTag:
        raise SecretBoxError(
            "The stored secret does not open with its key: it was altered or belongs to another record."
        ) from None
    return plain.decode("utf-8")


def fingerprint(secret):
    """A short, non-reversible tag to tell secrets apart on screen (8 hex digits).

    Keyed with SECRET_KEY so the fingerprint cannot be checked against guesses offline.
    """
    digest = hashlib.blake2b(secret.encode("utf-8"), key=settings.SECRET_KEY.encode()[:64], digest_size=4)
    return digest.hexdigest()


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "new-key":
        print(new_key_entry(sys.argv[2]))
    else:
        sys.exit("usage: python -m provisioning.crypto new-key KEY_ID")
