"""A team's connections to providers (models.Connection), and the choices their fields take.

Kept apart from models.py for size; models.py re-exports every name, so ``from
provisioning.models import Connection`` stays the way to reach them.
"""

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from provisioning import crypto


class Preset(models.TextChoices):
    SUITE_AUTH = "suite_auth", "Bosch IoT Suite Auth"
    NEXEED = "nexeed", "Bosch Nexeed IAM"
    CUSTOM = "custom", "Custom"


class AuthMethod(models.TextChoices):
    FORM = "client_secret_post", "Form body (client_id and client_secret fields)"
    BASIC = "client_secret_basic", "HTTP Basic"
    BASIC_ENCODED = "client_secret_basic_encoded", "HTTP Basic, form-encoded (RFC 6749 §2.3.1)"


class AuthScope(models.TextChoices):
    NONE = "", "None (the OAuth2 client owns the thing)"
    SUBSCRIPTION = "subscription", "subscription"
    DEVICE_MANAGEMENT = "deviceManagementSubscription", "deviceManagementSubscription"


class ConnectionKind(models.TextChoices):
    """The provider a connection reaches."""

    BOSCH = "bosch", "Bosch IoT Suite"
    HONO_DITTO = "hono_ditto", "Eclipse Hono + Ditto"
    DITTO = "ditto", "Eclipse Ditto"


class EndpointAuthMethod(models.TextChoices):
    """How one endpoint of a Hono + Ditto or Ditto connection authenticates."""

    OAUTH2 = "oauth2", "OAuth2 client credentials"
    BASIC = "basic", "HTTP Basic"


class DittoAuthMethod(models.TextChoices):
    """How the Ditto endpoint authenticates: as any endpoint, or (Hono + Ditto only) with an
    OAuth2 client of its own, when Ditto's identity provider is not Hono's."""

    OAUTH2 = EndpointAuthMethod.OAUTH2.value, "OAuth2 client credentials (the connection's client)"
    OAUTH2_OWN = "oauth2_own", "OAuth2 client credentials, a client of its own"
    BASIC = EndpointAuthMethod.BASIC.value, EndpointAuthMethod.BASIC.label


# The sealed secrets of a connection: the name the forms and the audit use -> the prefix of its
# model fields (<prefix>_sealed, <prefix>_set_at, <prefix>_fingerprint).
SEALED = {
    "client_secret": "secret",
    "hono_password": "hono_password",
    "ditto_password": "ditto_password",
    "ditto_client_secret": "ditto_secret",
}
SECRET_WORDS = {
    "client_secret": "client secret",
    "hono_password": "Hono password",
    "ditto_password": "Ditto password",
    "ditto_client_secret": "Ditto client secret",
}


REQUIRED_WORDS = {
    "token_url": "Enter the token URL (or, for Nexeed, the tenant id).",
    "client_id": "Enter the client id.",
    "api_base_url": "Enter the API base URL.",
    "service_instance_id": "Enter the service instance id.",
    "hono_url": "Enter the Hono registry base URL.",
    "hono_tenant": "Enter the Hono tenant.",
    "ditto_url": "Enter the Ditto base URL.",
    "hono_username": "Enter the user name Hono knows this connection by.",
    "ditto_username": "Enter the user name Ditto knows this connection by.",
    "ditto_token_url": "Enter the token URL of Ditto's OAuth2 client.",
    "ditto_client_id": "Enter the client id of Ditto's OAuth2 client.",
}


