"""TeamChoiceField reads its choices at once and writes what ModelChoiceField writes."""

import re

import pytest
from django import forms
from django.db import connection
from django.test.utils import CaptureQueriesContext

from provisioning.form_fields import TeamChoiceField
from provisioning.models import Namespace


def normal(html):
    return re.sub(r">\s+<", "><", str(html)).strip()


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
