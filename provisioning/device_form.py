"""The device builder's form: validates one device and builds the exact request body.

The single-device page and every CSV row of a bulk job go through this class, so
both follow the same rules (provisioning-api.md §2 and §6).
"""

import base64
import binascii
import json
import secrets
import string

from django import forms

from provisioning import ids
from provisioning.form_fields import (
    AUTH_SCOPE_DEFAULT,
    NO_AUTH_SCOPE,
    AuthScopeField,
    ConnectionSelect,
    TeamChoiceField,
)
from provisioning.models import Connection, Namespace
from provisioning.providers import hono_ditto
from provisioning.providers.bosch import request_body
from provisioning.providers.hono_ditto_connection import settings_for
from provisioning.providers.spec import from_device

MAX_ATTRIBUTES = 50
MAX_JSON_CHARS = 20_000
PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_BYTES = 72  # bcrypt ignores anything longer

CREDENTIAL_CHOICES = [
    ("hashed-password", "Password (hashed-password)"),
    ("psk", "Pre-shared key (psk)"),
    ("none", "None: no credentials (a device behind a gateway, or a twin alone)"),
]
POLICY_CHOICES = [
    ("generated", "A new policy for this device (recommended)"),
    ("existing", "An existing policy"),
]


AUTH_SCOPE_NOT_HONOURED = (
    "authScope is a Bosch IoT Suite setting: Eclipse Hono and Ditto have none, so it cannot be "
    "sent. Choose “The connection's default”, or a Bosch IoT Suite connection."
)


def generate_password(length=20):
    """A strong password: letters, digits and a few symbols safe in shells and URLs."""
    alphabet = string.ascii_letters + string.digits + "-_.!"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
            and any(c in "-_.!" for c in candidate)
        ):
            return candidate


def generate_psk():
    return base64.b64encode(secrets.token_bytes(32)).decode()


def is_base64(value):
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(value) % 4 == 0 and bool(value)


JSON_LITERALS = {"true": True, "false": False, "null": None}


MAX_JSON_DEPTH = 32
TOO_DEEP = f"nests objects and lists more than {MAX_JSON_DEPTH} levels deep; flatten it."


