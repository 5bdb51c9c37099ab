from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils.text import slugify

from provisioning import ids
from provisioning.connection_form import (  # noqa: F401 - re-exported: the views import them from here
    NEXEED_TOKEN_URL,
    PRESET_DEFAULTS,
    SUITE_API_BASE_URL,
    SUITE_AUTH_TOKEN_URL,
    ConnectionForm,
)
from provisioning.models import Connection, GroupMapping, Namespace, Role, Team, Theme


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
