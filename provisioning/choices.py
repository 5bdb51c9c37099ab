"""A model choice field for the team's handful of client configurations and namespaces."""

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe


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

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", PlainSelect)
        super().__init__(*args, **kwargs)


class PlainSelect(forms.Select):
    """A <select> written in Python: the same markup as Django's Select widget, which
    renders a template for every option (a page of filters spent ~10 ms on it)."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        groups = []
        for group_name, options, _index in widget["optgroups"]:
            inner = mark_safe(  # noqa: S308 - every part below is escaped by format_html
                "".join(
                    format_html(
                        '<option value="{}"{}>{}</option>',
                        option["value"],
                        _attrs(option["attrs"]),
                        option["label"],
                    )
                    for option in options
                )
            )
            groups.append(
                format_html('<optgroup label="{}">{}</optgroup>', group_name, inner) if group_name else inner
            )
        return format_html(
            '<select name="{}"{}>{}</select>',
            widget["name"],
            _attrs(widget["attrs"]),
            mark_safe("".join(groups)),  # noqa: S308 - built with format_html above
        )


def _attrs(attrs):
    """Attributes as Django's widget template writes them: False left out, True as a bare name."""
    return format_html_join(
        "",
        " {}{}",
        (
            (key, "" if val is True else format_html('="{}"', val))
            for key, val in attrs.items()
            if val is not False
        ),
    )
