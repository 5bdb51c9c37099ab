"""Form fields that several forms share: a team's connections and namespaces, and authScope."""

from django import forms

from provisioning.models import AuthScope, DeviceTemplate

AUTH_SCOPE_DEFAULT = "__default__"
# The authScope choices that send no authScope: all a Hono + Ditto or Ditto connection can do.
NO_AUTH_SCOPE = ("", AUTH_SCOPE_DEFAULT, "none")


class _ReadAtOnce(forms.models.ModelChoiceIterator):
    """The choices from one plain SELECT.

    Django's iterator reads them with ``QuerySet.iterator()``, which on PostgreSQL opens a
    server-side cursor: DECLARE, FETCH and CLOSE, three round trips for a few rows, on
    every page with such a select (history's filters, the device builder, bulk upload).
    """

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class TeamChoiceField(forms.ModelChoiceField):
    """One of the team's handful of connections or namespaces."""

    iterator = _ReadAtOnce


class ConnectionSelect(forms.Select):
    """A select of connections whose options carry their provider (``data-kind``), so that the
    device builder's stylesheet shows only the fields that provider honours."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        connection = getattr(value, "instance", None)
        if connection is not None:
            option["attrs"]["data-kind"] = connection.kind
        return option


class AuthScopeField(forms.ChoiceField):
    """The authScope query parameter of a Send: the connection's default, none, or a named one."""

    def __init__(self, **kwargs):
        choices = [(AUTH_SCOPE_DEFAULT, "The connection's default")] + [
            (value or "none", label) for value, label in AuthScope.choices
        ]
        kwargs.setdefault("label", "authScope")
        kwargs.setdefault("required", False)
        super().__init__(choices=choices, initial=AUTH_SCOPE_DEFAULT, **kwargs)


class TemplateFilterField(TeamChoiceField):
    """One of the team's device templates, retired ones too (history and the Devices page
    filter by it): ``filter_by_template`` sets its queryset."""

    def label_from_instance(self, obj):
        return f"{obj.name} (retired)" if obj.is_retired else obj.name


def template_filters():
    """The two filters of history and the Devices page by template: (template, its version)."""
    return (
        TemplateFilterField(queryset=DeviceTemplate.objects.none(), required=False, label="Template"),
        forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1, label="Template version"),
    )


def filter_by_template(form, team):
    """Set a filter form's template choices (``team``'s templates); for its ``clean``."""
    form.fields["template"].queryset = DeviceTemplate.objects.filter(team=team)
    form.fields["template"].empty_label = "Any template, or none"


def template_filter_problem(form, cleaned):
    """A version asked for without its template is said at the version's field."""
    if cleaned.get("template_version") and not cleaned.get("template"):
        form.add_error("template_version", "Choose the template of this version too.")
