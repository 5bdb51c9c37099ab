"""Form fields that several forms share: a team's connections and namespaces, and authScope."""

from django import forms

from provisioning.models import AuthScope

AUTH_SCOPE_DEFAULT = "__default__"


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


class AuthScopeField(forms.ChoiceField):
    """The authScope query parameter of a Send: the connection's default, none, or a named one."""

    def __init__(self, **kwargs):
        choices = [(AUTH_SCOPE_DEFAULT, "The connection's default")] + [
            (value or "none", label) for value, label in AuthScope.choices
        ]
        kwargs.setdefault("label", "authScope")
        kwargs.setdefault("required", False)
        super().__init__(choices=choices, initial=AUTH_SCOPE_DEFAULT, **kwargs)