class TooDeep(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH (or too deep for the parser at all)."""


def nests_deeper_than(value, limit):
    """True when lists and objects in ``value`` nest more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def load_json(text):
    """``json.loads``, refusing nesting deeper than MAX_JSON_DEPTH with TooDeep (a ValueError)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(TOO_DEEP) from None
    if nests_deeper_than(value, MAX_JSON_DEPTH):
        raise TooDeep(TOO_DEEP)
    return value


def parse_attribute_value(text):
    """Attribute values may be JSON (numbers, booleans, objects); anything else is a string.
    Raises TooDeep for JSON nested too deeply to store or send."""
    stripped = text.strip()
    if stripped in JSON_LITERALS:  # the only JSON texts that start with t, f or n
        return JSON_LITERALS[stripped]
    if stripped and stripped[0] in '{["-0123456789':
        try:
            return load_json(stripped)
        except TooDeep:
            raise
        except ValueError:
            pass
    return text


NUL_PROBLEM = "cannot contain the NUL character (\\u0000): it cannot be stored or sent."


def holds_nul(value):
    """True when a NUL character is in ``value`` or in any key or string inside it (parsed JSON).

    Django's text fields refuse NUL already; JSON can still carry one as \\u0000, which
    PostgreSQL cannot store (the audit row would fail, and nothing would be sent)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    return False


def initial_from_device(device):
    """The builder's initial values for ``device`` (from providers.bosch.device_from_request or
    hono_ditto_preview.device_from_record), without config and namespace: each attribute value
    as the text that parses back to it; no ``auth_scope`` key (Hono and Ditto have none) is the
    connection's default."""

    def as_typed(value):
        if isinstance(value, str) and parse_attribute_value(value) == value:
            return value
        return json.dumps(value, ensure_ascii=False)

    namespace, _, name = device["id"].partition(":")
    return {
        "name": name,
        "namespace_name": namespace,
        "enabled": device["enabled"],
        "via": device["via"],
        "credentials_type": device["credentials_type"],
        "auth_id": device["auth_id"],
        "attributes": {key: as_typed(value) for key, value in device["attributes"].items()},
        "definition": device["definition"],
        "features": json.dumps(device["features"], ensure_ascii=False) if device["features"] else "",
        "policy_mode": "existing" if device["policy_id"] else "generated",
        "policy_id": device["policy_id"],
        "auth_scope": device.get("auth_scope", AUTH_SCOPE_DEFAULT) or "none",
    }


class DeviceForm(forms.Form):
    config = TeamChoiceField(queryset=Connection.objects.none(), label="Connection", widget=ConnectionSelect)
    namespace = TeamChoiceField(queryset=Namespace.objects.none())
    name = forms.CharField(
        max_length=256,
        strip=False,
        label="Device name",
        help_text="The part after the colon: letters a-z and A-Z, digits, spaces and punctuation "
        "other than '/'; no accented letters such as ü or é.",
    )
    enabled = forms.BooleanField(required=False, initial=True, label="Device enabled")
    via = forms.CharField(
        required=False,
        max_length=256,
        label="Gateway (via)",
        help_text="Optional: the id of a gateway device allowed to send for this device.",
    )
    credentials_type = forms.ChoiceField(
        choices=CREDENTIAL_CHOICES, initial="hashed-password", label="Credentials"
    )
    auth_id = forms.CharField(
        required=False,
        max_length=256,
        label="Auth id",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Leave empty for the default: the device id with ':' replaced by '_'.",
    )
    password = forms.CharField(
        required=False,
        strip=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to have a strong password generated when you send. 8 to 72 bytes.",
    )
    psk_key = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        label="Pre-shared key (base64)",
        help_text="Leave empty to have a random 256-bit key generated when you send.",
    )
    # A page re-rendered in full (a refused Send, no JavaScript) never carries a typed secret
    # back to the browser: it says one was typed, and Send then needs it again or a choice.
    secret_was_typed = forms.BooleanField(required=False, widget=forms.HiddenInput)
    generate_instead = forms.BooleanField(required=False, label="Generate one instead")
    definition = forms.CharField(
        required=False,
        max_length=256,
        help_text="Optional, as namespace:name:version, e.g. com.acme:sensor:1.0.0.",
    )
    features = forms.CharField(
        required=False,
        max_length=MAX_JSON_CHARS,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text='Optional JSON object, e.g. {"temperature": {"properties": {"value": 21.5}}}.',
    )
    policy_mode = forms.ChoiceField(
        choices=POLICY_CHOICES, initial="generated", widget=forms.RadioSelect, label="Policy"
    )
    policy_id = forms.CharField(required=False, max_length=256, label="Existing policy id")
    auth_scope = AuthScopeField(
        help_text="Bosch IoT Suite connections only: Hono and Ditto have no authScope."
    )

    def __init__(self, *args, team, config=None, namespace=None, **kwargs):
        """``config`` and ``namespace``, when given (a bulk job: the same for every row),
        stand for the two choice fields, so validating a row costs no query.
        """
        super().__init__(*args, **kwargs)
        self.team = team
        self.fixed = {}
        if config is not None and namespace is not None:
            if config.team_id != team.pk or namespace.team_id != team.pk:
                raise ValueError("The connection and namespace must belong to the team.")
            self.fixed = {"config": config, "namespace": namespace}
            self.fields.pop("config", None)  # a subclass may not have them at all
            self.fields.pop("namespace", None)
        else:
            self.fields["config"].queryset = Connection.objects.filter(team=team)
            # No join of the config: only the rare "reserved for another connection" message names it.
            self.fields["namespace"].queryset = Namespace.objects.filter(team=team)
        self.attribute_rows = self._attribute_rows()
        self.attribute_errors = []

    # --- attributes: free rows of key and value ------------------------------------------------

    def _attribute_rows(self):
        """The attribute rows as submitted (or from initial), blank rows kept for the page."""
        if self.is_bound:
            keys = self.data.getlist("attr_key") if hasattr(self.data, "getlist") else []
            values = self.data.getlist("attr_value") if hasattr(self.data, "getlist") else []
            rows = [(k, values[i] if i < len(values) else "") for i, k in enumerate(keys)]
        else:
            rows = list((self.initial.get("attributes") or {}).items())
        return rows[: MAX_ATTRIBUTES + 1]

    def clean_name(self):
        name = self.cleaned_data["name"]
        error = ids.name_error(name)
        if error:
            raise forms.ValidationError(error)
        return name

    def clean_via(self):
        via = self.cleaned_data["via"].strip()
        if via:
            error = ids.thing_id_error(via)
            if error:
                raise forms.ValidationError(f"Enter the gateway's full device id (namespace:name). {error}")
        return via

    def clean_auth_id(self):
        auth_id = self.cleaned_data["auth_id"].strip()
        if auth_id and ("@" in auth_id or not auth_id.isprintable()):
            raise forms.ValidationError("An auth id cannot contain '@' or control characters.")
        return auth_id

    def clean_password(self):
        password = self.cleaned_data["password"]
        if password:
            if len(password) < PASSWORD_MIN_CHARS:
                raise forms.ValidationError(f"Use at least {PASSWORD_MIN_CHARS} characters.")
            if len(password.encode("utf-8")) > PASSWORD_MAX_BYTES:
                raise forms.ValidationError(f"Use at most {PASSWORD_MAX_BYTES} bytes (UTF-8).")
            if not password.isprintable():
                raise forms.ValidationError("The password cannot contain control characters.")
        return password

    def clean_psk_key(self):
        key = self.cleaned_data["psk_key"].strip()
        if key and not is_base64(key):
            raise forms.ValidationError("Enter the key as standard base64 (A-Z, a-z, 0-9, +, /, = padding).")
        return key

    def clean_definition(self):
        definition = self.cleaned_data["definition"].strip()
        if definition and not ids.DEFINITION_RE.fullmatch(definition):
            raise forms.ValidationError("Use namespace:name:version, e.g. com.acme:sensor:1.0.0.")
        return definition

    def clean_features(self):
        text = self.cleaned_data["features"].strip()
        if not text:
            return {}
        try:
            features = load_json(text)
        except TooDeep:
            raise forms.ValidationError(f"The features {TOO_DEEP}") from None
        except ValueError as exc:
            raise forms.ValidationError(f"This is not valid JSON: {exc.msg} (line {exc.lineno}).") from None
        if not isinstance(features, dict):
            raise forms.ValidationError('Enter a JSON object: {"featureId": {"properties": {...}}}.')
        if holds_nul(features):
            raise forms.ValidationError(f"The features {NUL_PROBLEM}")
        for feature_id, feature in features.items():
            problem = ids.key_error(feature_id, "feature id")
            if problem:
                raise forms.ValidationError(problem)
            if not isinstance(feature, dict):
                raise forms.ValidationError(f"Feature {feature_id!r} must be a JSON object.")
            unknown = set(feature) - {"definition", "properties", "desiredProperties"}
            if unknown:
                raise forms.ValidationError(
                    f"Feature {feature_id!r} has unknown fields: {', '.join(sorted(unknown))}. "
                    "Use definition, properties and desiredProperties."
                )
            for part in ("properties", "desiredProperties"):
                if part in feature and not isinstance(feature[part], dict):
                    raise forms.ValidationError(f"Feature {feature_id!r}: {part} must be a JSON object.")
            if "definition" in feature and not (
                isinstance(feature["definition"], list)
                and all(isinstance(d, str) for d in feature["definition"])
            ):
                raise forms.ValidationError(f"Feature {feature_id!r}: definition must be a list of strings.")
        return features

    def clean_policy_id(self):
        return self.cleaned_data["policy_id"].strip()

    def _clean_attributes(self):
        attributes = {}
        if len(self.attribute_rows) > MAX_ATTRIBUTES:
            self.attribute_errors.append(f"At most {MAX_ATTRIBUTES} attributes.")
        for index, (key, value) in enumerate(self.attribute_rows[:MAX_ATTRIBUTES], start=1):
            key = key.strip()
            if not key and not value.strip():
                continue  # an empty row the operator has not filled in yet
            if not key:
                self.attribute_errors.append(f"Attribute row {index}: enter a key for the value.")
                continue
            problem = ids.key_error(key, "attribute key")
            if problem:
                self.attribute_errors.append(f"Attribute row {index}: {problem}")
                continue
            if key in attributes:
                self.attribute_errors.append(f"Attribute row {index}: the key {key!r} is used twice.")
                continue
            if len(value) > MAX_JSON_CHARS:
                self.attribute_errors.append(f"Attribute row {index}: the value is too long.")
                continue
            try:
                parsed = parse_attribute_value(value)
            except TooDeep:
                self.attribute_errors.append(f"Attribute row {index}: the value {TOO_DEEP}")
                continue
            if holds_nul(parsed):
                self.attribute_errors.append(f"Attribute row {index}: the value {NUL_PROBLEM}")
                continue
            attributes[key] = parsed
        return attributes

    def clean(self):
        cleaned = super().clean()
        cleaned.update(self.fixed)
        cleaned["attributes"] = self._clean_attributes()
        if self.attribute_errors:
            self.add_error(None, forms.ValidationError(self.attribute_errors))
        config, namespace, name = cleaned.get("config"), cleaned.get("namespace"), cleaned.get("name")
        if config and namespace and (reserved := namespace.reserved_against(config)):
            self.add_error("namespace", reserved)
        if namespace and name:
            error = ids.thing_id_error(f"{namespace.name}:{name}")
            if error:
                self.add_error("name", error)
        if cleaned.get("policy_mode") == "existing":
            policy_id = cleaned.get("policy_id")
            if not policy_id:
                self.add_error("policy_id", "Enter the id of the existing policy.")
            else:
                error = ids.thing_id_error(policy_id)
                if error:
                    self.add_error("policy_id", f"A policy id has the form namespace:name. {error}")
        kind = cleaned.get("credentials_type")
        if kind == "none":
            cleaned["password"] = cleaned["psk_key"] = ""
        if config and not config.is_bosch and cleaned.get("auth_scope") not in NO_AUTH_SCOPE:
            self.add_error("auth_scope", AUTH_SCOPE_NOT_HONOURED)
        if config and not config.is_bosch and not self.errors:
            # What a Hono + Ditto or Ditto connection cannot do is said at its field, not dropped.
            for field, words in hono_ditto.problems(settings_for(config), self.to_spec()).items():
                self.add_error(field if field in self.fields else None, words)
        secret_field = {"hashed-password": "password", "psk": "psk_key"}.get(kind)
        if (
            secret_field
            and cleaned.get("secret_was_typed")
            and not cleaned.get("generate_instead")
            and not cleaned.get(secret_field)
            and secret_field not in self.errors
        ):
            what = "password" if kind == "hashed-password" else "key"
            self.add_error(
                secret_field,
                f"Type the {what} again: a typed {what} is never sent back to your browser. "
                f"Or tick “Generate one instead”.",
            )
        return cleaned

    # --- what is sent ---------------------------------------------------------------------------

    @property
    def device_id(self):
        return f"{self.cleaned_data['namespace'].name}:{self.cleaned_data['name']}"

    def effective_auth_scope(self):
        """The authScope query value, or None to omit it."""
        choice = self.cleaned_data.get("auth_scope") or AUTH_SCOPE_DEFAULT
        if choice == AUTH_SCOPE_DEFAULT:
            return self.cleaned_data["config"].default_auth_scope or None
        return None if choice == "none" else choice

    def needs_generated_secret(self):
        kind = self.cleaned_data["credentials_type"]
        return (kind == "hashed-password" and not self.cleaned_data["password"]) or (
            kind == "psk" and not self.cleaned_data["psk_key"]
        )

    def to_spec(self):
        """The provider-neutral description of this device (a Hono + Ditto or Ditto plan's)."""
        return from_device({**self.cleaned_data, "id": self.device_id})

    def to_body(self, *, generated_secret=None):
        """The request body for this device (see providers.bosch.request_body)."""
        return request_body({**self.cleaned_data, "id": self.device_id}, generated_secret=generated_secret)

    def new_secret(self):
        """A generated password or key, made at Send time only."""
        return (
            generate_password()
            if self.cleaned_data["credentials_type"] == "hashed-password"
            else generate_psk()
        )
