"""The Dockerfile's shape, read with the same parser that `make check-docker` replays it with.

CI cannot run Docker; `make check-docker` (scripts/check-docker-steps.sh) executes the
build steps and the CMD/HEALTHCHECK. These tests pin what must hold regardless.
"""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_replay():
    spec = importlib.util.spec_from_file_location(
        "dockerfile_replay", ROOT / "scripts" / "dockerfile_replay.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


replay = load_replay()


@pytest.fixture(scope="module")
def stages():
    return replay.parse_stages((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def steps(stage, keyword):
    return [args for kw, args in stage["steps"] if kw == keyword]


def test_it_has_two_stages_on_python_311_slim_bookworm(stages):
    assert [s["base"] for s in stages] == ["python:3.11-slim-bookworm", "python:3.11-slim-bookworm"]
    assert stages[0]["name"] == "build"


def test_the_build_stage_installs_pinned_dependencies_and_collects_static_files(stages):
    runs = " ".join(steps(stages[0], "RUN"))
    assert "-c constraints.txt" in runs
    assert "manage.py collectstatic --noinput" in runs
    copied = " ".join(steps(stages[0], "COPY"))
    assert "constraints.txt" in copied and "pyproject.toml" in copied


def test_the_final_stage_runs_as_a_non_root_user(stages):
    users = steps(stages[-1], "USER")
    assert users, "the final stage sets a USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_the_final_stage_copies_only_from_the_build_stage(stages):
    copies = steps(stages[-1], "COPY")
    assert copies and all(c.startswith("--from=build ") for c in copies)


def test_the_web_command_is_gunicorn_without_a_control_socket(stages):
    (cmd,) = steps(stages[-1], "CMD")
    command = json.loads(cmd)
    assert command[:2] == ["gunicorn", "config.wsgi"]
    assert "--no-control-socket" in command


def test_the_healthcheck_calls_healthz(stages):
    (health,) = steps(stages[-1], "HEALTHCHECK")
    assert "/healthz" in health
    probe = json.loads(health[health.index("CMD") + 3 :].strip())
    assert probe[0] == "python"


def test_run_lines_name_no_container_path(stages):
    # The replay maps container paths into a scratch directory; RUN lines must not hard-code them.
    dirs = replay.container_dirs(stages)
    assert "/opt/venv" in dirs and "/app" in dirs
    for args in steps(stages[0], "RUN"):
        for directory in dirs:
            assert f" {directory}" not in args and f"={directory}" not in args


def test_continuation_lines_join_as_docker_joins_them():
    text = "FROM x AS a\n# comment\nRUN one \\\n # inner comment\n && two\nENV A=1 \\\n    B=2\n"
    (stage,) = replay.parse_stages(text)
    assert stage["steps"] == [("RUN", "one  && two"), ("ENV", "A=1     B=2")]


def test_the_dockerignore_keeps_local_state_out_of_the_image():
    patterns = replay.read_dockerignore(ROOT)
    for path in (
        ".git/config",
        ".venv/bin/python",
        "var/db.sqlite3",
        "provisioning/__pycache__/x.pyc",
        ".env",
    ):
        assert replay.is_ignored(patterns, path), path
    for path in ("provisioning/models.py", "templates/base.html", "static/css/app.css", "constraints.txt"):
        assert not replay.is_ignored(patterns, path), path


def test_a_negated_pattern_brings_a_file_back():
    assert not replay.is_ignored(["docs", "!docs/keep.md"], "docs/keep.md")
    assert replay.is_ignored(["docs", "!docs/keep.md"], "docs/other.md")


def test_ci_runs_the_replay():
    assert "bash scripts/check-docker-steps.sh" in (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make check-docker" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "dockerfile_replay.py" in (ROOT / "scripts" / "check-docker-steps.sh").read_text(encoding="utf-8")
