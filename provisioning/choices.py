"""A model choice field for the team's handful of client configurations and namespaces."""

from django import forms


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
    iterator = _ReadAtOnce
