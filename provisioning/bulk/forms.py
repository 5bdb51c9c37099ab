"""The upload form: the file and the settings that hold for every row of it."""

from django import forms
from django.conf import settings

from provisioning.choices import TeamChoiceField
from provisioning.device_form import AUTH_SCOPE_DEFAULT
from provisioning.models import AuthScope, Namespace, OAuthClient

MAX_CONCURRENCY = 16
DEFAULT_CONCURRENCY = 4

CREDENTIAL_CHOICES = [
    ("hashed-password", "Password (typed, or generated for an empty cell)"),
    ("none", "None: the devices send through a gateway"),
]


class UploadForm(forms.Form):
    client = TeamChoiceField(queryset=OAuthClient.objects.none(), label="Client configuration")
    namespace = TeamChoiceField(queryset=Namespace.objects.none())
    file = forms.FileField(
        label="CSV file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    credentials_type = forms.ChoiceField(
        choices=CREDENTIAL_CHOICES, initial="hashed-password", label="Credentials"
    )
    auth_scope = forms.ChoiceField(label="authScope", required=False)
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
        self.fields["client"].queryset = OAuthClient.objects.filter(team=team)
        self.fields["namespace"].queryset = Namespace.objects.filter(team=team)  # client: for an error only
        self.fields["auth_scope"].choices = [(AUTH_SCOPE_DEFAULT, "The configuration's default")] + [
            (value or "none", label) for value, label in AuthScope.choices
        ]
        self.fields["auth_scope"].initial = AUTH_SCOPE_DEFAULT
        self.fields["file"].help_text = (
            f"UTF-8 (with or without BOM), separated by , or ;. At most {settings.BULK_MAX_ROWS:,} rows "
            f"and {settings.BULK_MAX_UPLOAD_MB} MB. Nothing is sent until you confirm the preview."
        )

    def clean(self):
        cleaned = super().clean()
        config, namespace = cleaned.get("client"), cleaned.get("namespace")
        if config and namespace and namespace.client_id and namespace.client_id != config.pk:
            self.add_error(
                "namespace", f"The namespace {namespace.name} is reserved for “{namespace.client.name}”."
            )
        return cleaned
