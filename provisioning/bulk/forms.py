"""The upload form: the file and the settings that hold for every row of it."""

from django import forms
from django.conf import settings

from provisioning.form_fields import AuthScopeField, TeamChoiceField
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
    auth_scope = AuthScopeField()
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
        self.fields["config"].queryset = Connection.objects.filter(team=team).for_devices()
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
        return cleaned
