"""Form fields that several forms share: a team's connections and namespaces, and authScope."""

from django import forms

from provisioning.models import AuthScope

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
