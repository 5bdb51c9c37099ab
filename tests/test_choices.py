"""PlainSelect writes the markup Django's Select widget writes; TeamChoiceField reads choices at once."""

import re

import pytest
from django import forms
from django.db import connection
from django.test.utils import CaptureQueriesContext

from provisioning.choices import PlainSelect, TeamChoiceField
from provisioning.models import Namespace


def normal(html):
    return re.sub(r">\s+<", "><", str(html)).strip()


CHOICES = [
    ("", "Any"),
    ("a", "Plain"),
    ("<b>&\"'", 'Needs <escaping> & "quotes"'),
    ("Group 1", [("g1", "One"), ("g2", "Two")]),
    (3, "A number"),
]


@pytest.mark.parametrize("value", [None, "", "a", "<b>&\"'", "g2", 3, "3", "missing"])
@pytest.mark.parametrize(
    "attrs",
    [
        None,
        {"id": "id_x", "required": True, "disabled": False, "aria-describedby": "x-help", "data-v": '"<>'},
    ],
)
def test_it_renders_what_djangos_select_renders(value, attrs):
    django_html = forms.Select(choices=CHOICES).render("field", value, attrs=attrs)
    ours = PlainSelect(choices=CHOICES).render("field", value, attrs=attrs)
    assert normal(ours) == normal(django_html)
    assert "<b>" not in ours  # escaped


@pytest.mark.django_db
def test_a_team_choice_field_reads_its_choices_with_one_query(team_a):
    for name in ("com.a", "com.b", "com.c"):
        Namespace.objects.create(team=team_a, name=name)

    queryset = Namespace.objects.filter(team=team_a).order_by("name")
    initial = {"namespace": Namespace.objects.get(name="com.b").pk}

    class Form(forms.Form):
        namespace = TeamChoiceField(queryset=queryset)

    class DjangoForm(forms.Form):
        namespace = forms.ModelChoiceField(queryset=queryset)

    with CaptureQueriesContext(connection) as queries:
        html = str(Form(initial=initial)["namespace"])
    assert len(queries) == 1 and "DECLARE" not in queries[0]["sql"]  # no server-side cursor
    assert normal(html) == normal(DjangoForm(initial=initial)["namespace"])
    assert re.search(r'<option value="\d+" selected>com.b</option>', html)
