"""How a Hono + Ditto or Ditto plan is shown and kept: each step as the preview shows it and
the audit row keeps it (secrets masked), and as a curl command that reads every token,
password and device secret from a shell variable.
"""

import json
import shlex

from provisioning import ids
from provisioning.audit import redact
from provisioning.providers.bosch import GENERATED, MASK
from provisioning.providers.hono_ditto import BASIC

# --- preview and audit ------------------------------------------------------------------------


def masked_body(step):
    """``step``'s body with every typed secret masked; a generated placeholder stays."""
    if step.body is None:
        return None
    return redact(step.body, mask=MASK, keep={GENERATED})


def authorization_preview(settings, endpoint):
    """The Authorization header as shown: the scheme, never the token or password."""
    scheme, user = settings.auth_for(endpoint)
    if scheme == BASIC:
        return f"Basic <{user or 'user'} and the {endpoint.title()} password of the connection>"
    return f"Bearer <token for the connection's {endpoint.title()} endpoint>"


def request_record(settings, step):
    """``step`` as the audit row keeps it: secrets masked, the Authorization header redacted."""
    record = {
        "step": step.name,
        "method": step.method,
        "url": step.url,
        "headers": {**step.headers, "Authorization": authorization_preview(settings, step.endpoint)},
    }
    if step.body is not None:
        record["body"] = masked_body(step)
    return record


def comparable(record):
    """What of a step's ``record`` (request_record) says what the step makes: its method, URL and
    body, the credentials without their secrets (masked or a placeholder, never comparable)."""
    body = record.get("body") if isinstance(record, dict) else None
    if isinstance(body, list):
        body = [
            {k: v for k, v in item.items() if k != "secrets"} if isinstance(item, dict) else item
            for item in body
        ]
    return (record or {}).get("method"), (record or {}).get("url"), body


def device_from_record(request, device_id):
    """What the device builder was given, read back from the intent row of a Hono + Ditto or
    Ditto provisioning attempt (``request["steps"]``, each a request_record: secrets masked, so
    none is read): to send the attempt again. The same keys as ``bosch.device_from_request``
    without ``auth_scope`` (these APIs have none). None for a record this cannot read, or one
    the builder cannot show (more than one gateway)."""
    steps = request.get("steps") if isinstance(request, dict) else None
    if not isinstance(steps, list):
        return None
    by_name = {step.get("step"): step for step in steps if isinstance(step, dict)}
    thing = (by_name.get("thing") or {}).get("body")
    if not isinstance(thing, dict):
        return None
    device = (by_name.get("device") or {}).get("body")
    device = device if isinstance(device, dict) else {}
    credentials = (by_name.get("credentials") or {}).get("body")
    entry = credentials[0] if isinstance(credentials, list) and credentials else {}
    entry = entry if isinstance(entry, dict) else {}
    via = device.get("via") or []
    if not isinstance(via, list) or len(via) > 1:
        return None
    auth_id = entry.get("auth-id") or ""
    return {
        "id": device_id,
        "enabled": device.get("enabled", True) is not False,
        "via": via[0] if via else "",
        "credentials_type": entry.get("type", "none"),
        "auth_id": "" if auth_id == ids.default_auth_id(device_id) else auth_id,
        "attributes": thing.get("attributes") or {},
        "definition": thing.get("definition") or "",
        "features": thing.get("features") or {},
        # A generated policy has a step of its own; otherwise the thing names an existing one.
        "policy_id": "" if "policy" in by_name else thing.get("policyId") or "",
    }


def preview(settings, steps):
    """Each step as the live preview shows it, in order: name, title, method, URL, headers,
    body (indented JSON, secrets masked) and its curl command."""
    return [
        {
            **request_record(settings, step),
            "title": step.title,
            "body": json.dumps(masked_body(step), indent=2, ensure_ascii=False)
            if step.body is not None
            else "",
            "curl": curl_command(settings, step),
        }
        for step in steps
    ]


# --- copy as curl -----------------------------------------------------------------------------

# The shell variable a copied command reads each device secret from, by its body key.
CURL_SECRETS = {"pwd-plain": "DEVICE_PASSWORD", "key": "DEVICE_PSK"}
SECRET_WORDS = {"DEVICE_PASSWORD": "password", "DEVICE_PSK": "pre-shared key (base64)"}


def auth_variable(settings, endpoint):
    """The shell variable holding ``endpoint``'s token or Basic password."""
    scheme, _ = settings.auth_for(endpoint)
    return f"{endpoint.upper()}_{'PASSWORD' if scheme == BASIC else 'TOKEN'}"


def _data_argument(body):
    """``--data-raw`` with ``body`` as JSON, each device secret read from its shell variable."""
    names = []

    def swap(value):
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key in CURL_SECRETS and isinstance(item, str):
                    names.append(CURL_SECRETS[key])
                    out[key] = f"@@{CURL_SECRETS[key]}@@"
                else:
                    out[key] = swap(item)
            return out
        if isinstance(value, list):
            return [swap(item) for item in value]
        return value

    data = shlex.quote(json.dumps(swap(body), ensure_ascii=False))
    for name in names:
        # Close the single quotes around the JSON, expand the variable in double quotes, reopen.
        data = data.replace(f"@@{name}@@", f"'\"${name}\"'")
    return "--data-raw " + data, names


def curl_command(settings, step):
    """``curl`` for ``step``: the endpoint's token or password and the device's secret come from
    shell variables ("$HONO_TOKEN", "$DITTO_PASSWORD", "$DEVICE_PASSWORD", …); nothing typed,
    generated or stored is ever in it."""
    scheme, user = settings.auth_for(step.endpoint)
    variable = auth_variable(settings, step.endpoint)
    if scheme == BASIC:
        auth = f'-u {shlex.quote(user)}:"${variable}"'
    else:
        auth = f'-H "Authorization: Bearer ${variable}"'
    parts = [f"curl --fail-with-body -X {step.method} {shlex.quote(step.url)}", auth]
    parts += [f"-H {shlex.quote(f'{name}: {value}')}" for name, value in step.headers.items()]
    if step.body is not None:
        data, _ = _data_argument(step.body)
        parts.append(data)
    return " \\\n  ".join(parts)


def curl_script(settings, steps):
    """Every step's curl in order, after comment lines saying which variables to set; with
    ``set -e`` the first refused step stops the rest."""
    variables = list(dict.fromkeys(auth_variable(settings, step.endpoint) for step in steps))
    for step in steps:
        if step.body is not None:
            variables += [name for name in _data_argument(step.body)[1] if name not in variables]
    where = f' of the connection "{settings.name}"' if settings.name else ""
    lines = ["# Set these first:"]
    for name in variables:
        if name in SECRET_WORDS:
            lines.append(f"# {name}: the device's {SECRET_WORDS[name]} (without \" or \\ in it).")
        else:
            endpoint, _, kind = name.partition("_")
            what = "an access token" if kind == "TOKEN" else "the Basic password"
            lines.append(f"# {name}: {what} for the {endpoint.title()} endpoint{where}.")
    # A line break in a name must not end a comment line and turn the rest into a command.
    lines = [" ".join(line.split()) for line in lines]
    commands = [f"# {step.title}\n{curl_command(settings, step)}" for step in steps]
    return "\n".join([*lines, "set -e", "", "\n\n".join(commands)])
