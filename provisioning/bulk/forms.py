"""The upload form (the file and the settings that hold for every row of it), and the mapping
step's form (what each column of a file is used as)."""

from django import forms
from django.conf import settings

from provisioning import ids, template_use
from provisioning.bulk.columns import looks_secret
from provisioning.bulk.csvfile import ATTR_PREFIX, FIELDS
from provisioning.bulk.models import used_as
from provisioning.device_form import MAX_ATTRIBUTES
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


IGNORE = "ignore"
ATTRIBUTE = "attribute"
TARGET_CHOICES = [
    (IGNORE, "Ignore this column"),
    ("name", "name: the device name (required)"),
    ("password", "password"),
    ("auth_id", "auth_id"),
    ("enabled", "enabled"),
    ("via", "via: the gateway's device id"),
    ("definition", "definition"),
    (ATTRIBUTE, "An attribute, with the key beside"),
]
LABEL_LENGTH = 60


def column_name(label, index):
    """How the page names column ``index`` (0-based): its header, shortened, or its number."""
    if not label:
        return f"column {index + 1}"
    return label if len(label) <= LABEL_LENGTH else label[: LABEL_LENGTH - 1] + "…"


def suggested_key(label):
    """The attribute key a column's name suggests: the name without an ``attr.`` in front."""
    if label[: len(ATTR_PREFIX)].lower() == ATTR_PREFIX:
        label = label[len(ATTR_PREFIX) :]
    return label.strip()[:256]


class ColumnsForm(forms.Form):
    """The mapping step: for every column of the file, a field, an attribute (with its key) or
    nothing. ``labels`` are the file's column names; ``targets`` what each is proposed as (a
    field, ``attr.<key>`` or ""). Once valid, ``targets`` holds the choice in that form."""

    def __init__(self, *args, labels, targets, **kwargs):
        initial = {}
        for index, (label, target) in enumerate(zip(labels, targets, strict=True)):
            key = suggested_key(label)
            if target.startswith(ATTR_PREFIX):
                choice, key = ATTRIBUTE, target[len(ATTR_PREFIX) :]
            else:
                choice = target if target in FIELDS else IGNORE
            initial[f"column_{index}"] = choice
            initial[f"key_{index}"] = key
        super().__init__(*args, initial=initial, **kwargs)
        self.labels = labels
        self.targets = None
        for index, label in enumerate(labels):
            name = column_name(label, index)
            self.fields[f"column_{index}"] = forms.ChoiceField(
                choices=TARGET_CHOICES, label=f"Use “{name}” as"
            )
            self.fields[f"key_{index}"] = forms.CharField(
                required=False, max_length=256, label=f"Attribute key for “{name}”"
            )

    def clean(self):
        cleaned = super().clean()
        targets = []
        for index in range(len(self.labels)):
            choice = cleaned.get(f"column_{index}")
            if choice == ATTRIBUTE:
                key = cleaned.get(f"key_{index}")
                if key is None:
                    choice = None  # the key's own error is shown
                elif problem := ids.key_error(key, "attribute key"):
                    self.add_error(f"key_{index}", problem)
                    choice = None
                else:
                    choice = ATTR_PREFIX + key
            targets.append("" if choice == IGNORE else choice)
        columns_of = {}
        for index, target in enumerate(targets):
            if target:
                columns_of.setdefault(target, []).append(index)
        for target, indexes in columns_of.items():
            if len(indexes) > 1:
                names = " and ".join(f"“{column_name(self.labels[i], i)}”" for i in indexes)
                both = "both" if len(indexes) == 2 else "all"
                words = (
                    f"{names} would {both} be {used_as(target)}: a field takes one column. Choose "
                    "Ignore for the others."
                    if target in FIELDS
                    else f"{names} would {both} be {used_as(target)}: give each attribute its own key."
                )
                self.add_error(None, words)
                first = column_name(self.labels[indexes[0]], indexes[0])
                for index in indexes[1:]:
                    field = f"column_{index}" if target in FIELDS else f"key_{index}"
                    self.add_error(field, f"“{first}” is {used_as(target)} already.")
        if "name" not in targets:
            self.add_error(None, "Choose the column that holds the device name (name): it is required.")
        attributes = sum(1 for target in targets if target and target.startswith(ATTR_PREFIX))
        if attributes > MAX_ATTRIBUTES:
            self.add_error(
                None, f"{attributes} columns are attributes; a device has at most {MAX_ATTRIBUTES}."
            )
        if not self.errors:
            self.targets = targets
        return cleaned

    def lines(self, examples):
        """What the page shows for each column: its name, its first values (none for a column
        that may hold passwords), the choice and the attribute key."""
        for index, label in enumerate(self.labels):
            column = self[f"column_{index}"]
            masked = looks_secret(label) or column.value() == "password"
            yield {
                "number": index + 1,
                "label": column_name(label, index),
                "named": bool(label),
                "examples": [] if masked else examples[index],
                "masked": masked,
                "column": column,
                "key": self[f"key_{index}"],
            }
