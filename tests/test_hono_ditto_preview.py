"""How a Hono + Ditto plan is shown, kept and copied: no secret reaches a record, a preview
or a curl, and the curl script runs and sends exactly the plan."""

import json
import os
import shutil
import subprocess

import pytest

from provisioning.providers import hono_ditto as hd
from provisioning.providers import hono_ditto_preview as shown
from provisioning.providers.bosch import GENERATED, MASK
from tests.hono_ditto_cases import FULL, GENERATED_SECRET, HONO_DITTO, PASSWORD, PSK, SPECS


def outputs(settings_, steps):
    """Everything a plan shows or stores, as one text."""
    return json.dumps(
        {
            "records": [shown.request_record(settings_, s) for s in steps],
            "preview": shown.preview(settings_, steps),
            "script": shown.curl_script(settings_, steps),
        },
        ensure_ascii=False,
    )


@pytest.mark.parametrize(
    ("spec", "secret"),
    [
        (FULL, PASSWORD),
        (SPECS["psk"], PSK),
        (SPECS["generated password"], GENERATED_SECRET),
        (SPECS["generated psk"], GENERATED_SECRET),
    ],
)
def test_no_secret_reaches_a_record_a_preview_or_a_curl(spec, secret):
    steps = hd.plan(HONO_DITTO, spec, generated_secret=GENERATED_SECRET)
    assert secret in json.dumps(steps[1].body)  # the real one is only in what is sent
    text = outputs(HONO_DITTO, steps)
    assert secret not in text
    assert secret not in repr(steps)
    assert MASK in text


def test_the_preview_shows_each_step_with_masked_secret_and_auth():
    preview = shown.preview(HONO_DITTO, hd.plan(HONO_DITTO, FULL))
    assert [p["title"] for p in preview] == [
        "Create the Hono device",
        "Set the device's credentials",
        "Create the twin's policy",
        "Create the twin (thing)",
    ]
    assert json.loads(preview[1]["body"])[0]["secrets"] == [{"pwd-plain": MASK}]
    assert preview[0]["headers"]["Authorization"].startswith("Basic <registry-admin")
    assert preview[3]["headers"]["Authorization"].startswith("Bearer <")
    assert preview[3]["headers"]["If-None-Match"] == "*"
    record = shown.request_record(HONO_DITTO, hd.plan(HONO_DITTO, SPECS["generated password"])[1])
    assert record["body"][0]["secrets"] == [{"pwd-plain": GENERATED}]


def test_curl_reads_every_secret_from_a_shell_variable():
    script = shown.curl_script(HONO_DITTO, hd.plan(HONO_DITTO, FULL))
    assert '-u registry-admin:"$HONO_PASSWORD"' in script
    assert '-H "Authorization: Bearer $DITTO_TOKEN"' in script
    assert '"$DEVICE_PASSWORD"' in script
    for name in ("HONO_PASSWORD", "DITTO_TOKEN", "DEVICE_PASSWORD"):
        assert f"# {name}:" in script
    assert "Acme lab" in script


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("spec", [FULL, SPECS["psk"]], ids=["password", "psk"])
def test_the_curl_script_runs_and_sends_exactly_the_plan(spec):
    """Run under bash with ``curl`` replaced by a recorder: each call's method, URL, headers,
    credentials and body are what the plan says, the secrets taken from the environment."""
    steps = hd.plan(HONO_DITTO, spec)
    recorder = "curl() { for a in \"$@\"; do printf '%s\\0' \"$a\"; done; printf 'END\\0'; }\n"
    env = {
        "PATH": os.environ["PATH"],
        "HONO_PASSWORD": "hono pw 'x'",
        "DITTO_TOKEN": "tok.en",
        "DEVICE_PASSWORD": PASSWORD,
        "DEVICE_PSK": PSK,
    }
    out = subprocess.run(
        ["bash", "-c", recorder + shown.curl_script(HONO_DITTO, steps)],
        env=env,
        capture_output=True,
        check=True,
        timeout=10,
    ).stdout.decode()
    calls = [call.strip("\0").split("\0") for call in out.split("END\0") if call.strip("\0")]
    sent = hd.plan(HONO_DITTO, spec, generated_secret=None)
    assert len(calls) == len(sent)
    for args, step in zip(calls, sent, strict=True):
        assert args[:4] == ["--fail-with-body", "-X", step.method, step.url]
        if step.endpoint == hd.HONO:
            assert args[4:6] == ["-u", "registry-admin:hono pw 'x'"]
        else:
            assert args[4:6] == ["-H", "Authorization: Bearer tok.en"]
        headers = [args[i + 1] for i, a in enumerate(args) if a == "-H"][step.endpoint == hd.DITTO :]
        assert headers == [f"{k}: {v}" for k, v in step.headers.items()]
        assert json.loads(args[args.index("--data-raw") + 1]) == step.body
