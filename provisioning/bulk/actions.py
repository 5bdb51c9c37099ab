"""What a bulk job does with each of its rows: provision it (a CSV row), de-provision its
device, or check its device at the provider.

The executor (provisioning.bulk.executor) is one for every action: it claims the next rows,
writes the audit intents of those it hands out, has its pool's threads make the calls, and
writes the outcomes of those that came back, several rows to a transaction. An action turns a
claimed row into a Work: the services.Attempt whose intent and outcome rows stand for it (none
for a check: a read changes nothing, so it has no intent, and its one row is written after
it), and the call to make in a pool thread, which answers with a Verdict and the row's fields
(provisioning.bulk.verdicts). A row that cannot be sent is settled at once instead (a dict of
its fields).

- Provision: a CSV row, validated again with the device builder's form, sent as a single Send
  is (Bosch: one POST; Hono + Ditto or Ditto: the plan, resuming an earlier attempt's steps).
- Deprovision: a device, deleted as a single de-provision does it, with the job's options
  (keep the policy; keep the credentials, Bosch only). A 404 is "already gone", not an error.
  A Hono + Ditto or Ditto row that stopped part-way continues from its first step not confirmed.
- Check: a device, read back and compared with the attempt that made it (provisioning.drift),
  recorded as a ``device.check`` row like the single check, under the row's correlation id.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from provisioning import crypto, drift, hono_ditto_service, services
from provisioning.bulk.csvfile import Layout
from provisioning.bulk.intake import form_problems, row_form
from provisioning.bulk.models import Action, BulkRow, RowState, SecretOrigin, open_secret, seal_secret
from provisioning.bulk.verdicts import of_check, of_outcome, of_result, settled
from provisioning.device_form import generate_password
from provisioning.models import AuditEvent
from provisioning.providers import hono_ditto as hd
from provisioning.providers.hono_ditto_connection import auths_for, settings_for


class Unusable(Exception):
    """The job's connection cannot do what the job asks; nothing is sent. The message says why."""


@dataclass(eq=False)
class Work:
    """One claimed row, ready to be sent."""

    row: BulkRow
    run: Callable = None  # in a pool thread: () -> (Verdict, the row's fields)
    attempt: services.Attempt | None = None  # its intent is written before, its outcome after
    records: list = field(default_factory=list)  # other audit rows, written with the outcomes


class RowAction:
    """What every action shares: who sends, through which connection (a Sender for Hono + Ditto
    and Ditto, whose stored passwords are opened here: crypto.SecretBoxError when one cannot be)."""

    def __init__(self, job, actor):
        self.job = job
        self.actor = actor
        self.settings = self.sender = None
        if not job.client.is_bosch:
            self.settings = settings_for(job.client)
            self.sender = hono_ditto_service.Sender(
                actor, job.team, self.settings, auths_for(job.client), job.client
            )

    def origin(self, row):
        """Where a row's attempt comes from, kept in its intent row (history links the job)."""
        return {"bulkJob": str(self.job.public_id), "line": row.line}


