from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils.text import slugify

from provisioning import ids
from provisioning.models import AuthMethod, Connection, GroupMapping, Namespace, Preset, Role, Team, Theme
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


class ConnectionForm(forms.ModelForm):
    client_secret = forms.CharField(
        required=False,
        strip=False,
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: it is stored encrypted and never shown again.",
    )
    # Declared here so that a URL typed without a scheme means https, not http.
    token_url = forms.URLField(
        required=False,  # may come from the Nexeed tenant id
        max_length=500,
        assume_scheme="https",
        label="Token URL",
    )
    api_base_url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        label="API base URL",
        help_text="The provisioning API up to /api/1, without the instance id.",
    )

    class Meta:
        model = Connection
        fields = [
            "name",
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
        ]
        labels = {
            "preset": "Preset",
            "nexeed_tenant_id": "Nexeed tenant id",
            "nexeed_target_client_id": "Target client id",
            "client_id": "Client id",
            "service_instance_id": "Service instance id",
            "default_auth_scope": "Default authScope",
            "auth_method": "Client authentication",
        }
        widgets = {"preset": forms.RadioSelect}
        help_texts = {
            "nexeed_tenant_id": "The token URL is built from it: " + NEXEED_TOKEN_URL,
            "nexeed_target_client_id": "The client id of the API you call; the scope is built from it: "
            "aud:<target client id> openid.",
            "scope": "Space-separated. Suite Auth: the service scopes of your subscription. "
            "Nexeed: built from the target client id when left empty.",
            "audience": "Optional; sent as the 'audience' parameter when set.",
            "service_instance_id": "The subscription instance id (Suite: Subscriptions, Show credentials).",
        }

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields["client_secret"].required = not self.instance.has_secret
        if self.instance.has_secret:
            self.fields["client_secret"].help_text = (
                f"Set {self.instance.secret_set_at:%Y-%m-%d %H:%M} UTC, fingerprint "
                f"{self.instance.secret_fingerprint}. Leave empty to keep it."
            )

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

    def clean_api_base_url(self):
        return _checked_url(self.cleaned_data["api_base_url"].strip()).rstrip("/")

    def clean_service_instance_id(self):
        value = self.cleaned_data["service_instance_id"].strip()
        if not value or any(c in value for c in "/?#% ") or not value.isprintable():
            raise forms.ValidationError(
                "Enter the instance id as shown in the Suite (letters, digits and dashes)."
            )
        return value

    def clean_client_id(self):
        value = self.cleaned_data["client_id"].strip()
        if not value.isprintable():
            raise forms.ValidationError("The client id cannot contain control characters.")
        return value

    def clean_client_secret(self):
        value = self.cleaned_data["client_secret"]
        if value and not value.isprintable():
            raise forms.ValidationError("The client secret cannot contain control characters.")
        return value

    def clean(self):
        cleaned = super().clean()
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
        if self.data.get("client_secret") and "client_secret" not in self.errors:
            self.add_error(
                "client_secret", "Type the client secret again: it is never sent back to your browser."
            )

    def save(self, commit=True):
        connection = super().save(commit=False)
        connection.team = self.team
        secret = self.cleaned_data.get("client_secret")
        if secret:
            connection.set_secret(secret)
        if connection.pk and (self.changed_data or secret):
            connection.config_version += 1
        if commit:
            connection.save()
        return connection

    def changed_fields(self):
        """Names of changed fields for the audit row; the secret only as 'client_secret'."""
        names = [n for n in self.changed_data if n != "client_secret"]
        if self.cleaned_data.get("client_secret"):
            names.append("client_secret")
        return names


class ConfigDeleteForm(forms.Form):
    """Deleting a connection: what becomes of the namespaces reserved for it."""

    namespaces = forms.ChoiceField(
        choices=[
            ("delete", "Delete them too"),
            ("release", "Keep them, usable by any of the team's connections"),
        ],
        widget=forms.RadioSelect,
        label="The namespaces reserved for this connection",
        error_messages={"required": "Choose what becomes of the namespaces reserved for it."},
    )

    def __init__(self, *args, reserved, **kwargs):
        super().__init__(*args, **kwargs)
        if not reserved:  # nothing to decide
            self.fields["namespaces"].required = False

    def clean_namespaces(self):
        return self.cleaned_data["namespaces"] or None


