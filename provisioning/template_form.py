"""The team admin's form for a device template: its name, its connection kind, and the values of
the device builder's fields it sets, each with a "fixed" flag.

The values are validated the way the builder validates a device: DeviceForm runs on them with a
placeholder device (a connection of the template's kind that reaches nothing, a namespace, a
name), so every rule of the builder holds, with its own message at its own field, and so do the
rules of the kind (authScope is Bosch's; Ditto alone takes no credentials, gateway or disabled
device). A template that could never produce a valid device is refused.
"""

import copy

from django import forms
from django.http import QueryDict

from provisioning.device_form import MAX_ATTRIBUTES, DeviceForm
from provisioning.device_templates import FIELD_WORDS, FIXABLE
from provisioning.models import Connection, ConnectionKind, DeviceTemplate, Namespace
from provisioning.template_use import feature_text

# The builder's fields a template sets (DeviceForm's own fields: the same labels, choices, limits).
VALUE_FIELDS = [
    "enabled",
    "via",
    "credentials_type",
    "auth_scope",
    "definition",
    "features",
    "policy_mode",
    "policy_id",
]
PLACEHOLDER_NAMESPACE = "com.example.template"
PLACEHOLDER_NAME = "device-1"


def placeholder_connection(team, kind):
    """An unsaved connection of ``kind`` that DeviceForm validates against; it is never called."""
    return Connection(
        team=team,
        kind=kind,
        name="template check",
        api_base_url="https://provisioning.invalid/api/1",
        service_instance_id="template-check",
        hono_url="https://hono.invalid" if kind == ConnectionKind.HONO_DITTO else "",
        hono_tenant="template-check" if kind == ConnectionKind.HONO_DITTO else "",
        ditto_url="https://ditto.invalid" if kind != ConnectionKind.BOSCH else "",
    )


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Operators pick templates by this name.")
    description = forms.CharField(
        max_length=500,
        required=False,
        help_text="Optional: which devices it is for.",
        widget=forms.TextInput(attrs={"class": "wide"}),
    )
    kind = forms.ChoiceField(
        choices=ConnectionKind.choices,
        widget=forms.RadioSelect,
        label="For connections of the kind",
        help_text="The builder offers it with these connections only, and checks it by their rules. "
        "It cannot be changed later.",
    )

    def __init__(self, *args, team, template=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.template = template
        for name in VALUE_FIELDS:  # a copy per form: never a field object shared with DeviceForm
            self.fields[name] = copy.deepcopy(DeviceForm.base_fields[name])
        self.fields["features"].help_text = (
            'Optional JSON object, e.g. {"temperature": {"properties": {"value": 21.5}}}: the '
            "properties each device starts with."
        )
        for name in FIXABLE:
            self.fields[f"{name}_fixed"] = forms.BooleanField(required=False, label="Fixed")
        if template is not None:  # Django takes a disabled field's value from the initial data
            self.fields["kind"].disabled = True
            self.initial["kind"] = template.kind
            self.fields["kind"].help_text = "Set when the template was made; it cannot be changed."
        self.attribute_rows = self._attribute_rows()
        self.version_values = None  # set by clean(): what a TemplateVersion of this form holds

    @classmethod
    def initial_of(cls, template, version):
        """The form's initial data for editing ``template`` from its ``version``."""
        initial = {"name": template.name, "description": template.description, "kind": template.kind}
        initial.update({name: getattr(version, name) for name in VALUE_FIELDS if name != "features"})
        initial["features"] = feature_text(version.features)
        initial.update({f"{name}_fixed": getattr(version, f"{name}_fixed") for name in FIXABLE})
        fixed = set(version.fixed_attributes)
        initial["attributes"] = [(key, value, key in fixed) for key, value in version.attributes.items()]
        return initial

    # --- the attribute rows: key, value, fixed -----------------------------------------------------

    def _attribute_rows(self):
        """(key, value, fixed) as submitted (or from initial); "fixed" boxes name their row's index."""
        if self.is_bound:
            keys = self.data.getlist("attr_key")
            values = self.data.getlist("attr_value")
            fixed = set(self.data.getlist("attr_fixed"))
            rows = [(k, values[i] if i < len(values) else "", str(i) in fixed) for i, k in enumerate(keys)]
        else:
            rows = list(self.initial.get("attributes") or [])
        return rows[: MAX_ATTRIBUTES + 1]

    SECTIONS = [
        ("Device", ["enabled", "via"]),
        ("Credentials", ["credentials_type"]),
        ("Thing", ["definition", "features", "policy", "auth_scope"]),
    ]

    def sections(self):
        """The page's fieldsets as the builder has them: (legend, groups), each group (name, its
        bound value fields, its bound "fixed" box, its words)."""
        found = []
        for legend, names in self.SECTIONS:
            groups = []
            for name in names:
                fields = ["policy_mode", "policy_id"] if name == "policy" else [name]
                groups.append((name, [self[f] for f in fields], self[f"{name}_fixed"], FIELD_WORDS[name]))
            found.append((legend, groups))
        return found

    # --- validation ------------------------------------------------------------------------------------

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter a name.")
        taken = DeviceTemplate.objects.filter(team=self.team, name__iexact=name, retired_at__isnull=True)
        if self.template is not None:
            taken = taken.exclude(pk=self.template.pk)
        if taken.exists():
            raise forms.ValidationError("Your team has a template of this name already.")
        return name

    def _device_data(self):
        """The template's values as the builder would post them, for a placeholder device."""
        data = QueryDict(mutable=True)
        data["name"] = PLACEHOLDER_NAME
        for name in VALUE_FIELDS:
            key = self.add_prefix(name)
            if name == "enabled":
                if self.fields["enabled"].widget.value_from_datadict(self.data, self.files, key):
                    data["enabled"] = "on"
            else:
                data[name] = self.data.get(key, "")
        data.setlist("attr_key", [key for key, _, _ in self.attribute_rows])
        data.setlist("attr_value", [value for _, value, _ in self.attribute_rows])
        return data

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if not kind:
            return cleaned
        device = DeviceForm(
            self._device_data(),
            team=self.team,
            config=placeholder_connection(self.team, kind),
            namespace=Namespace(team=self.team, name=PLACEHOLDER_NAMESPACE),
        )
        if not device.is_valid():
            for field, errors in device.errors.items():
                for error in errors:
                    self.add_error(field if field in VALUE_FIELDS else None, error)
            return cleaned
        values = {name: device.cleaned_data[name] for name in VALUE_FIELDS}
        if values["policy_mode"] != "existing":
            values["policy_id"] = ""
        values.update({f"{name}_fixed": bool(cleaned.get(f"{name}_fixed")) for name in FIXABLE})
        rows = [(key.strip(), value, fixed) for key, value, fixed in self.attribute_rows if key.strip()]
        values["attributes"] = {key: value for key, value, _ in rows}
        values["fixed_attributes"] = sorted(key for key, _, fixed in rows if fixed)
        self.version_values = values
        return cleaned
