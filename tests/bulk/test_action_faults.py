"""A bulk de-provision through Bosch against the scripted provider (pytest-httpserver, real
HTTP), each device's DELETE answered its own way mid-job: 200, 404, 409, a 429 that outlasts one
call's waits, a 500 and a timeout. Each row ends as it should, the provider gets exactly the
DELETEs it should (a second one only where the first was refused before acting, or where the
operator sent an unknown row again), and the inventory follows the audit rows.
"""

import json
import time
from collections import Counter

import pytest
from werkzeug import Response

from provisioning.bulk import executor, jobs, selection
from provisioning.bulk.models import RowState
from provisioning.models import Device, DeviceState
from tests.provider import SID, TokenIssuer, make_config

from .conftest import NS, created

pytestmark = pytest.mark.django_db(transaction=True)

READ_TIMEOUT = 0.8  # seconds


def answer(status, body=None, **headers):
    def respond(request):
        return Response(
            json.dumps(body or {}), status=status, content_type="application/json", headers=headers
        )

    return respond


def slow(seconds, then):
    def respond(request):
        time.sleep(seconds)
        return then(request)

    return respond


class Script:
    """Answers a device's DELETEs with ``answers`` in turn; the last one keeps answering."""

    def __init__(self, *answers):
        self.answers, self.calls = answers, 0

    def __call__(self, request):
        respond = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return respond(request)


DELETED = answer(
    200,
    {
        "device": "Device deleted successfully",
        "credentials": "Credentials deleted successfully",
        "thing": "Thing deleted successfully",
        "policy": "Policy deleted successfully",
    },
)
NOT_FOUND = answer(404, {"description": "Device is not provisioned.", "errorDetails": {"status": 404}})
CONFLICT = answer(409, {"description": "The device is being changed by another request.", "errorDetails": {}})
BUSY = answer(429, {"description": "Too many requests."}, **{"Retry-After": "0"})
FAILED = answer(500, {"description": "Internal error."})

SCRIPTS = {
    "gone-before": (NOT_FOUND,),
    "in-use": (CONFLICT,),
    "plain": (DELETED,),
    "throttled": (BUSY, BUSY, BUSY, BUSY, DELETED),  # one call waits out three, then the job waits
    "server-error": (FAILED, DELETED),  # unknown; sent again by the operator: deleted
    "too-slow": (slow(READ_TIMEOUT + 0.7, DELETED), NOT_FOUND),  # unknown; sent again: gone
}
ENDS = {
    "gone-before": (RowState.GONE, 1),
    "in-use": (RowState.FAILED, 1),
    "plain": (RowState.DELETED, 1),
    "throttled": (RowState.DELETED, 5),
    "server-error": (RowState.DELETED, 2),
    "too-slow": (RowState.GONE, 2),
}


def test_every_answer_mid_job_ends_its_row_as_it_should(team_a, operator_a, httpserver, settings):
    settings.OUTBOUND_READ_TIMEOUT = READ_TIMEOUT
    httpserver.expect_request("/token", method="POST").respond_with_handler(TokenIssuer())
    config = make_config(team_a, httpserver)
    for name, script in SCRIPTS.items():
        created(team_a, config, name, operator_a)
        httpserver.expect_request(f"/api/1/{SID}/devices/{NS}:{name}", method="DELETE").respond_with_handler(
            Script(*script)
        )
    form = selection.ActionForm({"action": "deprovision", "scope": "all", "concurrency": "1"})
    assert form.is_valid()
    chosen = selection.choose(team_a, form.cleaned_data)
    job, _ = jobs.start_action(
        team_a, operator_a, {**form.cleaned_data, "fingerprint": chosen.fingerprint}, run_in_worker=False
    )

    assert executor.run(job.pk) == "done"
    rows = {row.device_id.split(":", 1)[1]: row for row in job.rows.all()}
    assert {name: row.state for name, row in rows.items()} == {
        "gone-before": RowState.GONE,
        "in-use": RowState.FAILED,
        "plain": RowState.DELETED,
        "throttled": RowState.DELETED,
        "server-error": RowState.UNKNOWN,
        "too-slow": RowState.UNKNOWN,
    }
    assert "The device is being changed by another request." in rows["in-use"].message
    job.refresh_from_db()
    assert job.throttled == 1
    assert Device.objects.get(device_id=f"{NS}:server-error").state == DeviceState.UNKNOWN

    assert jobs.retry_unknown(job, operator_a) == (2, 0)
    assert executor.run(job.pk) == "done"

    ends = {row.device_id.split(":", 1)[1]: row.state for row in job.rows.all()}
    sent = Counter(req.path.rsplit(":", 1)[1] for req, _ in httpserver.log if req.method == "DELETE")
    assert {name: (ends[name], sent[name]) for name in SCRIPTS} == ENDS
    states = dict(Device.objects.values_list("device_id", "state"))
    assert states == {
        f"{NS}:{name}": DeviceState.CREATED if name == "in-use" else DeviceState.DEPROVISIONED
        for name in SCRIPTS
    }
