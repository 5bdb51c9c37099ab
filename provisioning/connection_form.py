"""The connection form (forms.ConnectionForm): one Kind control, and the fields of each kind.

A Bosch IoT Suite connection is OAuth2 client credentials (a preset) and the provisioning API.
An Eclipse Hono + Ditto connection is a Hono registry and tenant and a Ditto, an Eclipse Ditto
connection a Ditto alone; each of their endpoints authenticates with the OAuth2 client
credentials of the token fields or with HTTP Basic (a user name and a write-only password).
The page shows the fields of the chosen kind only (static/css/app.css, no script needed); what
another kind's fields hold is not kept.
"""

from django import forms

from provisioning import ids
from provisioning.connections import SEALED as SEALED_PREFIX
from provisioning.connections import SECRET_WORDS
from provisioning.models import AuthMethod, Connection, ConnectionKind, EndpointAuthMethod, Preset
from provisioning.outbound import UnsafeURL, check_url

SUITE_AUTH_TOKEN_URL = "https://access.bosch-iot-suite.com/token"
SUITE_API_BASE_URL = "https://deviceprovisioning.eu-1.bosch-iot-suite.com/api/1"
NEXEED_TOKEN_URL = (
    "https://portal.bosch-nexeed.com/iam/access-management/v1/tenants/{tenant}/openid-connect/token"
)

# What each preset fills in on a new connection.
PRESET_DEFAULTS = {
    Preset.SUITE_AUTH: {
        "token_url": SUITE_AUTH_TOKEN_URL,
        "api_base_url": SUITE_API_BASE_URL,
        "auth_method": AuthMethod.FORM,
        "scope": "",
    },
    Preset.NEXEED: {
        "token_url": "",
        "api_base_url": SUITE_API_BASE_URL,
        "auth_method": AuthMethod.FORM,
        "scope": "aud:<target-client-id> openid",
    },
    Preset.CUSTOM: {"token_url": "", "api_base_url": "", "auth_method": AuthMethod.FORM, "scope": ""},
}


def _checked_url(value):
    try:
        return check_url(value)
    except UnsafeURL as exc:
        raise forms.ValidationError(str(exc)) from None


def _write_only(label):
    return forms.CharField(
        required=False,
        strip=False,
        max_length=1000,
        label=label,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: it is stored encrypted and never shown again.",
    )


def _https_url(label, help_text=""):
    """A URL field where a URL typed without a scheme means https, not http."""
    return forms.URLField(
        required=False, max_length=500, assume_scheme="https", label=label, help_text=help_text
    )


# The kinds' own fields: those of the other kinds are emptied when a connection is saved.
KIND_FIELDS = {
    "bosch": ["api_base_url", "service_instance_id", "default_auth_scope", "things_url"],
    "hono": ["hono_url", "hono_tenant", "hono_subject"],
    "hono_basic": ["hono_username"],
    "ditto": ["ditto_url", "own_subject"],
    "ditto_basic": ["ditto_username"],
    "oauth2": ["token_url", "client_id", "scope", "audience", "nexeed_tenant_id", "nexeed_target_client_id"],
    "ditto_oauth2": ["ditto_token_url", "ditto_client_id", "ditto_scope", "ditto_audience"],
}
# The write-only secrets: the form field -> (the group of KIND_FIELDS that uses it, its words).
SECRETS = {
    name: (group, SECRET_WORDS[name])
    for name, group in (
        ("client_secret", "oauth2"),
        ("hono_password", "hono_basic"),
        ("ditto_password", "ditto_basic"),
        ("ditto_client_secret", "ditto_oauth2"),
    )
}


