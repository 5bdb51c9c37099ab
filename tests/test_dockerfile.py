"""The Dockerfile's shape: what must hold whatever its build steps do.

CI cannot run Docker; `make check-docker` (scripts/check-docker-steps.sh) runs the build
stage's steps through bash and has gunicorn check the CMD. These tests pin the rest.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def read_stages(text):
    """[{"base", "name", "steps": [(keyword, arguments)]}], continuation lines joined as Docker does."""
    text = re.sub(r"^\s*#.*\n", "", text, flags=re.MULTILINE)
    stages = []
    for line in text.replace("\\\n", "").splitlines():
        keyword, _, args = line.strip().partition(" ")
        if keyword == "FROM":
            base, _, name = args.partition(" AS ")
            stages.append({"base": base, "name": name, "steps": []})
        elif keyword:
            stages[-1]["steps"].append((keyword, args.strip()))
    return stages


@pytest.fixture(scope="module")
def stages():
    return read_stages((ROOT / "Dockerfile").read_text(encoding="utf-8"))


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
    # The check runs them in a scratch directory; a hard-coded /app or /opt/venv would escape it.
    for args in steps(stages[0], "RUN"):
        for directory in ("/app", "/opt/venv"):
            assert f" {directory}" not in args and f"={directory}" not in args


def test_continuation_lines_join_as_docker_joins_them():
    text = "FROM x AS a\n# comment\nRUN one \\\n # inner comment\n && two\nENV A=1 \\\n    B=2\n"
    (stage,) = read_stages(text)
    assert stage["steps"] == [("RUN", "one  && two"), ("ENV", "A=1     B=2")]


def test_the_dockerignore_keeps_local_state_out_of_the_image(stages):
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for pattern in (".git", ".venv", "var", "**/__pycache__", ".env", ".env.*", "*.sqlite3", "tests"):
        assert pattern in patterns, pattern
    copied = {path for args in steps(stages[0], "COPY") for path in args.split()[:-1]}
    assert copied and not copied & set(patterns)


def test_ci_runs_the_check():
    assert "bash scripts/check-docker-steps.sh" in (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make check-docker" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
