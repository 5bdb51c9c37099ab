"""Hypothesis against the upload: odd encodings, quotes, empty lines, huge cells. Never a 500.

Every upload is either refused at once with a message (400, and no job), or stored
(302 to its page); the worker's validation then makes it a draft whose preview
renders, or rejects it with a message and keeps none of its rows; nothing else.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from provisioning.bulk import tasks
from provisioning.bulk.models import BulkJob, BulkRow, BulkUpload, JobStatus

pytestmark = pytest.mark.django_db

HEADERS = [
    "name",
    "password",
    "auth_id",
    "Auth ID",
    "enabled",
    "via",
    "definition",
    "attr.site",
    "attr.x y",
    "junk",
    "",
]
ALPHABET = st.characters(codec="utf-8", exclude_categories=["Cs"])
CELL = st.one_of(
    st.text(alphabet=ALPHABET, max_size=30),
    st.sampled_from(
        ['"', '""', ",", ";", "\n", "\r\n", "\r", "\x00", "true", "no", "é", "=1+1", "\ufeff", " "]
    ),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", '"', "\n"]), st.integers(250, 30_000)),
)
ENCODINGS = st.sampled_from(
    ["utf-8", "utf-8", "utf-8-sig", "utf-8-sig", "utf-16", "latin-1", "cp1252", "utf-32"]
)


def render(header, rows, delimiter, quote_all, newline):
    def cell(value):
        if quote_all or any(c in value for c in f'"{delimiter}\r\n'):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [delimiter.join(cell(c) for c in row) for row in [header, *rows]]
    return newline.join(lines)


header = st.builds(
    lambda with_name, others: (["name"] if with_name else []) + others,
    st.sampled_from([True, True, True, False]),
    st.lists(st.sampled_from(HEADERS), min_size=0, max_size=6),
)
csv_text = st.builds(
    render,
    header,
    st.lists(st.lists(CELL, max_size=7), max_size=8),
    st.sampled_from([",", ";", "\t"]),
    st.booleans(),
    st.sampled_from(["\n", "\r\n", "\r", "\n\n"]),
)


def encode(text, encoding):
    return text.encode(encoding, errors="replace")


uploads = st.one_of(
    st.binary(max_size=3000),
    st.builds(encode, csv_text, ENCODINGS),
    st.builds(encode, csv_text, st.just("utf-8")),
    # Raw text with unbalanced quotes, lone carriage returns and the like.
    st.builds(lambda t: ("name,password\n" + t).encode(), st.text(alphabet=ALPHABET, max_size=400)),
)


@pytest.fixture
def poster(as_user, cast, offline_config, offline_ns):
    client = as_user(cast["operator"])

    def post(data):
        return client.post(
            "/t/team-a/bulk/new/",
            {
                "config": offline_config.pk,
                "namespace": offline_ns.pk,
                "credentials_type": "hashed-password",
                "auth_scope": "__default__",
                "concurrency": "4",
                "file": SimpleUploadedFile("fuzz.csv", data, content_type="text/csv"),
            },
        )

    post.client = client
    return post


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=uploads)
def test_no_upload_gives_a_500(poster, data):
    before = set(BulkJob.objects.values_list("pk", flat=True))

    response = poster(data)

    assert response.status_code in (302, 400), response.status_code
    event(f"HTTP {response.status_code}")
    created = set(BulkJob.objects.values_list("pk", flat=True)) - before
    if response.status_code == 302:
        (pk,) = created
        assert poster.client.get(response["Location"]).status_code == 200  # "checking the file"
        outcome = tasks.validate_upload.call(pk)  # what the worker does next
        event(f"validation: {outcome}")
        job = BulkJob.objects.get(pk=pk)
        assert job.status in (JobStatus.DRAFT, JobStatus.REJECTED) and not BulkUpload.objects.filter(job=job)
        preview = poster.client.get(response["Location"])
        assert preview.status_code == 200
        if job.status == JobStatus.REJECTED:
            assert job.upload_error and escape(job.upload_error) in preview.content.decode()
            assert not BulkRow.objects.filter(job=job).exists()
            return
        for state in ("invalid", "pending", "duplicate"):
            assert poster.client.get(response["Location"], {"state": state}).status_code == 200
        assert poster.client.get(f"/t/team-a/bulk/{pk}/failed-rows.csv").status_code == 200
    else:
        assert not created
        html = response.content.decode()
        assert "The file was not accepted" in html or 'id="id_file_error"' in html  # e.g. an empty file