class ConnectionForm(forms.ModelForm):
    client_secret = _write_only("Client secret")
    hono_password = _write_only("Hono password")
    ditto_password = _write_only("Ditto password")
    ditto_client_secret = _write_only("Ditto client secret")
    # Declared here so that a URL typed without a scheme means https, not http.
    token_url = forms.URLField(
        required=False,  # may come from the Nexeed tenant id
        max_length=500,
        assume_scheme="https",
        label="Token URL",
    )
    api_base_url = _https_url("API base URL", "The provisioning API up to /api/1, without the instance id.")
    things_url = _https_url(
        "Things base URL",
        "Optional: Bosch IoT Things' HTTP API, without /api/2 (for example "
        "https://things.eu-1.bosch-iot-suite.com). With it, Check at provider reads a device's "
        "twin back with this connection's token; the provisioning API cannot.",
    )
    hono_url = _https_url(
        "Hono registry base URL",
        "The device registry's management API, without /v1.",
    )
    ditto_url = _https_url("Ditto base URL", "Ditto's HTTP API, without /api/2.")
    ditto_token_url = _https_url(
        "Ditto token URL", "The token endpoint of the identity provider Ditto trusts."
    )

    class Meta:
        model = Connection
        fields = [
            "name",
            "kind",
            "preset",
            "nexeed_tenant_id",
            "nexeed_target_client_id",
            "token_url",
            "client_id",
            "client_secret",
            "scope",
            "audience",
            "auth_method",
            "api_base_url",
            "service_instance_id",
            "default_auth_scope",
            "things_url",
            "hono_url",
            "hono_tenant",
            "hono_auth",
            "hono_username",
            "hono_password",
            "ditto_url",
            "ditto_auth",
            "ditto_username",
            "ditto_password",
            "ditto_token_url",
            "ditto_client_id",
            "ditto_client_secret",
            "ditto_auth_method",
            "ditto_scope",
            "ditto_audience",
            "own_subject",
            "hono_subject",
        ]
        labels = {
            "kind": "Kind",
            "hono_auth": "Hono authentication",
            "hono_username": "Hono user name",
            "ditto_auth": "Ditto authentication",
            "ditto_username": "Ditto user name",
            "own_subject": "Own subject",
            "preset": "Preset",
            "nexeed_tenant_id": "Nexeed tenant id",
            "nexeed_target_client_id": "Target client id",
            "client_id": "Client id",
            "service_instance_id": "Service instance id",
            "default_auth_scope": "Default authScope",
            "auth_method": "Client authentication",
            "ditto_client_id": "Ditto client id",
            "ditto_auth_method": "Ditto client authentication",
            "ditto_scope": "Ditto scope",
            "ditto_audience": "Ditto audience",
        }
        widgets = {
            "kind": forms.RadioSelect,
            "preset": forms.RadioSelect,
            "hono_auth": forms.RadioSelect,
            "ditto_auth": forms.RadioSelect,
        }
        help_texts = {
            "nexeed_tenant_id": "The token URL is built from it: " + NEXEED_TOKEN_URL,
            "nexeed_target_client_id": "The client id of the API you call; the scope is built from it: "
            "aud:<target client id> openid.",
            "scope": "Space-separated. Suite Auth: the service scopes of your subscription. "
            "Nexeed: built from the target client id when left empty.",
            "audience": "Optional; sent as the 'audience' parameter when set.",
            "ditto_scope": "Space-separated; the scope Ditto's client asks for, if any.",
            "ditto_audience": "Optional; sent as the 'audience' parameter when set.",
            "service_instance_id": "The subscription instance id (Suite: Subscriptions, Show credentials).",
            "hono_tenant": "The Hono tenant the devices are registered in.",
            "own_subject": "Optional: the subject Ditto sees for this connection (nginx:<user> behind "
            "Ditto's nginx), given every right in the policies made. Empty: the caller's subject.",
            "hono_subject": "Optional: the subject of Ditto's connection to this Hono tenant, given READ and "
            "WRITE in the policies made; it is in the authorizationContext of that connection in Ditto. "
            "Empty: pre-authenticated:hono-connection-<tenant>.",
        }

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        # A form sent without a kind or endpoint methods (as before there were kinds, or Ditto's
        # own client) keeps the connection's: Bosch, for a new one.
        missing = [
            name
            for name in ("kind", "hono_auth", "ditto_auth", "ditto_auth_method")
            if self.is_bound and name not in self.data
        ]
        if missing:
            self.data = self.data.copy()
            for name in missing:
                self.data[name] = getattr(self.instance, name)
        for name in SECRETS:
            prefix = SEALED_PREFIX[name]
            if getattr(self.instance, f"{prefix}_sealed"):
                self.fields[name].help_text = (
                    f"Set {getattr(self.instance, f'{prefix}_set_at'):%Y-%m-%d %H:%M} UTC, fingerprint "
                    f"{getattr(self.instance, f'{prefix}_fingerprint')}. Leave empty to keep it."
                )

    def _uses(self):
        """Which groups of KIND_FIELDS the chosen kind and endpoint methods use."""
        probe = Connection(
            kind=self.cleaned_data.get("kind") or ConnectionKind.BOSCH,
            hono_auth=self.cleaned_data.get("hono_auth") or EndpointAuthMethod.BASIC,
            ditto_auth=self.cleaned_data.get("ditto_auth") or EndpointAuthMethod.BASIC,
        )
        uses = {"bosch"} if probe.is_bosch else set()
        if probe.uses_ditto_client:
            uses.add("ditto_oauth2")
        for endpoint, method in probe.endpoint_auths().items():
            uses.add(endpoint)
            if method == EndpointAuthMethod.BASIC:
                uses.add(f"{endpoint}_basic")
        if probe.uses_oauth2:
            uses.add("oauth2")
        return uses

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = Connection.objects.filter(team=self.team, name__iexact=name).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("Your team already has a connection with this name.")
        return name

    def clean_nexeed_tenant_id(self):
        tenant = self.cleaned_data["nexeed_tenant_id"].strip()
        if tenant and not all(c.isalnum() or c in "-_" for c in tenant):
            raise forms.ValidationError("A tenant id holds only letters, digits, '-' and '_'.")
        return tenant

    def clean_nexeed_target_client_id(self):
        target = self.cleaned_data["nexeed_target_client_id"].strip()
        if target and (not target.isprintable() or " " in target):
            raise forms.ValidationError("A client id holds no spaces or control characters.")
        return target

    def clean_token_url(self):
        url = self.cleaned_data["token_url"].strip()
        return _checked_url(url) if url else url

    def clean_ditto_token_url(self):
        url = self.cleaned_data["ditto_token_url"].strip()
        return _checked_url(url) if url else url

    def clean_api_base_url(self):
        return self._clean_base_url("api_base_url")

    def clean_things_url(self):
        return self._clean_base_url("things_url")

    def clean_hono_url(self):
        return self._clean_base_url("hono_url")

    def clean_ditto_url(self):
        return self._clean_base_url("ditto_url")

    def _clean_base_url(self, name):
        url = self.cleaned_data[name].strip()
        return _checked_url(url).rstrip("/") if url else url

    def clean_hono_tenant(self):
        value = self.cleaned_data["hono_tenant"].strip()
        error = ids.hono_tenant_error(value) if value else None
        if error:
            raise forms.ValidationError(error)
        return value

    def clean_service_instance_id(self):
        value = self.cleaned_data["service_instance_id"].strip()
        if not value:
            return value  # required for Bosch only: the model's clean() says so
        if any(c in value for c in "/?#% ") or not value.isprintable():
            raise forms.ValidationError(
                "Enter the instance id as shown in the Suite (letters, digits and dashes)."
            )
        return value

    def clean_client_id(self):
        return self._clean_client_id("client_id")

    def clean_ditto_client_id(self):
        return self._clean_client_id("ditto_client_id")

    def _clean_client_id(self, name):
        value = self.cleaned_data[name].strip()
        if not value.isprintable():
            raise forms.ValidationError("The client id cannot contain control characters.")
        return value

    def clean_client_secret(self):
        return self._clean_secret("client_secret")

    def clean_hono_password(self):
        return self._clean_secret("hono_password")

    def clean_ditto_password(self):
        return self._clean_secret("ditto_password")

    def clean_ditto_client_secret(self):
        return self._clean_secret("ditto_client_secret")

    def _clean_secret(self, name):
        value = self.cleaned_data[name]
        if value and not value.isprintable():
            raise forms.ValidationError(f"The {SECRETS[name][1]} cannot contain control characters.")
        return value

    def clean(self):
        cleaned = super().clean()
        uses = self._uses()
        if "bosch" not in uses:  # the presets are Bosch's: a Hono or Ditto token URL is typed
            cleaned["preset"] = Preset.CUSTOM
        for group, names in KIND_FIELDS.items():
            if group not in uses:
                cleaned.update({name: "" for name in names if name in cleaned})
        for name, (group, words) in SECRETS.items():
            if group not in uses:  # typed before another kind or method was chosen
                cleaned[name] = ""
                continue
            stored = getattr(self.instance, f"{SEALED_PREFIX[name]}_sealed")
            if group in uses and not stored and not cleaned.get(name) and name not in self.errors:
                self.add_error(name, f"Enter the {words}: this connection needs it.")
        if "oauth2" not in uses:
            return cleaned
        if cleaned.get("preset") == Preset.NEXEED:
            self._build_nexeed(cleaned)
        else:  # Nexeed's fields belong to Nexeed: another preset keeps none
            cleaned["nexeed_tenant_id"] = cleaned["nexeed_target_client_id"] = ""
        if "token_url" in cleaned and not cleaned["token_url"]:
            self.add_error("token_url", "Enter the token URL (or, for Nexeed, the tenant id).")
        scope = cleaned.get("scope", "")
        if "<" in scope:
            self.add_error("scope", "Replace the <placeholder> with your real value.")
        return cleaned

    def _build_nexeed(self, cleaned):
        """Token URL and scope from the Nexeed tenant id and target client id. A value typed by
        hand is kept; where it disagrees with the one built, the form says so instead."""
        old = self.instance
        built_before = {
            "token_url": NEXEED_TOKEN_URL.format(tenant=old.nexeed_tenant_id) if old.nexeed_tenant_id else "",
            "scope": f"aud:{old.nexeed_target_client_id} openid" if old.nexeed_target_client_id else "",
        }
        tenant, target = cleaned.get("nexeed_tenant_id"), cleaned.get("nexeed_target_client_id")
        built = {
            "token_url": NEXEED_TOKEN_URL.format(tenant=tenant) if tenant else "",
            "scope": f"aud:{target} openid" if target else "",
        }
        for field, source in (("token_url", "nexeed_tenant_id"), ("scope", "nexeed_target_client_id")):
            if not built[field] or field not in cleaned:
                continue
            typed = cleaned[field]
            if not typed or "<" in typed or typed in (built_before[field], SUITE_AUTH_TOKEN_URL):
                # Empty, the placeholder, built from the old value, or another preset's default.
                cleaned[field] = built[field]
            elif typed != built[field]:
                label = self.fields[source].label
                self.add_error(
                    field,
                    f"This is not what the {label.lower()} gives ({built[field]}). Empty this field to use "
                    f"that, or empty the {label.lower()} to keep what you typed.",
                )

    def ask_for_the_secret_again(self):
        """On a page re-rendered with errors: a typed secret is not sent back to the browser, so
        its field says to type it again (nothing typed is lost without a word)."""
        uses = self._uses()
        for name, (group, words) in SECRETS.items():
            if group in uses and self.data.get(name) and name not in self.errors:
                self.add_error(name, f"Type the {words} again: it is never sent back to your browser.")

    def save(self, commit=True):
        connection = super().save(commit=False)
        connection.team = self.team
        uses = self._uses()
        typed = False
        for name, (group, _) in SECRETS.items():
            value = self.cleaned_data.get(name)
            if value:
                connection.set_sealed(name, value)
                typed = True
            elif group not in uses:
                # A secret of an endpoint or method no longer used is not kept.
                prefix = SEALED_PREFIX[name]
                setattr(connection, f"{prefix}_sealed", "")
                setattr(connection, f"{prefix}_fingerprint", "")
                setattr(connection, f"{prefix}_set_at", None)
        if connection.pk and (self.changed_data or typed):
            connection.config_version += 1
        if commit:
            connection.save()
        return connection

    def changed_fields(self):
        """Names of changed fields for the audit row; a secret only by its name."""
        names = [n for n in self.changed_data if n not in SECRETS]
        names += [name for name in SECRETS if self.cleaned_data.get(name)]
        return names
