"""What the operator asked for, independent of any provider: the device description each
provider module turns into its own requests (Bosch: one POST; Hono + Ditto: up to four calls).

Pure data: no Django, no HTTP. The device builder's cleaned data becomes a ``DeviceSpec``
through ``from_device``; a provider module reads only the spec.
"""

from dataclasses import dataclass, field

from provisioning import ids

# How the device proves who it is.
TYPED_PASSWORD = "typed-password"  # the operator typed it (``secret``)
GENERATED_PASSWORD = "generated-password"  # made at Send, shown once
PSK = "psk"  # a base64 pre-shared key in ``secret``; blank: generated at Send
NONE = "none"  # no credentials: the device sends through a gateway
CREDENTIAL_KINDS = (TYPED_PASSWORD, GENERATED_PASSWORD, PSK, NONE)


@dataclass(frozen=True)
class DeviceSpec:
    """One device to provision.

    ``id``: the full ``namespace:name``; Hono's device id and Ditto's thing id are both it.
    ``via``: the gateways' device ids allowed to act for it (Hono takes several, Bosch one).
    ``credentials``: one of CREDENTIAL_KINDS; ``auth_id`` blank means the default (the id
    with ':' → '_'); ``secret`` the typed password or the base64 key, blank when generated.
    ``policy_id``: blank to have a policy generated for the device (its id is the device id);
    otherwise the id of an existing policy the thing is put under.
    """

    id: str
    enabled: bool = True
    via: tuple[str, ...] = ()
    credentials: str = NONE
    auth_id: str = ""
    secret: str = field(default="", repr=False)
    attributes: dict = field(default_factory=dict)
    features: dict = field(default_factory=dict)
    definition: str = ""
    policy_id: str = ""

    def __post_init__(self):
        if self.credentials not in CREDENTIAL_KINDS:
            raise ValueError(f"credentials must be one of {CREDENTIAL_KINDS}, not {self.credentials!r}")
        if isinstance(self.via, str):
            raise TypeError("via is a tuple of device ids, not a string")

    @property
    def has_credentials(self):
        return self.credentials != NONE

    @property
    def is_password(self):
        return self.credentials in (TYPED_PASSWORD, GENERATED_PASSWORD)

    @property
    def effective_auth_id(self):
        """The auth id the credentials are registered under ("" without credentials)."""
        if not self.has_credentials:
            return ""
        return self.auth_id or ids.default_auth_id(self.id)

    @property
    def generates_secret(self):
        """Whether Send must make the password or key (it is never in the spec)."""
        return self.credentials == GENERATED_PASSWORD or (self.credentials == PSK and not self.secret)

    @property
    def generated_policy(self):
        return not self.policy_id

    @property
    def effective_policy_id(self):
        """The policy the thing is put under: the generated one has the device's id."""
        return self.policy_id or self.id


def from_device(device):
    """The spec of the device builder's cleaned data (the dict ``bosch.request_body`` takes:
    ``id``, ``enabled``, ``via``, ``credentials_type``, ``password``, ``psk_key``, ``auth_id``,
    ``attributes``, ``features``, ``definition``, ``policy_mode``, ``policy_id``)."""
    kind = device.get("credentials_type", "none")
    if kind == "hashed-password":
        secret = device.get("password") or ""
        credentials = TYPED_PASSWORD if secret else GENERATED_PASSWORD
    elif kind == "psk":
        secret, credentials = device.get("psk_key") or "", PSK
    else:
        secret, credentials = "", NONE
    existing = device.get("policy_mode", "existing" if device.get("policy_id") else "generated")
    via = device.get("via") or ()
    return DeviceSpec(
        id=device["id"],
        enabled=device.get("enabled", True) is not False,
        via=(via,) if isinstance(via, str) else tuple(via),
        credentials=credentials,
        auth_id=device.get("auth_id") or "",
        secret=secret,
        attributes=dict(device.get("attributes") or {}),
        features=dict(device.get("features") or {}),
        definition=device.get("definition") or "",
        policy_id=(device.get("policy_id") or "") if existing == "existing" else "",
    )
