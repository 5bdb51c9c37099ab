"""provisioning.rendering writes, byte for byte, what Django's widget templates write."""

import datetime

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from provisioning.device_form import DeviceForm
from provisioning.history import HistoryFilter
from provisioning.rendering import WRITERS, FormRenderer

TEMPLATES = DjangoTemplates()
OURS = FormRenderer()

CHOICES = [
    ("", "Any"),
    ("a", "Plain"),
    ("<b>&\"'", 'Needs <escaping> & "quotes"'),
    ("Group <1>", [("g1", "One"), ("g2", gettext_lazy("Two"))]),
    (3, "A number"),
    (4, 12345),
    ("safe", mark_safe("<em>safe</em>")),
]
ATTRS = [
    None,
    {"id": "id_x", "required": True, "disabled": False, "aria-describedby": "x-help", "data-v": '"<>'},
    {
        "class": "inline <c>",
        "autofocus": True,
        "maxlength": 10,
        "data-zero": 0,
        "placeholder": gettext_lazy("e.g."),
    },
]
VALUES = [None, "", "a", "<b>&\"'", "g2", 3, "3", 0, "missing", mark_safe("<i>"), ["a", "g1"]]

WIDGETS = [
    forms.TextInput(),
    forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    forms.PasswordInput(render_value=True),
    forms.PasswordInput(),
    forms.EmailInput(),
    forms.NumberInput(),
    forms.URLInput(),
    forms.HiddenInput(),
    forms.DateInput(attrs={"type": "date"}),
    forms.DateTimeInput(),
    forms.TimeInput(),
    forms.CheckboxInput(),
    forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
    forms.Select(choices=CHOICES),
    forms.SelectMultiple(choices=CHOICES),
    forms.NullBooleanSelect(),
    forms.RadioSelect(choices=CHOICES),
    forms.CheckboxSelectMultiple(choices=CHOICES),
]


def both(widget, name, value, attrs):
    """What each renderer writes, or the error it raises (the same for a value the widget
    itself refuses, such as a list for NullBooleanSelect)."""

    def written(renderer):
        try:
            return widget.render(name, value, attrs=attrs, renderer=renderer)
        except Exception as error:  # compared below
            return type(error)

    return written(TEMPLATES), written(OURS)


@pytest.mark.parametrize("attrs", ATTRS, ids=["no-attrs", "id-and-flags", "class-and-more"])
@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("widget", WIDGETS, ids=lambda w: type(w).__name__)
def test_every_widget_is_written_as_its_template_writes_it(widget, value, attrs):
    django_html, ours = both(widget, "field<&>", value, attrs)
    assert ours == django_html


@pytest.mark.parametrize("value", [datetime.date(2026, 11, 22), True, False, 1.5, "multi\nline"], ids=repr)
@pytest.mark.parametrize("widget", WIDGETS, ids=lambda w: type(w).__name__)
def test_other_values_too(widget, value):
    django_html, ours = both(widget, "f", value, {"id": "id_f"})
    assert ours == django_html


def test_every_template_it_writes_exists_in_django():
    for name in WRITERS:
        TEMPLATES.get_template(name)  # raises TemplateDoesNotExist


def test_an_option_with_a_template_of_its_own_is_left_to_the_templates():
    class Fancy(forms.Select):
        option_template_name = "django/forms/widgets/input_option.html"

    widget = Fancy(choices=[("a", "A")])
    django_html, ours = both(widget, "f", "a", None)
    assert ours == django_html and "<input" in ours and "<option" not in ours


@pytest.mark.django_db
def test_whole_forms_come_out_the_same(team_a, client_a, namespace_a):
    data = {"name": "dev<1>", "credentials_type": "psk", "policy_mode": "existing", "attr_key": ["k"]}
    for form in (
        DeviceForm(team=team_a),
        DeviceForm(data, team=team_a),
        HistoryFilter(team=team_a),
        HistoryFilter({"q": "com.<x>", "status": "conflict", "since": "2026-01-02"}, team=team_a),
    ):
        for field in form:
            django_html, ours = both(
                field.field.widget, field.html_name, field.value(), field.build_widget_attrs({})
            )
            assert ours == django_html, field.name
