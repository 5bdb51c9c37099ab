"""The secret box: AES-256-GCM with a key ring, bound to its row, failing closed."""

import base64

import pytest

from provisioning import crypto
from provisioning.models import Connection
from tests.factories import make_config

SECRET = "Client-Secret-With-Ünïcode-€-4711"
AAD = "oauthclient:1234:client_secret"


@pytest.fixture
def ring(settings):
    """Set the key ring to these entries (newest first); returns them."""

    def _set(*entries):
        settings.ENCRYPTION_KEYS = ",".join(entries)
        return entries

    return _set


def test_a_sealed_secret_opens_to_the_same_text(ring):
    ring(crypto.new_key_entry("k1"))
    sealed = crypto.seal(SECRET, AAD)
    assert crypto.open_sealed(sealed, AAD) == SECRET


def test_the_sealed_form_names_the_key_and_hides_the_secret(ring):
    ring(crypto.new_key_entry("k1"))
    sealed = crypto.seal(SECRET, AAD)
    assert sealed.startswith("v1:k1:")
    assert crypto.key_id(sealed) == "k1"
    assert SECRET not in sealed
    assert SECRET.encode() not in base64.b64decode(sealed.split(":", 2)[2])


def test_sealing_twice_uses_a_fresh_nonce(ring):
    ring(crypto.new_key_entry("k1"))
    assert crypto.seal(SECRET, AAD) != crypto.seal(SECRET, AAD)


def test_a_wrong_key_with_the_same_id_fails_closed(ring):
    ring(crypto.new_key_entry("k1"))
    sealed = crypto.seal(SECRET, AAD)
    ring(crypto.new_key_entry("k1"))  # same id, other key bytes
    with pytest.raises(crypto.SecretBoxError, match="does not open") as excinfo:
        crypto.open_sealed(sealed, AAD)
    assert SECRET not in str(excinfo.value)


def test_a_key_missing_from_the_ring_fails_closed(ring):
    ring(crypto.new_key_entry("old"))
    sealed = crypto.seal(SECRET, AAD)
    ring(crypto.new_key_entry("new"))
    with pytest.raises(crypto.SecretBoxError, match="key 'old', which is not in ENCRYPTION_KEYS"):
        crypto.open_sealed(sealed, AAD)


def test_other_associated_data_fails_closed(ring):
    ring(crypto.new_key_entry("k1"))
    sealed = crypto.seal(SECRET, AAD)
    with pytest.raises(crypto.SecretBoxError):
        crypto.open_sealed(sealed, "oauthclient:9999:client_secret")


def test_tampered_bytes_fail_closed(ring):
    ring(crypto.new_key_entry("k1"))
    version, kid, payload = crypto.seal(SECRET, AAD).split(":", 2)
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 0x01
    tampered = f"{version}:{kid}:{base64.b64encode(bytes(raw)).decode()}"
    with pytest.raises(crypto.SecretBoxError, match="altered"):
        crypto.open_sealed(tampered, AAD)


@pytest.mark.parametrize(
    "stored",
    [SECRET, "", "v1:k1:", "v2:k1:AAAA", "v1:k1:not base64!", "v1:k1:" + base64.b64encode(b"short").decode()],
)
def test_plain_or_damaged_values_never_open(ring, stored):
    ring(crypto.new_key_entry("k1"))
    with pytest.raises(crypto.SecretBoxError):
        crypto.open_sealed(stored, AAD)


def test_the_newest_key_seals_and_older_keys_still_open(ring):
    old = crypto.new_key_entry("old")
    ring(old)
    sealed_before = crypto.seal(SECRET, AAD)
    ring(crypto.new_key_entry("new"), old)
    assert crypto.key_id(crypto.seal(SECRET, AAD)) == "new"
    assert crypto.open_sealed(sealed_before, AAD) == SECRET


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no key"),
        ("k1", "must look like 'kid:base64key'"),
        ("bad id!:" + "A" * 43, "must look like 'kid:base64key'"),
        ("k1:" + base64.urlsafe_b64encode(b"x" * 16).decode(), "must decode to 32 bytes, not 16"),
        ("k1:" + "A" * 43 + ",k1:" + "B" * 43, "names key 'k1' twice"),
    ],
)
def test_a_malformed_key_ring_is_refused(text, message):
    with pytest.raises(crypto.SecretBoxError, match=message):
        crypto.parse_key_ring(text)


def test_a_new_key_entry_parses_to_32_random_bytes():
    first, second = crypto.new_key_entry("k1"), crypto.new_key_entry("k1")
    ((kid, key),) = crypto.parse_key_ring(first)
    assert kid == "k1" and len(key) == 32
    assert first != second


def test_the_fingerprint_is_short_stable_and_not_the_secret(settings):
    fingerprint = crypto.fingerprint(SECRET)
    assert len(fingerprint) == 8 and int(fingerprint, 16) >= 0
    assert fingerprint == crypto.fingerprint(SECRET)
    assert fingerprint != crypto.fingerprint(SECRET + "x")
    settings.SECRET_KEY = "another-installation"
    assert crypto.fingerprint(SECRET) != fingerprint  # keyed: not comparable across installations


# --- bound to the row -------------------------------------------------------------------


def test_a_client_secret_round_trips_through_the_database(config_a):
    stored = Connection.objects.get(pk=config_a.pk)
    assert stored.get_secret() == "client-a-secret-value"
    assert "client-a-secret-value" not in stored.secret_sealed
    assert stored.secret_fingerprint == crypto.fingerprint("client-a-secret-value")


def test_a_sealed_secret_copied_to_another_row_does_not_open(config_a, team_b):
    other = make_config(
        team_b,
        name="Other",
        secret=None,
        secret_sealed=config_a.secret_sealed,
    )
    with pytest.raises(crypto.SecretBoxError):
        Connection.objects.get(pk=other.pk).get_secret()
    assert Connection.objects.get(pk=config_a.pk).get_secret() == "client-a-secret-value"


def test_a_configuration_without_a_secret_says_so(team_a):
    client = Connection(team=team_a, name="Empty")
    assert not client.has_secret
    with pytest.raises(crypto.SecretBoxError, match="No client secret"):
        client.get_secret()
