"""The sandbox's state, kept in the database so every web process sees the same world.

Four resource tables mirror what one provisioning call creates at Bosch: the Hub
device, its Hub credentials, the Things thing and the thing's policy. They are
separate because they live and die separately (keepCredentials, keepPolicy, a
policy shared by several things).

Their unique constraints put the resource id first and the instance second, and
the foreign keys get no index of their own: every hot lookup is "this id in this
instance", and with one index to choose from PostgreSQL cannot pick the
instance-only index while its statistics still describe an empty table (a
benchmark fills the tables from zero).
"""

import hashlib
import hmac
import secrets

from django.db import models


def hash_secret(value):
    """A salted SHA-256 of a client secret or device secret (str or bytes).

    Deliberately cheap (no bcrypt): the sandbox checks a secret on every token
    request, and nothing in it protects real devices.
    """
    if isinstance(value, str):
        value = value.encode()
    salt = secrets.token_hex(8)
    digest = hmac.new(salt.encode(), value, hashlib.sha256).hexdigest()
    return f"sha256${salt}${digest}"


def secret_matches(value, stored):
    """True when ``value`` hashes to ``stored`` (made by hash_secret)."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "sha256":
        return False
    return hmac.compare_digest(hmac.new(salt.encode(), value, hashlib.sha256).hexdigest(), digest)


class ServiceInstance(models.Model):
    """A simulated Suite subscription: its id is the {service-instance-id} of the API path."""

    sid = models.CharField("service instance id", max_length=64, unique=True)
    label = models.CharField(max_length=100, blank=True)
    namespaces = models.JSONField(default=list, help_text="Namespaces registered for this subscription.")
    adapters = models.JSONField(default=list, help_text="Protocol adapters echoed in the 201 response.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self):
        return self.label or self.sid

    @property
    def hub_tenant_id(self):
        return f"t{self.sid.replace('-', '')}_hub"

    @property
    def things_solution_id(self):
        return f"{self.sid}_things"

    @property
    def hub_scope(self):
        return hub_scope(self.sid)

    @property
    def things_scope(self):
        return things_scope(self.sid)

    @property
    def suite_scope(self):
        """The scope string a Suite Auth client asks for to use this instance."""
        return f"{self.hub_scope} {self.things_scope}"


def hub_scope(sid):
    return f"service:iot-hub-prod:t{sid.replace('-', '')}_hub/full-access"


def things_scope(sid):
    return f"service:iot-things-eu-1:{sid}_things/full-access"


class Style(models.TextChoices):
    SUITE = "suite", "Bosch IoT Suite Auth"
    NEXEED = "nexeed", "Bosch Nexeed IAM"


class SandboxClient(models.Model):
    """An OAuth2 client of the simulated identity provider (Suite Auth or Nexeed IAM)."""

    client_id = models.CharField(max_length=255, unique=True)
    secret_hash = models.CharField(max_length=128)
    style = models.CharField(max_length=8, choices=Style.choices, default=Style.SUITE)
    # Nexeed only: the {tenant-id} of the token URL this client belongs to.
    tenant = models.CharField(max_length=100, blank=True)
    instances = models.ManyToManyField(ServiceInstance, related_name="clients", blank=True)
    allowed_scopes = models.JSONField(default=list)
    # Overrides the knob and the style's default lifetime when set.
    token_lifetime = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self):
        return self.client_id

    def set_secret(self, secret):
        self.secret_hash = hash_secret(secret)

    def check_secret(self, secret):
        return secret_matches(secret, self.secret_hash)


class HubDevice(models.Model):
    instance = models.ForeignKey(
        ServiceInstance, on_delete=models.CASCADE, related_name="devices", db_index=False
    )
    device_id = models.CharField(max_length=256)
    data = models.JSONField(default=dict, help_text="enabled, via, defaults, ... as sent.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device_id", "instance"], name="sandbox_device_unique"),
        ]

    def __str__(self):
        return self.device_id


class HubCredentials(models.Model):
    instance = models.ForeignKey(
        ServiceInstance, on_delete=models.CASCADE, related_name="credentials", db_index=False
    )
    device_id = models.CharField(max_length=256)
    auth_id = models.CharField(max_length=256)
    type = models.CharField(max_length=32)
    enabled = models.BooleanField(default=True)
    # Hashes of the secrets only (plus notBefore/notAfter); never a plaintext password or key.
    secrets = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["auth_id", "type", "instance"], name="sandbox_credentials_unique"
            ),
        ]
        indexes = [models.Index(fields=["device_id", "instance"], name="sandbox_cred_device")]
        verbose_name_plural = "hub credentials"

    def __str__(self):
        return f"{self.auth_id} ({self.type})"


class Thing(models.Model):
    instance = models.ForeignKey(
        ServiceInstance, on_delete=models.CASCADE, related_name="things", db_index=False
    )
    thing_id = models.CharField(max_length=256)
    policy_id = models.CharField(max_length=256)
    data = models.JSONField(default=dict, help_text="attributes, features, definition.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["thing_id", "instance"], name="sandbox_thing_unique"),
        ]

    def __str__(self):
        return self.thing_id


class Policy(models.Model):
    instance = models.ForeignKey(
        ServiceInstance, on_delete=models.CASCADE, related_name="policies", db_index=False
    )
    policy_id = models.CharField(max_length=256)
    entries = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["policy_id", "instance"], name="sandbox_policy_unique"),
        ]
        verbose_name_plural = "policies"

    def __str__(self):
        return self.policy_id


class Knobs(models.Model):
    """The one row (pk=1) of switches and counters. A missing row means "all defaults"."""

    latency_ms = models.PositiveIntegerField(default=0)
    token_lifetime = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds; empty means 3599 for Suite Auth and 300 for Nexeed."
    )
    clock_skew_seconds = models.IntegerField(default=0)
    tokens_issued = models.PositiveBigIntegerField(default=0)
    # Every token carries a serial from this never-reset sequence; tokens whose
    # serial is at or below tokens_revoked_through count as expired ("expire_tokens").
    token_serial = models.PositiveBigIntegerField(default=0)
    tokens_revoked_through = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "knobs"

    def __str__(self):
        return "Sandbox knobs"


class Fault(models.Model):
    """A queued failure: the next ``remaining`` requests to ``target`` get it (oldest first)."""

    class Target(models.TextChoices):
        API = "api", "Provisioning API"
        TOKEN = "token", "Token endpoints"
        HONO = "hono", "Hono device registry"
        DITTO = "ditto", "Ditto things and policies"

    class Kind(models.TextChoices):
        TOO_MANY = "429", "429 Too Many Requests (Retry-After)"
        SERVER_ERROR = "500", "500 Internal Server Error"
        UNAVAILABLE = "503", "503 Service Unavailable"
        PAYMENT = "402", "402 Plan limit exceeded"
        UNAUTHORIZED = "401", "401 whatever the token"
        SLOW = "slow", "Slow: sleep, then answer normally"
        RESET = "reset", "Reset: drop the connection without a response"
        GARBAGE = "garbage", "Garbage: answer normally, with a non-JSON body"

    target = models.CharField(max_length=8, choices=Target.choices, default=Target.API)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    remaining = models.PositiveIntegerField(default=1)
    retry_after = models.PositiveIntegerField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="How long a slow fault sleeps.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["target", "remaining"], name="sandbox_fault_pending")]

    def __str__(self):
        return f"{self.kind} x{self.remaining} ({self.target})"


# Eclipse Hono's device registry and Eclipse Ditto (provisioning-api.md §10, §11): one
# registry and one Ditto per sandbox, apart from the Bosch service instances above.


class BasicUser(models.Model):
    """A user name and password the Hono and Ditto endpoints accept as HTTP Basic.

    Ditto sees such a caller as the subject ``nginx:<username>``, as behind Ditto's nginx.
    """

    username = models.CharField(max_length=150, unique=True)
    secret_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["username"]

    def __str__(self):
        return self.username

    def set_password(self, password):
        self.secret_hash = hash_secret(password)

    def check_password(self, password):
        return secret_matches(password, self.secret_hash)


class HonoTenant(models.Model):
    tenant_id = models.CharField(max_length=256, unique=True)
    data = models.JSONField(default=dict, help_text="The Tenant body as sent (enabled, ext, adapters, ...).")
    etag = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id"]

    def __str__(self):
        return self.tenant_id


class HonoDevice(models.Model):
    tenant = models.ForeignKey(HonoTenant, on_delete=models.CASCADE, related_name="devices", db_index=False)
    device_id = models.CharField(max_length=256)
    data = models.JSONField(default=dict, help_text="The Device body as sent (enabled, via, ext, ...).")
    etag = models.CharField(max_length=64)
    # The device's credentials are one resource with a version of its own.
    credentials_etag = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device_id", "tenant"], name="sandbox_hono_device_unique"),
        ]

    def __str__(self):
        return self.device_id


class HonoCredential(models.Model):
    """One entry of a device's credentials set; (type, auth-id) is unique in the tenant."""

    tenant = models.ForeignKey(HonoTenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    device = models.ForeignKey(HonoDevice, on_delete=models.CASCADE, related_name="credentials")
    type = models.CharField(max_length=64)
    auth_id = models.CharField(max_length=256)
    enabled = models.BooleanField(default=True)
    ext = models.JSONField(null=True, blank=True)
    # Each secret with its id and metadata, and a hash in place of any password or key.
    secrets = models.JSONField(default=list)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["auth_id", "type", "tenant"], name="sandbox_hono_credential_unique"
            ),
        ]

    def __str__(self):
        return f"{self.auth_id} ({self.type})"


class DittoPolicy(models.Model):
    policy_id = models.CharField(max_length=256, unique=True)
    entries = models.JSONField(default=dict)
    imports = models.JSONField(null=True, blank=True)
    revision = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["policy_id"]
        verbose_name_plural = "Ditto policies"

    def __str__(self):
        return self.policy_id


class DittoThing(models.Model):
    thing_id = models.CharField(max_length=256, unique=True)
    policy_id = models.CharField(max_length=256)
    data = models.JSONField(default=dict, help_text="definition, attributes, features.")
    revision = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["thing_id"]

    def __str__(self):
        return self.thing_id
