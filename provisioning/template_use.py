"""Using a template version: the device builder starts from it (BuilderForm), a bulk row is
filled from it (``fill_row``), and in both a value the template fixes cannot be changed.

- The builder: the fields the version sets are prefilled; fixed ones are disabled (Django
  then takes their value from the template, never from the browser) and a request that sends a
  different value anyway is refused at the field, as is a fixed attribute changed or left out.
- A bulk row: its cells override the version's values, except fixed ones (a cell that differs
  makes the row invalid, with the reason); the version fills what the file does not give.
- The upload form: a job's credential type and authScope are the version's when it fixes them.

Which version a form uses travels with it (a hidden ``template_version``, the version's id), so
a Send uses the version the operator saw, even if the template was edited meanwhile; a version
of a retired template is not used any more.
"""

import json

from django import forms

from provisioning.device_form import DeviceForm, TooDeep, load_json, parse_attribute_value
from provisioning.device_templates import FIELD_WORDS, FIXABLE
from provisioning.models import DeviceTemplate, TemplateVersion

# Each fixable name of device_templates.FIXABLE -> the form fields it stands for.
FORM_FIELDS = {
    "enabled": ["enabled"],
    "via": ["via"],
    "credentials_type": ["credentials_type"],
    "auth_scope": ["auth_scope"],
    "definition": ["definition"],
    "features": ["features"],
    "policy": ["policy_mode", "policy_id"],
}
GONE = (
    "The template this form started from was retired or deleted, so it cannot be used any more. "
    "Start again from another template, or from none."
)


def usable_versions(team):
    """The versions a form of ``team`` may start from: those of its templates not retired."""
    return TemplateVersion.objects.filter(
        template__team=team, template__retired_at__isnull=True
    ).select_related("template")


def offered_templates(team):
    """The team's templates offered in the builder and on the upload page (not retired)."""
    return DeviceTemplate.objects.filter(team=team, retired_at__isnull=True)


def latest_usable(team, template_pk):
    """The newest version of ``team``'s template ``template_pk`` if it may be used, else None."""
    try:
        pk = int(template_pk)
    except (TypeError, ValueError):
        return None
    return usable_versions(team).filter(template_id=pk).order_by("-number").first()


def named_usable(team, name):
    """The newest version of ``team``'s template in use named ``name`` (in any case), or None:
    how the commands (``--template NAME``) find one."""
    return usable_versions(team).filter(template__name__iexact=name.strip()).order_by("-number").first()


def posted_version(form, team):
    """(version, missing) of a bound form's hidden ``template_version``: the TemplateVersion it
    names, or None; ``missing`` is True when it names one that may not be used (any more)."""
    raw = (form.data.get(form.add_prefix("template_version")) or "").strip() if form.is_bound else ""
    if not raw:
        return None, False
    try:
        pk = int(raw)
    except ValueError:
        return None, True
    version = usable_versions(team).filter(pk=pk).first()
    return version, version is None


def feature_text(features):
    return json.dumps(features, indent=2, ensure_ascii=False) if features else ""


def builder_values(version):
    """The builder's values for the fields ``version`` sets (as its initial data takes them)."""
    return {
        "enabled": version.enabled,
        "via": version.via,
        "credentials_type": version.credentials_type,
        "auth_scope": version.auth_scope,
        "definition": version.definition,
        "features": feature_text(version.features),
        "policy_mode": version.policy_mode,
        "policy_id": version.policy_id,
        "attributes": dict(version.attributes),
    }


def shown(value):
    """A template's value in a message: empty text as "(empty)"."""
    if value is True or value is False:
        return "true" if value else "false"
    return f"“{value}”" if value not in ("", None) else "(empty)"


def fixed_words(version, what, value=None):
    """Why a value cannot be changed: the template fixes ``what`` (to ``value``, when given)."""
    to = f" to {shown(value)}" if value is not None else ""
    template = f"The template “{version.template.name}” (version {version.number})"
    return f"{template} fixes {what}{to}; it cannot be changed here."


def _same_attribute(text, expected):
    """Whether the attribute value typed as ``text`` is the one typed as ``expected``."""
    try:
        return parse_attribute_value(text) == parse_attribute_value(expected)
    except TooDeep:
        return False


def _posted_differs(form, version, field):
    """Whether a request carries a value for the fixed form ``field`` other than ``version``'s.
    The page disables fixed fields, so a browser sends none; anything sent is compared."""
    key = form.add_prefix(field)
    if key not in form.data:
        return False
    raw = form.fields[field].widget.value_from_datadict(form.data, form.files, key)
    expected = getattr(version, field)
    if field == "enabled":
        return bool(raw) != expected
    if field == "features":
        text = (raw or "").strip()
        try:
            return (load_json(text) if text else {}) != expected
        except ValueError:
            return True
    return (raw or "").strip() != expected


def fix_fields(form, version, names):
    """Disable ``form``'s fields that ``version`` fixes (of ``names``, fixable names), their
    value the version's: Django takes a disabled field's value from its initial data."""
    values = builder_values(version)
    for name in version.fixed_fields() & set(names):
        for field in FORM_FIELDS[name]:
            if field in form.fields:
                form.fields[field].disabled = True
                form.initial[field] = values[field]


def refuse_changes(form, version, names):
    """Add an error at each field of ``names`` that ``version`` fixes and the request changed."""
    for name in version.fixed_fields() & set(names):
        for field in FORM_FIELDS[name]:
            if field in form.fields and _posted_differs(form, version, field):
                value = builder_values(version)[field] if field != "features" else None  # JSON: not repeated
                form.add_error(field, fixed_words(version, FIELD_WORDS[name], value))


