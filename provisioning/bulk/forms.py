"""The upload form: the file and the settings that hold for every row of it."""

from django import forms
from django.conf import settings

from provisioning.form_fields import AUTH_SCOPE_DEFAULT, AuthScopeField, TeamChoiceField
from provisioning.models import Connection, Namespace

MAX_CONCURRENCY = 16
DEFAULT_CONCURRENCY = 4

CREDENTIAL_CHOICES = [
    ("hashed-password", "Password (typed, or generated for an empty cell)"),
    ("none", "None: no credentials (devices behind a gateway, or twins alone)"),
]


class UploadForm(forms.Form):
    config = TeamChoiceField(queryset=Connection.objects.none(), label="Connection")
    namespace = TeamChoiceField(queryset=Namespace.objects.none())
    file = forms.FileField(
        label="CSV file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    credentials_type = forms.ChoiceField(
        choices=CREDENTIAL_CHOICES, initial="hashed-password", label="Credentials"
    )
    auth_scope = AuthScopeField(
        help_text="Bosch IoT Suite connections only: Hono and Ditto have no authScope."
    )
    concurrency = forms.IntegerField(
        min_value=1,
        max_value=MAX_CONCURRENCY,
        initial=DEFAULT_CONCURRENCY,
        label="Rows sent at the same time",
        help_text=f"1 to {MAX_CONCURRENCY}. More is faster, as long as the provider keeps up; "
        "when it answers 429 or 503 the job waits as it asks.",
    )

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["config"].queryset = Connection.objects.filter(team=team)
        self.fields["namespace"].queryset = Namespace.objects.filter(
            team=team
        )  # its config: for an error only
        self.fields["file"].help_text = (
            "UTF-8 (with or without BOM), separated by commas, semicolons or tabs. "
            f"At most {settings.BULK_MAX_ROWS:,} rows and {settings.BULK_MAX_UPLOAD_MB} MB. "
            "Nothing is sent until you confirm the preview."
        )

    def clean(self):
        cleaned = super().clean()
        config, namespace = cleaned.get("config"), cleaned.get("namespace")
        if config and namespace and (reserved := namespace.reserved_against(config)):
            self.add_error("namespace", reserved)
        if config:
            problems = connection_problems(config, cleaned.get("credentials_type"), cleaned.get("auth_scope"))
            for field, words in problems.items():
                self.add_error(field, words)
        return cleaned


def connection_problems(config, credentials_type, auth_scope):
    """What a Hono + Ditto or Ditto connection cannot do for every row of a job, by field
    (said once for the job, not on every line), or {}."""
    problems = {}
    if config.is_bosch:
        return problems
    if auth_scope not in (None, "", AUTH_SCOPE_DEFAULT):
        problems["auth_scope"] = (
            "authScope is a Bosch IoT Suite setting; leave it at the connection's default."
        )
    if not config.has_hono and credentials_type != "none":
        problems["credentials_type"] = (
            "A Ditto connection creates the twins and their policies only; devices and their "
            "credentials are registered in Hono. Choose None."
        )
    return problems