class Connection(models.Model):
    """A team's connection to a provider: how it authenticates and the API it calls.

    Bosch IoT Suite is reached with OAuth2 client credentials, through one of the presets
    (Preset). Eclipse Hono + Ditto (a Hono registry and Ditto) and Eclipse Ditto alone
    authenticate each endpoint with OAuth2 client credentials (the same token fields as Bosch)
    or HTTP Basic (a user name and a sealed password per endpoint). Renamed from OAuthClient
    (migration 0014); the row ids, and so the audit log's ``client_ref`` history links, are
    unchanged.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("provisioning.Team", on_delete=models.CASCADE, related_name="configs")
    name = models.CharField(max_length=100)
    kind = models.CharField(
        max_length=20, choices=ConnectionKind.choices, default=ConnectionKind.BOSCH, verbose_name="provider"
    )
    preset = models.CharField(max_length=16, choices=Preset.choices, default=Preset.SUITE_AUTH)
    # Bosch Nexeed IAM: the token URL and the scope are built from these (forms.ConnectionForm).
    nexeed_tenant_id = models.CharField(max_length=100, blank=True)
    nexeed_target_client_id = models.CharField(max_length=200, blank=True)
    # OAuth2 client credentials: every Bosch connection, and each Hono or Ditto endpoint that
    # uses them (clean() says when they are required).
    token_url = models.URLField(max_length=500, blank=True)
    client_id = models.CharField(max_length=255, blank=True)
    secret_sealed = models.TextField(blank=True, editable=False)
    secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    secret_fingerprint = models.CharField(max_length=16, blank=True, editable=False)
    scope = models.CharField(max_length=1000, blank=True)
    audience = models.CharField(max_length=500, blank=True)
    auth_method = models.CharField(max_length=32, choices=AuthMethod.choices, default=AuthMethod.FORM)
    # Bosch IoT Suite only.
    api_base_url = models.URLField(max_length=500, blank=True)
    service_instance_id = models.CharField(max_length=100, blank=True)
    default_auth_scope = models.CharField(max_length=32, choices=AuthScope.choices, blank=True, default="")
    # Optional: Bosch IoT Things' HTTP API (Ditto's /api/2), read with the same token by
    # "Check at provider" (the provisioning API cannot read a device back).
    things_url = models.URLField(max_length=500, blank=True, verbose_name="Things base URL")
    # Eclipse Hono + Ditto (the Hono fields) and Eclipse Ditto (the Ditto fields).
    hono_url = models.URLField(max_length=500, blank=True, verbose_name="Hono registry base URL")
    hono_tenant = models.CharField(max_length=100, blank=True, verbose_name="Hono tenant")
    hono_auth = models.CharField(
        max_length=8, choices=EndpointAuthMethod.choices, default=EndpointAuthMethod.BASIC
    )
    hono_username = models.CharField(max_length=255, blank=True)
    hono_password_sealed = models.TextField(blank=True, editable=False)
    hono_password_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    hono_password_fingerprint = models.CharField(max_length=16, blank=True, editable=False)
    ditto_url = models.URLField(max_length=500, blank=True, verbose_name="Ditto base URL")
    ditto_auth = models.CharField(
        max_length=10, choices=DittoAuthMethod.choices, default=DittoAuthMethod.BASIC
    )
    ditto_username = models.CharField(max_length=255, blank=True)
    ditto_password_sealed = models.TextField(blank=True, editable=False)
    ditto_password_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    ditto_password_fingerprint = models.CharField(max_length=16, blank=True, editable=False)
    # Ditto's own OAuth2 client (ditto_auth "oauth2_own", Hono + Ditto only): DittoClient.
    ditto_token_url = models.URLField(max_length=500, blank=True, verbose_name="Ditto token URL")
    ditto_client_id = models.CharField(max_length=255, blank=True, verbose_name="Ditto client id")
    ditto_secret_sealed = models.TextField(blank=True, editable=False)
    ditto_secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    ditto_secret_fingerprint = models.CharField(max_length=16, blank=True, editable=False)
    ditto_scope = models.CharField(max_length=1000, blank=True, verbose_name="Ditto scope")
    ditto_audience = models.CharField(max_length=500, blank=True, verbose_name="Ditto audience")
    ditto_auth_method = models.CharField(
        max_length=32,
        choices=AuthMethod.choices,
        default=AuthMethod.FORM,
        verbose_name="Ditto client authentication",
    )
    own_subject = models.CharField(max_length=255, blank=True)
    hono_subject = models.CharField(max_length=255, blank=True, verbose_name="Hono connection subject")
    # Bumped on every change, so tokens cached for the old configuration are never used again.
    config_version = models.PositiveIntegerField(default=1, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    secret_words = SECRET_WORDS["client_secret"]  # what tokens.py calls the secret get_secret() opens

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="client_name_unique_in_team")]
        ordering = ["name"]
        verbose_name = "connection"

    def __str__(self):
        return self.name

    @property
    def token_label(self):
        """Who a token is for, in tokens.py's log lines."""
        return f"connection {self.pk}"

    # --- which endpoints, which credentials -------------------------------------------------

    @property
    def is_bosch(self):
        return self.kind == ConnectionKind.BOSCH

    @property
    def has_hono(self):
        return self.kind == ConnectionKind.HONO_DITTO

    @property
    def has_ditto(self):
        return self.kind in (ConnectionKind.HONO_DITTO, ConnectionKind.DITTO)

    def endpoint_auths(self):
        """{"hono"/"ditto": EndpointAuthMethod} of the endpoints this connection has."""
        auths = {}
        if self.has_hono:
            auths["hono"] = self.hono_auth
        if self.has_ditto:
            auths["ditto"] = self.ditto_auth
        return auths

    @property
    def uses_oauth2(self):
        """Whether the token fields (token URL, client id, client secret) are used."""
        return self.is_bosch or EndpointAuthMethod.OAUTH2 in self.endpoint_auths().values()

    @property
    def uses_ditto_client(self):
        """Whether Ditto has an OAuth2 client of its own (the ditto_token_url... fields)."""
        return self.has_hono and self.ditto_auth == DittoAuthMethod.OAUTH2_OWN

    def ditto_client(self):
        """Ditto's own OAuth2 client, for tokens.py."""
        return DittoClient(self)

    def required_fields(self):
        """The fields this connection's kind and endpoint methods need filled in."""
        required = []
        if self.is_bosch:
            required += ["api_base_url", "service_instance_id"]
        if self.has_hono:
            required += ["hono_url", "hono_tenant"]
        if self.has_ditto:
            required += ["ditto_url"]
        for endpoint, method in self.endpoint_auths().items():
            if method == EndpointAuthMethod.BASIC:
                required.append(f"{endpoint}_username")
        if self.uses_oauth2:
            required += ["token_url", "client_id"]
        if self.uses_ditto_client:
            required += ["ditto_token_url", "ditto_client_id"]
        return required

    def clean_fields(self, exclude=None):
        """Django's field checks, and the fields of the connection's kind required (those of
        other kinds may stay empty). Here rather than in clean() so that a field a form already
        found wrong (it is in ``exclude``) is not reported twice."""
        errors = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        for name in self.required_fields():
            if name not in (exclude or ()) and name not in errors and not getattr(self, name):
                errors[name] = [REQUIRED_WORDS[name]]
        own = self.ditto_auth == DittoAuthMethod.OAUTH2_OWN
        if own and self.kind == ConnectionKind.DITTO and "ditto_auth" not in errors:
            errors["ditto_auth"] = [
                "A Ditto connection has one OAuth2 client: choose the connection's client. A client "
                "of its own is for a Hono + Ditto connection whose Ditto trusts another identity provider."
            ]
        if errors:
            raise ValidationError(errors)

    # --- sealed secrets ---------------------------------------------------------------------

    def _aad(self, name):
        # Every stored secret is sealed with this string bound to it. The client secret's keeps
        # the model's old name on purpose: changed, no secret sealed before could be opened again.
        if name == "client_secret":
            return f"oauthclient:{self.public_id}:client_secret"
        return f"connection:{self.public_id}:{name}"

    def set_sealed(self, name, value):
        """Store the secret ``name`` (a key of SEALED) sealed, with its fingerprint and time."""
        prefix = SEALED[name]
        setattr(self, f"{prefix}_sealed", crypto.seal(value, self._aad(name)))
        setattr(self, f"{prefix}_fingerprint", crypto.fingerprint(value))
        setattr(self, f"{prefix}_set_at", timezone.now())

    def get_sealed(self, name):
        """The secret ``name`` in plain text; raises crypto.SecretBoxError if it cannot be opened."""
        sealed = getattr(self, f"{SEALED[name]}_sealed")
        if not sealed:
            raise crypto.SecretBoxError(f"No {name.replace('_', ' ')} is stored for this connection.")
        return crypto.open_sealed(sealed, self._aad(name))

    def reseal(self, name):
        """Re-encrypt the stored secret ``name`` with the newest key; the secret is unchanged.

        Raises crypto.SecretBoxError, leaving the row as it was, if it cannot be opened.
        """
        setattr(self, f"{SEALED[name]}_sealed", crypto.seal(self.get_sealed(name), self._aad(name)))

    def set_secret(self, secret):
        self.set_sealed("client_secret", secret)

    def reseal_secret(self):
        self.reseal("client_secret")

    def get_secret(self):
        """The client secret in plain text; raises crypto.SecretBoxError if it cannot be opened."""
        return self.get_sealed("client_secret")

    @property
    def has_secret(self):
        return bool(self.secret_sealed)

    @property
    def has_hono_password(self):
        return bool(self.hono_password_sealed)

    @property
    def has_ditto_password(self):
        return bool(self.ditto_password_sealed)

    @property
    def has_ditto_client_secret(self):
        return bool(self.ditto_secret_sealed)


class DittoClient:
    """The Ditto endpoint's own OAuth2 client on a Hono + Ditto connection, with the attributes
    tokens.py reads of a connection. Its tokens are cached under a key of their own (its
    ``public_id``), so Hono's and Ditto's tokens are each fetched once per lifetime."""

    secret_words = SECRET_WORDS["ditto_client_secret"]

    def __init__(self, connection):
        self.connection = connection
        self.pk = connection.pk
        self.public_id = f"{connection.public_id}:ditto"
        self.config_version = connection.config_version
        self.token_url = connection.ditto_token_url
        self.client_id = connection.ditto_client_id
        self.scope = connection.ditto_scope
        self.audience = connection.ditto_audience
        self.auth_method = connection.ditto_auth_method

    @property
    def token_label(self):
        return f"connection {self.pk} (Ditto's client)"

    def get_secret(self):
        return self.connection.get_sealed("ditto_client_secret")
