"""The small forms of the sandbox page; their cleaned data goes straight to knobs.py or seed.py."""

from django import forms

from provisioning.sandbox.knobs import KNOB_LIMITS
from provisioning.sandbox.models import Fault


class KnobsForm(forms.Form):
    latency_ms = forms.IntegerField(
        label="Latency (ms)",
        min_value=KNOB_LIMITS["latency_ms"][0],
        max_value=KNOB_LIMITS["latency_ms"][1],
        help_text="Every sandbox request sleeps this long first.",
    )
    token_lifetime = forms.IntegerField(
        label="Token lifetime (s)",
        required=False,
        min_value=KNOB_LIMITS["token_lifetime"][0],
        max_value=KNOB_LIMITS["token_lifetime"][1],
        help_text="Empty: 3599 for Suite Auth, 300 for Nexeed. A client's own lifetime wins.",
    )
    clock_skew_seconds = forms.IntegerField(
        label="Clock skew (s)",
        min_value=KNOB_LIMITS["clock_skew_seconds"][0],
        max_value=KNOB_LIMITS["clock_skew_seconds"][1],
        help_text="The sandbox's clock runs this far ahead (negative: behind). Raise it to age tokens.",
    )


class FaultForm(forms.Form):
    kind = forms.ChoiceField(choices=Fault.Kind.choices)
    target = forms.ChoiceField(choices=Fault.Target.choices, initial=Fault.Target.API)
    count = forms.IntegerField(
        min_value=1, max_value=100_000, initial=1, help_text="How many requests get it."
    )
    retry_after = forms.IntegerField(
        label="Retry-After (s)", required=False, min_value=0, max_value=86_400, help_text="For 429 and 503."
    )
    seconds = forms.FloatField(
        label="Sleep (s)", required=False, min_value=0, max_value=3600, help_text="For slow."
    )


class BasicUserForm(forms.Form):
    username = forms.RegexField(
        regex=r"^[A-Za-z0-9._-]{1,150}$",
        max_length=150,
        help_text="Letters, digits, '.', '_' and '-'. A new user, or a new password for an existing one.",
        error_messages={"invalid": "Use letters, digits, '.', '_' and '-' only."},
    )