class NamespaceForm(forms.ModelForm):
    class Meta:
        model = Namespace
        fields = ["name", "client"]
        labels = {"client": "Connection"}

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.instance.team = team
        self.fields["client"].queryset = Connection.objects.filter(team=team)
        self.fields["client"].empty_label = "Any of the team's connections"
        self.fields["name"].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        error = ids.namespace_error(name)
        if error:
            raise forms.ValidationError(error)
        if Namespace.objects.filter(team=self.team, name=name).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Your team already has this namespace.")
        return name

    def save(self, commit=True):
        namespace = super().save(commit=False)
        namespace.team = self.team
        if commit:
            namespace.save()
        return namespace


class InviteForm(forms.Form):
    email = forms.EmailField(
        help_text="If a person with this e-mail already has an account, they are added at once; "
        "otherwise you get a one-time invitation link to hand over."
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.OPERATOR)

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if self.team.memberships.filter(user__email__iexact=email).exists():
            raise forms.ValidationError("This person is already a member of the team.")
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AcceptInvitationForm(forms.Form):
    username = forms.CharField(max_length=150)
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Password again", strip=False, widget=forms.PasswordInput)

    def __init__(self, *args, email="", **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        User = get_user_model()
        User.username_validator(username)
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("This user name is taken.")
        return username

    def clean(self):
        from django.contrib.auth.password_validation import validate_password

        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            # An unsaved user, so the similarity check compares with the chosen name and e-mail.
            candidate = get_user_model()(username=cleaned.get("username", ""), email=self.email)
            try:
                validate_password(p1, user=candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class ThemeForm(forms.Form):
    theme = forms.ChoiceField(
        choices=Theme.choices,
        error_messages={
            "required": "Choose a theme: System, Light or Dark.",
            "invalid_choice": "There is no such theme. Choose System, Light or Dark.",
        },
    )


class LocalLoginPolicy:
    """With LOCAL_LOGIN_SUPERUSERS_ONLY, a password signs in superusers only (Django's
    ``confirm_login_allowed`` hook, run after the password was found right)."""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if settings.LOCAL_LOGIN_SUPERUSERS_ONLY and not user.is_superuser:
            raise forms.ValidationError(
                f"Password sign-in is for superusers only here. Sign in with "
                f"{settings.OIDC_PROVIDER_NAME} instead.",
                code="local_login_off",
            )


class LoginForm(LocalLoginPolicy, AuthenticationForm):
    pass


class AdminLoginForm(LocalLoginPolicy, AdminAuthenticationForm):
    pass


class GroupMappingForm(forms.ModelForm):
    """A group of the identity provider and the role its members get in the team."""

    class Meta:
        model = GroupMapping
        fields = ["group", "role"]
        help_texts = {
            "group": "The group's name exactly as the identity provider sends it in the groups claim.",
        }

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, instance=GroupMapping(team=team, role=Role.OPERATOR), **kwargs)

    def clean_group(self):
        group = self.cleaned_data["group"]
        if GroupMapping.objects.filter(team=self.instance.team, group=group).exists():
            raise forms.ValidationError(
                "This group is mapped already. Remove it first to give it another role."
            )
        return group


class TeamForm(forms.ModelForm):
    """A new team (superusers): its name; the slug in its URLs is made from the name."""

    class Meta:
        model = Team
        fields = ["name"]
        help_texts = {"name": "Its URLs use a short form of the name: “ACME Sensors” becomes acme-sensors."}

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if Team.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError("A team with this name exists already.")
        slug = slugify(name)[: Team._meta.get_field("slug").max_length].strip("-")
        if not slug:
            raise forms.ValidationError(
                "Use at least one letter or digit (a-z, 0-9): the team's URLs need one."
            )
        if Team.objects.filter(slug=slug).exists():
            raise forms.ValidationError(
                f"Another team already has the URL name “{slug}”: choose another name."
            )
        self.instance.slug = slug
        return name


class MemberPasswordResetForm(PasswordResetForm):
    """Django's password reset form for one chosen account (a team admin's or a superuser's
    choice), not for every account that shares its e-mail address. It sends with
    django.core.mail.send_mail, which raises when the mail server fails (Django's own
    form logs that and carries on, so the admin would be told it was sent)."""

    def __init__(self, user):
        super().__init__({"email": user.email})
        self.user = user

    def get_users(self, email):
        user = self.user
        return [user] if user.is_active and user.has_usable_password() else []

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **kwargs):
        subject = "".join(render_to_string(subject_template_name, context).splitlines())
        send_mail(subject, render_to_string(email_template_name, context), from_email, [to_email])
