"""The Ditto namespace rule and its plain-words messages (provisioning.ids)."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning import ids

# The rule as written in provisioning-api.md §6.1, copied here on purpose: the module's own
# regex must agree with the documented one.
DOCUMENTED_NAMESPACE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:[.-][A-Za-z][A-Za-z0-9_]*)*")


@pytest.mark.parametrize(
    "namespace",
    ["a", "com.acme", "com.acme.sensors", "org.eclipse.ditto_1", "my-ns.a1", "A_b9.C-d", "x" * 254],
)
def test_valid_namespaces_pass(namespace):
    assert ids.namespace_error(namespace) is None


@pytest.mark.parametrize(
    ("namespace", "message"),
    [
        ("", "Enter a namespace."),
        ("1acme", "must start with a letter"),
        ("_acme", "must start with a letter"),
        (".acme", "must start with a letter"),
        ("äcme", "must start with a letter"),
        ("com.", "cannot end with '.' or '-'"),
        ("com-", "cannot end with '.' or '-'"),
        ("com..acme", "After '.' a namespace needs a letter (found '.')"),
        ("com.1acme", "After '.' a namespace needs a letter (found '1')"),
        ("com-_x", "After '-' a namespace needs a letter (found '_')"),
        ("com.acme sensors", "may only hold letters, digits, '_', '.' and '-' (found ' ')"),
        ("com/acme", "(found '/')"),
        ("com:acme", "(found ':')"),
        ("cömpany", "(found 'ö')"),
        ("x" * 255, "at most 254 characters"),
    ],
)
def test_invalid_namespaces_get_a_clear_message(namespace, message):
    assert message in ids.namespace_error(namespace)


@given(st.text(alphabet=st.sampled_from("aZ09_.-é/ :"), max_size=12) | st.text(max_size=12))
def test_the_namespace_check_agrees_with_the_documented_rule(value):
    error = ids.namespace_error(value)
    documented_ok = bool(DOCUMENTED_NAMESPACE.fullmatch(value)) and len(value) <= 254
    assert (error is None) == documented_ok
    if error is not None:
        # Every refusal says what is wrong; the generic fallback is never needed.
        assert error != "This is not a valid namespace."


@pytest.mark.parametrize(
    ("thing_id", "ok"),
    [
        ("com.acme:boiler-0042", True),
        ("com.acme:my device 4711", True),
        ("com.acme:", False),
        ("com.acme", False),
        ("com.acme:a/b", False),
        ("com.acme:*", False),
        ("com.acme:bad\x07bell", False),
        ("1com:device", False),
        ("a:" + "x" * 254, True),
        ("a:" + "x" * 255, False),
    ],
)
def test_thing_ids_follow_the_ditto_rule(thing_id, ok):
    assert (ids.thing_id_error(thing_id) is None) is ok


def test_the_default_auth_id_replaces_the_colon():
    assert ids.default_auth_id("com.acme:boiler-0042") == "com.acme_boiler-0042"


@pytest.mark.parametrize(
    ("check", "value", "ok"),
    [
        (ids.hono_device_id_error, "org.acme:sensor-1_a.b", True),
        (ids.hono_device_id_error, "org.acme:sensor 1", False),
        (ids.hono_device_id_error, "org.acme:dev/1", False),
        (ids.hono_auth_id_error, "org.acme_sensor-1=a.b", True),
        (ids.hono_auth_id_error, "org.acme:sensor-1", False),
        (ids.hono_auth_id_error, "dev@tenant", False),
        (ids.hono_tenant_error, "acme-tenant_1.a", True),
        (ids.hono_tenant_error, "acme:tenant", False),
        (ids.hono_tenant_error, "", False),
    ],
)
def test_hono_ids_follow_the_registry_defaults(check, value, ok):
    assert (check(value) is None) is ok