class BuilderForm(DeviceForm):
    """The device builder's form, started from a template version or not.

    ``template``: the version an unbound form starts from; a bound form reads its own from the
    hidden ``template_version`` (the one the page was rendered with).
    """

    template_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, team, template=None, **kwargs):
        super().__init__(*args, team=team, **kwargs)
        self.template, self.template_missing = (
            (template, False) if template is not None else posted_version(self, team)
        )
        if self.template is not None:
            self.initial["template_version"] = self.template.pk
            fix_fields(self, self.template, FORM_FIELDS)

    @property
    def fixed_attributes(self):
        return set(self.template.fixed_attributes) if self.template is not None else set()

    def clean_template_version(self):
        return self.template.pk if self.template is not None else None

    def clean(self):
        cleaned = super().clean()
        if self.template_missing:
            self.add_error(None, GONE)
        version = self.template
        if version is None:
            return cleaned
        config = cleaned.get("config")
        if config is not None and config.kind != version.template.kind:
            self.add_error(
                "config",
                f"The template “{version.template.name}” is for {version.template.get_kind_display()} "
                "connections: choose one of those, or start from another template or none.",
            )
        refuse_changes(self, version, FORM_FIELDS)
        sent = {key.strip(): value for key, value in self.attribute_rows if key.strip()}
        for key in sorted(self.fixed_attributes):
            expected = version.attributes.get(key, "")
            if key not in sent or not _same_attribute(sent[key], expected):
                self.add_error(None, fixed_words(version, f"the attribute “{key}”", expected))
        return cleaned


def current_values(form):
    """What a bound BuilderForm shows now, as initial data for a form started again (from
    another template, or none): the typed values, its template's for fixed fields. Never a
    secret (a typed password is not sent back to the browser)."""
    names = [
        "config",
        "namespace",
        "name",
        "auth_id",
        "enabled",
        "via",
        "credentials_type",
        "definition",
        "features",
        "policy_mode",
        "policy_id",
        "auth_scope",
    ]
    values = {name: form[name].value() for name in names if name in form.fields}
    values["attributes"] = {key.strip(): value for key, value in form.attribute_rows if key.strip()}
    return values


def restart(values, version):
    """``values`` (``current_values``) started from ``version`` (None: no template): the fields
    it sets take its values; attributes it does not name stay."""
    if version is None:
        return values
    given = builder_values(version)
    attributes = {**values.get("attributes", {}), **given.pop("attributes")}
    return {**values, **given, "attributes": attributes}


# --- bulk rows --------------------------------------------------------------------------------------


def fill_row(data, version, *, enabled, labels):
    """Fill a bulk row's ``data`` (intake.RowData) from ``version`` where the file gives nothing;
    returns the reasons the row is invalid: a cell that changes a value the version fixes.

    ``enabled``: the row's enabled cell as read (True, False, or None for an empty or missing
    cell); ``labels``: the headers of the row's attribute cells, extended for the attributes
    the version adds (so a message can name where a value came from).
    """
    problems = []
    name = version.template.name

    def refuse(column, value):
        problems.append(
            f"{column}: the template “{name}” (version {version.number}) fixes it to {shown(value)}; "
            "leave the cell empty or write that value."
        )

    for field in ("via", "definition"):
        cell = (data.get(field) or "").strip()
        value = getattr(version, field)
        if not cell:
            data[field] = value
        elif getattr(version, f"{field}_fixed") and cell != value:
            refuse(field, value)
    if enabled is None:
        enabled = version.enabled
    elif version.enabled_fixed and enabled != version.enabled:
        refuse("enabled", version.enabled)
    if enabled:
        data["enabled"] = "on"
    else:
        data.pop("enabled", None)
    keys, values = data.lists["attr_key"], data.lists["attr_value"]
    given = dict(zip(keys, values, strict=True))
    where = dict(zip(keys, labels, strict=True))
    for key, value in version.attributes.items():
        if key not in given:
            keys.append(key)
            values.append(value)
            labels.append(f"template attribute {key}")
        elif key in version.fixed_attributes and not _same_attribute(given[key], value):
            refuse(where.get(key, f"attr.{key}"), value)
    return problems


def job_values(version):
    """What a bulk job's every row takes from ``version`` besides the cells: the thing's
    features and its policy (a CSV has no column for them)."""
    return {
        "features": dict(version.features),
        "policy_mode": version.policy_mode,
        "policy_id": version.policy_id,
    }


# --- choosing one ---------------------------------------------------------------------------------


class TemplateChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.get_kind_display()})"


class StartForm(forms.Form):
    """The builder's and the upload page's "Start from a template": one of the team's (or none)."""

    template = TemplateChoiceField(
        queryset=DeviceTemplate.objects.none(), required=False, empty_label="None", label="Template"
    )

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = offered_templates(team)


def start_context(team, version):
    """What a page shows of the template ``version`` it starts from (or None): the chooser, the
    version, whether a newer one exists, and what it fixes, in words."""
    newer = False
    fixed = []
    if version is not None:
        newer = version.template.versions.filter(number__gt=version.number).exists()
        fixed = [FIELD_WORDS[name] for name in FIXABLE if name in version.fixed_fields()]
        fixed += [f"attribute “{key}”" for key in sorted(version.fixed_attributes)]
    start = StartForm(team=team, initial={"template": version.template_id if version else None})
    return {
        "start_form": start,
        "has_templates": version is not None or offered_templates(team).exists(),
        "template": version,
        "template_newer": newer,
        "template_fixed": fixed,
        "fixed_by": version.label if version is not None else "",  # _field.html's note at a fixed field
    }
