"""How far a job is, in numbers and words: counts, percent, rate, time left, who works on it."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from provisioning.bulk import lease, tasks
from provisioning.bulk.models import (
    ACTIVE,
    FINAL_STATES,
    PROBLEM_STATES,
    SHOWN_STATES,
    SKIPPED_STATES,
    BulkRow,
    JobStatus,
    RowState,
)

RATE_WINDOW = 20  # seconds of finished rows the current rate is measured over
WAITING_HINT_AFTER = 10  # seconds a queued job may wait before the page asks whether a worker runs


@dataclass
class Progress:
    counts: dict
    total: int
    to_send: int
    done: int
    remaining: int
    skipped: int
    percent: int
    rate: float | None  # rows finished per second
    eta_seconds: int | None
    executor: str  # running, waiting, stalled, idle

    @property
    def created(self):
        return self.counts[RowState.CREATED]

    @property
    def failed(self):
        return self.counts[RowState.FAILED]

    @property
    def conflict(self):
        return self.counts[RowState.CONFLICT]

    @property
    def exists(self):
        return self.counts[RowState.EXISTS]

    @property
    def unknown(self):
        return self.counts[RowState.UNKNOWN]

    @property
    def problems(self):
        """Rows the failed-rows CSV holds."""
        return sum(self.counts[s] for s in PROBLEM_STATES)

    @property
    def rate_text(self):
        if not self.rate:
            return ""
        return f"{self.rate:.1f} devices/s" if self.rate < 100 else f"{self.rate:.0f} devices/s"

    @property
    def eta_text(self):
        return duration_text(self.eta_seconds) if self.eta_seconds else ""

    def shown(self, action):
        """[(state, label, count)] of the rows done, as a job of ``action`` shows them: its
        usual states always, any other when it has rows."""
        usual = SHOWN_STATES[action]
        order = [*usual, *(state for state in FINAL_STATES if state not in usual)]
        return [
            (state, LABELS.get(state, RowState(state).label), self.counts[state])
            for state in order
            if state in usual or self.counts[state]
        ]


LABELS = {RowState.EXISTS: "Already existed", RowState.UNKNOWN: "Unknown"}


def duration_text(seconds):
    """42 -> "42 s"; 250 -> "4 min 10 s"; 7300 -> "2 h 1 min"."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest and minutes < 10 else f"{minutes} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min"


def progress(job, now=None, *, from_summary=False):
    """Counts, rate and time left. ``from_summary`` uses the stored counts of a job that is
    not running (the job list), instead of counting its rows."""
    now = now or timezone.now()
    if from_summary and job.summary and not job.is_active:
        by_state = {state: job.summary.get(state, 0) for state in RowState.values}
    else:
        by_state = job.row_counts()
    total = sum(by_state.values())
    skipped = sum(by_state[s] for s in SKIPPED_STATES)
    to_send = total - skipped
    remaining = by_state[RowState.PENDING] + by_state[RowState.SENDING]
    done = to_send - remaining
    rate = None
    if job.started_at:
        if job.is_finished and job.finished_at:
            elapsed = (job.finished_at - job.started_at).total_seconds()
            rate = done / elapsed if elapsed > 0 and done else None
        elif job.status == JobStatus.RUNNING:
            window = min(RATE_WINDOW, max((now - job.started_at).total_seconds(), 1))
            recent = BulkRow.objects.filter(job=job, done_at__gte=now - timedelta(seconds=window)).count()
            rate = recent / window if recent else None
    eta = int(remaining / rate) + 1 if rate and remaining and job.is_active else None
    if eta is not None and job.pause_until and job.pause_until > now:
        eta += int((job.pause_until - now).total_seconds())  # the provider asked us to wait first
    return Progress(
        counts=by_state,
        total=total,
        to_send=to_send,
        done=done,
        remaining=remaining,
        skipped=skipped,
        percent=int(done * 100 / to_send) if to_send else 100,
        rate=rate,
        eta_seconds=eta,
        executor=executor_state(job, now),
    )


def executor_state(job, now=None):
    """running (a live executor holds the lease), waiting (a task waits for a worker),
    stalled (nobody works on a job that should be running), or idle (not active)."""
    if job.status not in ACTIVE:
        return "idle"
    now = now or timezone.now()
    if lease.lease_is_live(job, now):
        return "running"
    if tasks.task_waiting(job):
        return "waiting"
    return "stalled"


@dataclass
class Validation:
    """How far the worker has read an upload it validates."""

    rows: int  # rows read so far
    percent: int  # of the file's bytes
    waiting: bool  # no worker has started on it yet


def validation(job):
    size = job.upload_size or 1
    return Validation(
        rows=job.total_rows,
        percent=min(100, int(job.validated_bytes * 100 / size)),
        waiting=tasks.task_waiting(job),
    )