class Provision(RowAction):
    def __init__(self, job, actor):
        super().__init__(job, actor)
        self.layout = Layout.for_job(job)

    def prepare(self, row):
        """The row's Work, or the fields of a row that cannot be sent. A blank password is
        generated here, sealed in the row, which is saved ``sending`` with it."""
        job = self.job
        if job.credentials_type == "hashed-password" and row.secret_origin == SecretOrigin.NONE:
            row.secret_sealed = seal_secret(job.public_id, row.line, generate_password())
            row.secret_origin = SecretOrigin.GENERATED
        secret = None
        if row.secret_sealed:
            try:
                secret = open_secret(job.public_id, row.line, row.secret_sealed)
            except crypto.SecretBoxError as exc:
                return settled(row, RowState.FAILED, message=f"The sealed password cannot be opened: {exc}")
        if secret is None and job.credentials_type != "none":
            return settled(
                row,
                RowState.FAILED,
                message="Not sent: the row's password is no longer kept (secrets are erased 24 hours after "
                "the job was confirmed). Upload the row again.",
            )
        typed = secret if row.secret_origin == SecretOrigin.TYPED else ""
        form, problems, labels = row_form(job, self.layout, row.cells, password=typed)
        if not form.is_valid():
            problems.append(form_problems(form, labels))
        if problems:
            text = " ".join(problems)
            return settled(row, RowState.FAILED, message=f"Not sent: the row is no longer valid. {text}")
        generated = secret if row.secret_origin == SecretOrigin.GENERATED else None
        if not job.client.is_bosch:
            return self.planned(row, form, generated)
        attempt = services.provision_attempt(
            actor=self.actor,
            team=job.team,
            config=job.client,
            body=form.to_body(generated_secret=generated),
            auth_scope=form.effective_auth_scope(),
            correlation_id=row.correlation_id,
            origin=self.origin(row),
            template=job.template_version,
        )
        return Work(row, lambda: of_outcome(row, attempt.run()), attempt)

    def planned(self, row, form, generated):
        """A Hono + Ditto or Ditto row: its plan as one attempt, resuming the attempt
        ``row.resumes`` when an earlier one stopped part-way."""
        spec = form.to_spec()
        try:
            plan = hd.plan(self.settings, spec, generated_secret=generated)
        except hd.NotHonoured as exc:
            return settled(row, RowState.FAILED, message=f"Not sent: {exc}")
        planned = hono_ditto_service.PlannedAttempt(
            self.sender,
            plan,
            device_id=spec.id,
            correlation_id=row.correlation_id,
            origin=self.origin(row),
            resolves=row.resumes,
            template=self.job.template_version,
        )
        return Work(row, lambda: of_result(row, planned.run()), planned.attempt)


class Deprovision(RowAction):
    def prepare(self, row):
        job = self.job
        if job.client.is_bosch:
            attempt = services.deprovision_attempt(
                actor=self.actor,
                team=job.team,
                config=job.client,
                device_id=row.device_id,
                keep_credentials=job.keep_credentials,
                keep_policy=job.keep_policy,
                correlation_id=row.correlation_id,
                origin=self.origin(row),
            )
            return Work(row, lambda: of_outcome(row, attempt.run(), deprovision=True), attempt)
        # Hono deletes a device's credentials with it: keeping them is never offered (nor stored).
        plan = hd.deprovision_plan(self.settings, row.device_id, keep_policy=job.keep_policy)
        planned = hono_ditto_service.PlannedAttempt(
            self.sender,
            plan,
            device_id=row.device_id,
            correlation_id=row.correlation_id,
            origin=self.origin(row),
            resolves=row.resumes,
            action="device.deprovision",
        )
        return Work(
            row, lambda: of_result(row, planned.run(), resumed=bool(planned.confirmed)), planned.attempt
        )


class Check(RowAction):
    def __init__(self, job, actor):
        super().__init__(job, actor)
        if job.client.is_bosch and not job.client.things_url:
            raise Unusable(drift.NO_THINGS_URL)

    def prepare(self, row):
        job = self.job
        intent = AuditEvent.objects.filter(
            team_id=job.team_id,
            correlation_id=row.checks,
            phase=AuditEvent.Phase.INTENT,
            action="device.provision",
        ).first()
        if intent is None:
            return settled(
                row,
                RowState.FAILED,
                message="Not checked: the history has no provisioning attempt of it to compare with.",
            )
        work = Work(row)

        def run():
            check, record = drift.examine(
                actor=self.actor,
                team=job.team,
                config=job.client,
                intent=intent,
                correlation_id=row.correlation_id,
            )
            if record is not None:
                work.records.append(record)
            return of_check(row, check)

        work.run = run
        return work


ACTIONS = {Action.PROVISION: Provision, Action.DEPROVISION: Deprovision, Action.CHECK: Check}


def for_job(job, actor):
    """The action of ``job``. Raises Unusable, or crypto.SecretBoxError (a stored password of the
    connection cannot be opened), when nothing can be sent."""
    return ACTIONS[job.action](job, actor)
