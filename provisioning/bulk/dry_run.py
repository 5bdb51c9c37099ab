"""The dry run of a bulk job: the request(s) its first row to send would make."""

from provisioning import crypto
from provisioning.bulk.csvfile import Layout
from provisioning.bulk.intake import row_form
from provisioning.bulk.models import BulkRow, RowState, SecretOrigin, open_secret
from provisioning.providers import bosch, hono_ditto, hono_ditto_preview
from provisioning.providers.hono_ditto_connection import settings_for


def first_preview(job):
    """The request the first row to send would make (the device builder's preview), or None.
    Through a Hono + Ditto or Ditto connection: ``{"steps": [...], "line": n}``, every request
    of the row's plan in order."""
    row = (
        BulkRow.objects.filter(job=job, state__in=[RowState.PENDING, RowState.CREATED, RowState.SENDING])
        .order_by("line")
        .first()
    )
    if row is None or job.client is None or job.namespace is None:
        return None
    password = ""
    if row.secret_origin == SecretOrigin.TYPED and row.secret_sealed:
        try:
            password = open_secret(job.public_id, row.line, row.secret_sealed)
        except crypto.SecretBoxError:
            return None
    form, problems, _ = row_form(job, Layout.for_job(job), row.cells, password=password)
    if problems or not form.is_valid():
        return None
    # The typed password is masked; a blank one shows as generated.
    if job.client.is_bosch:
        preview = bosch.request_preview(job.client, form.to_body(), auth_scope=form.effective_auth_scope())
    else:
        settings_ = settings_for(job.client)
        plan = hono_ditto.plan(settings_, form.to_spec())
        preview = {"steps": hono_ditto_preview.preview(settings_, plan)}
    preview["line"] = row.line
    return preview
