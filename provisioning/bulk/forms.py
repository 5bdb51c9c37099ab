"""The upload form: the file and the settings that hold for every row of it."""

from django import forms
from django.conf import settings

from provisioning import template_use
from provisioning.form_fields import AUTH_SCOPE_DEFAULT, AuthScopeField, TeamChoiceField
from provisioning.models import Connection, Namespace

MAX_CONCURRENCY = 16
DEFAULT_CONCURRENCY = 4

CREDENTIAL_CHOICES = [
    ("hashed-password", "Password (typed, or generated for an empty cell)"),
    ("none", "None: the devices send through a gateway"),
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

    # The template version every row starts from (set by the page's "Start from a template").
    template_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, team, template=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.template, self.template_missing = (
            (template, False) if template is not None else template_use.posted_version(self, team)
        )
        if self.template is not None:
            self.initial["template_version"] = self.template.pk
            psk = self.template.credentials_type == "psk"  # not offered here: clean() says why
            template_use.fix_fields(self, self.template, ["auth_scope"] if psk else JOB_FIELDS)
        self.fields["config"].queryset = Connection.objects.filter(team=team)
        self.fields["namespace"].queryset = Namespace.objects.filter(
            team=team
        )  # its config: for an error only
        self.fields["file"].help_text = (
            "UTF-8 (with or without BOM), separated by commas, semicolons or tabs. "
            f"At most {settings.BULK_MAX_ROWS:,} rows and {settings.BULK_MAX_UPLOAD_MB} MB. "
            "Nothing is sent until you confirm the preview."
        )

    def clean_template_version(self):
        return self.template

    def clean(self):
        cleaned = super().clean()
        if self.template_missing:
            self.add_error(None, template_use.GONE)
        if self.template is not None:
            self._clean_template(cleaned)
        config, namespace = cleaned.get("config"), cleaned.get("namespace")
        if config and namespace and (reserved := namespace.reserved_against(config)):
            self.add_error("namespace", reserved)
        if config:
            problems = connection_problems(config, cleaned.get("credentials_type"), cleaned.get("auth_scope"))
            for field, words in problems.items():
                self.add_error(field, words)
        return cleaned

    def _clean_template(self, cleaned):
        version, config = self.template, cleaned.get("config")
        template = version.template
        if config is not None and config.kind != template.kind:
            self.add_error(
                "config",
                f"The template “{template.name}” is for {template.get_kind_display()} connections: "
                "choose one of those, or start from another template or none.",
            )
        if version.credentials_type_fixed and version.credentials_type == "psk":
            self.add_error(
                None,
                f"The template “{template.name}” fixes the credentials to pre-shared keys, which a bulk "
                "job cannot make. Provision these devices one at a time, or use another template.",
            )
        template_use.refuse_changes(self, version, JOB_FIELDS)


# What a template may fix of a whole job (the rest of it applies to each row: bulk.intake).
JOB_FIELDS = ["credentials_type", "auth_scope"]


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
