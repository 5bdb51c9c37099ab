"""Hypothesis against the upload and its mapping step: odd encodings, quotes, empty lines, huge
cells, any choice of columns. Never a 500.

Every upload is either refused at once with a message (400, and no job), or stored
(302 to its page, or to its mapping step when the header does not name the expected
columns). A mapping is either refused with a message (400; the job and its file are kept)
or accepted (302). The worker's validation then makes it a draft whose preview renders,
or rejects it with a message and keeps none of its rows; nothing else.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from provisioning.bulk import tasks
from provisioning.bulk.forms import TARGET_CHOICES
from provisioning.bulk.models import BulkJob, BulkRow, BulkUpload, ColumnMapping, JobStatus

pytestmark = pytest.mark.django_db

HEADERS = [
    "name",
    "Device ID",
    "Serial",
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


CHOICE = st.one_of(
    st.sampled_from(["ignore", "ignore", "attribute", "attribute"]),
    st.sampled_from([value for value, _ in TARGET_CHOICES]),
    st.text(max_size=12),
)
ODD_KEY = st.one_of(
    st.sampled_from(["site", "Site", "", " ", "a/b", "*", "{{x}}", "x\x00", "é", "k" * 300]),
    st.text(alphabet=ALPHABET, max_size=20),
)


@st.composite
def mapping_for(draw, width):
    """A mapping step's POST for ``width`` columns: mostly a name column, attributes with keys of
    their own and ignored columns; sometimes any choice or key, or a field left out."""
    form = {}
    for index in range(width):
        form[f"column_{index}"] = draw(CHOICE)
        form[f"key_{index}"] = draw(st.one_of(st.just(f"key{index}"), st.just(f"key{index}"), ODD_KEY))
    if width and draw(st.integers(0, 9)) < 8:
        form[f"column_{draw(st.integers(0, width - 1))}"] = "name"
    for field in draw(st.lists(st.sampled_from(sorted(form)), max_size=2, unique=True)) if form else []:
        del form[field]
    return form


def match_columns(client, location, draw):
    """The mapping step of the job at ``location``; returns the job page's URL, or None when the
    mapping drawn was refused (then the job and its file are still there, waiting)."""
    pk = int(location.rstrip("/").split("/")[-2])
    job = BulkJob.objects.get(pk=pk)
    assert job.status == JobStatus.MAPPING and BulkUpload.objects.filter(job=job).exists()
    assert client.get(location).status_code == 200
    answer = client.post(location, draw(mapping_for(len(job.column_map))))
    assert answer.status_code in (302, 400), answer.status_code
    event(f"mapping: HTTP {answer.status_code}")
    job.refresh_from_db()
    if answer.status_code == 400:
        assert "some choices need a change" in answer.content.decode()
        assert job.status == JobStatus.MAPPING and BulkUpload.objects.filter(job=job).exists()
        return None
    assert job.status == JobStatus.VALIDATING
    assert ColumnMapping.objects.filter(team=job.team, targets=[t for _, t in job.column_map]).exists()
    return answer["Location"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=uploads, choices=st.data())
def test_no_upload_gives_a_500(poster, data, choices):
    before = set(BulkJob.objects.values_list("pk", flat=True))

    response = poster(data)

    assert response.status_code in (302, 400), response.status_code
    event(f"HTTP {response.status_code}")
    created = set(BulkJob.objects.values_list("pk", flat=True)) - before
    if response.status_code == 302:
        (pk,) = created
        location = response["Location"]
        if location.endswith("/columns/"):
            location = match_columns(poster.client, location, choices.draw)
            if location is None:
                return
        assert poster.client.get(location).status_code == 200  # "checking the file"
        outcome = tasks.validate_upload.call(pk)  # what the worker does next
        event(f"validation: {outcome}")
        job = BulkJob.objects.get(pk=pk)
        assert job.status in (JobStatus.DRAFT, JobStatus.REJECTED) and not BulkUpload.objects.filter(job=job)
        preview = poster.client.get(location)
        assert preview.status_code == 200
        if job.status == JobStatus.REJECTED:
            assert job.upload_error and escape(job.upload_error) in preview.content.decode()
            assert not BulkRow.objects.filter(job=job).exists()
            return
        for state in ("invalid", "pending", "duplicate"):
            assert poster.client.get(location, {"state": state}).status_code == 200
        assert poster.client.get(f"/t/team-a/bulk/{pk}/failed-rows.csv").status_code == 200
    else:
        assert not created
        html = response.content.decode()
        assert "The file was not accepted" in html or 'id="id_file_error"' in html  # e.g. an empty file


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    form=st.dictionaries(
        st.one_of(st.sampled_from(["column_0", "column_1", "column_2", "key_2"]), st.text(max_size=10)),
        st.text(alphabet=ALPHABET, max_size=40),
        max_size=8,
    )
)
def test_no_mapping_post_gives_a_500(poster, form):
    """Anything posted to the mapping step of a vendor's file: refused with a message, or taken."""
    response = poster(b"Serial;Secret;Model\nSN-1;Pa55word-1;X100\n")
    location = response["Location"]
    assert location.endswith("/columns/")

    answer = poster.client.post(location, form)

    assert answer.status_code in (302, 400), answer.status_code
    event(f"HTTP {answer.status_code}")
    job = BulkJob.objects.latest("pk")
    if answer.status_code == 302:
        assert job.status == JobStatus.VALIDATING
    else:
        assert job.status == JobStatus.MAPPING and "some choices need a change" in answer.content.decode()
        assert "Pa55word-1" not in answer.content.decode()
