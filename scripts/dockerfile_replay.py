"""Replay the Dockerfile outside Docker, so that CI notices when its steps break.

Docker cannot run on the CI machines. This reads the Dockerfile and, in a scratch directory
that stands in for the image's file system:

1. build stage: applies ENV, ARG and WORKDIR, copies the build context for COPY (honouring
   .dockerignore) and runs every RUN line with /bin/sh, with the same Python minor version
   as the FROM image, in a fresh virtual environment;
2. later stages: applies ENV and WORKDIR and checks that every `COPY --from=<stage>` source
   exists (their RUN lines set up users and directories as root and are skipped);
3. starts the final stage as the image would: `manage.py check --deploy`, migrate, then the
   CMD (gunicorn) on a free port, and waits until the HEALTHCHECK command succeeds against it;
   then runs the job worker once (`manage.py db_worker --batch`), as the same image does.

Absolute container paths (WORKDIR, VOLUME, COPY targets, ENV values) are mapped into the
scratch directory. RUN lines must not name them; they use $VIRTUAL_ENV and relative paths.
Any failure exits non-zero. Usage: python scripts/dockerfile_replay.py [--keep]
"""

import argparse
import fnmatch
import glob
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from base64 import urlsafe_b64encode
from pathlib import Path

CONTEXT = Path(__file__).resolve().parent.parent
# Host settings a `docker build` would get from the builder (package index, proxies, CAs).
VARIABLE = re.compile(r"\$(?:\{(?P<braced>\w+)(?::-(?P<default>[^}]*))?\}|(?P<bare>\w+))")
PASS_THROUGH = re.compile(
    r"^(PIP_.*|(HTTP|HTTPS|NO)_PROXY|(http|https|no)_proxy|SSL_CERT_.*|REQUESTS_CA_BUNDLE)$"
)


class ReplayError(Exception):
    pass


def log(message):
    print(f"==> {message}", flush=True)


# --- Reading the Dockerfile -------------------------------------------------------------


def logical_lines(text):
    """Instructions with continuation lines joined and comment lines dropped."""
    result, buffer = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (buffer is None and not stripped):
            continue
        part = line.rstrip()
        continued = part.endswith("\\")
        if continued:
            part = part[:-1]
        # Docker drops the backslash and the line break and keeps the next line's indentation.
        buffer = part if buffer is None else buffer + part
        if not continued:
            result.append(buffer.strip())
            buffer = None
    if buffer is not None and buffer.strip():
        result.append(buffer.strip())
    return result


def parse_stages(text):
    stages = []
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append({"base": words[0], "name": name, "steps": []})
        elif not stages:
            if keyword != "ARG":
                raise ReplayError(f"{keyword} before the first FROM")
        else:
            stages[-1]["steps"].append((keyword, args))
    if not stages:
        raise ReplayError("The Dockerfile has no FROM.")
    return stages


def split_flags(args):
    """COPY's --flags and the rest (exec form or shell words)."""
    words = json.loads(args) if args.startswith("[") else shlex.split(args)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return flags, words


def env_pairs(args):
    words = shlex.split(args, posix=True)
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]  # the old `ENV KEY value` form
    return [tuple(word.split("=", 1)) for word in words]


def container_dirs(stages):
    """Absolute paths the Dockerfile names (WORKDIR, VOLUME, COPY, ENV), longest first."""
    found = set()
    for stage in stages:
        for keyword, args in stage["steps"]:
            if keyword in ("WORKDIR", "VOLUME"):
                words = json.loads(args) if args.startswith("[") else args.split()
                found.update(w for w in words if w.startswith("/"))
            elif keyword in ("COPY", "ADD"):
                flags, words = split_flags(args)
                found.update(w for w in words[-1:] if w.startswith("/"))
                if "from" in flags:
                    found.update(w for w in words[:-1] if w.startswith("/"))
            elif keyword == "ENV":
                for _, value in env_pairs(args):
                    if value.startswith("/"):
                        found.add(value.split(":")[0])
    return sorted((d.rstrip("/") for d in found if d != "/"), key=len, reverse=True)


def read_dockerignore(context):
    path = context / ".dockerignore"
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def is_ignored(patterns, relative):
    """Whether .dockerignore ``patterns`` exclude ``relative`` (or a folder above it).

    Close to Docker's rules: later patterns win, '!' re-includes, '**/' matches at any depth.
    """
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        for candidate in prefixes:
            if pattern.startswith("**/"):
                names = candidate.split("/")
                tails = ["/".join(names[i:]) for i in range(len(names))]
                match = any(fnmatch.fnmatchcase(t, pattern[3:]) for t in tails)
            else:
                match = fnmatch.fnmatchcase(candidate, pattern)
            if match:
                result = not negate
                break
    return result


def exec_form(args):
    if not args.startswith("["):
        return ["/bin/sh", "-c", args]
    return json.loads(args)


# --- The scratch file system -------------------------------------------------------------


class Replay:
    def __init__(self, dockerfile, scratch):
        self.stages = parse_stages(dockerfile.read_text(encoding="utf-8"))
        self.scratch = scratch
        self.root = scratch / "root"
        self.root.mkdir()
        self.ignore = read_dockerignore(CONTEXT)
        self.container_dirs = container_dirs(self.stages)
        self.python = self._matching_python()
        shims = scratch / "bin"
        shims.mkdir()
        for name in ("python", "python3", f"python{self.python_version}"):
            (shims / name).symlink_to(self.python)
        (scratch / "home").mkdir()
        self.base_env = {
            "PATH": f"{shims}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(scratch / "home"),
            "LANG": "C.UTF-8",
            **{k: v for k, v in os.environ.items() if PASS_THROUGH.match(k)},
        }

    def _matching_python(self):
        match = re.match(r"python:(\d+\.\d+)", self.stages[0]["base"])
        if not match:
            raise ReplayError(f"The first stage is not a python:X.Y image: {self.stages[0]['base']}")
        self.python_version = match.group(1)
        exe = shutil.which(f"python{self.python_version}")
        if exe is None:
            raise ReplayError(f"python{self.python_version} (as in the image) is not installed here.")
        real = subprocess.run(
            [exe, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, check=True
        ).stdout.strip()
        return Path(real)

    def in_root(self, path):
        return self.root / path.lstrip("/")

    def map_paths(self, text):
        """Rewrite the container directories named in ``text`` to their place in the scratch root."""
        for directory in self.container_dirs:
            pattern = re.compile(rf"(?<![\w.]){re.escape(directory)}(?=/|:|$|[\s\"'])")
            text = pattern.sub(lambda _m, d=directory: str(self.in_root(d)), text)
        return text

    @staticmethod
    def expand(value, env):
        """$NAME, ${NAME} and ${NAME:-default}, as Docker substitutes them."""

        def replace(match):
            current = env.get(match["braced"] or match["bare"], "")
            if not current and match["default"] is not None:
                return match["default"]
            return current

        return VARIABLE.sub(replace, value)

    def ignored(self, relative):
        return is_ignored(self.ignore, relative)

    def copy_from_context(self, sources, destination, workdir):
        dest = self.in_root(destination) if destination.startswith("/") else workdir / destination
        into_dir = destination.endswith("/") or len(sources) > 1
        for source in sources:
            matches = sorted(glob.glob(str(CONTEXT / source))) or [str(CONTEXT / source)]
            for match in matches:
                path = Path(match)
                relative = path.relative_to(CONTEXT).as_posix()
                if not path.exists() or self.ignored(relative):
                    raise ReplayError(f"COPY {source}: not in the build context (or in .dockerignore)")
                if path.is_dir():
                    self._copy_tree(path, dest)
                else:
                    target = dest / path.name if into_dir or dest.is_dir() else dest
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)

    def _copy_tree(self, source, dest):
        for dirpath, dirnames, filenames in os.walk(source):
            here = Path(dirpath)
            rel_dir = here.relative_to(CONTEXT).as_posix()
            dirnames[:] = [d for d in dirnames if not self.ignored(f"{rel_dir}/{d}")]
            target_dir = dest / here.relative_to(source)
            target_dir.mkdir(parents=True, exist_ok=True)
            for name in filenames:
                if not self.ignored(f"{rel_dir}/{name}"):
                    shutil.copy2(here / name, target_dir / name)

    # --- Running the stages --------------------------------------------------------------

    def run(self):
        env, workdir = self.run_stage(self.stages[0], build=True)
        for stage in self.stages[1:]:
            env, workdir = self.run_stage(stage, build=False)
        self.start_final_stage(self.stages[-1], env, workdir)

    def run_stage(self, stage, *, build):
        label = stage["name"] or stage["base"]
        log(f"stage {label} (FROM {stage['base']})")
        env, workdir = dict(self.base_env), self.root
        names = {s["name"] for s in self.stages if s["name"]}
        for keyword, args in stage["steps"]:
            if keyword in ("ENV", "ARG"):
                pairs = env_pairs(args) if keyword == "ENV" else [tuple(args.split("=", 1))]
                before = dict(env)
                for name, *value in pairs:
                    if value:
                        env[name] = self.expand(self.map_paths(value[0]), before)
            elif keyword == "WORKDIR":
                target = self.expand(args, env)
                workdir = self.in_root(target) if target.startswith("/") else workdir / target
                workdir.mkdir(parents=True, exist_ok=True)
            elif keyword in ("COPY", "ADD"):
                flags, words = split_flags(args)
                sources, destination = words[:-1], self.expand(words[-1], env)
                if "from" in flags:
                    if flags["from"] not in names:
                        raise ReplayError(f"COPY --from={flags['from']}: no stage of that name")
                    for source in sources:
                        if not self.in_root(source).exists():
                            raise ReplayError(f"COPY --from={flags['from']} {source}: no such path there")
                        log(f"COPY --from={flags['from']} {source}: present")
                    continue
                log(f"COPY {' '.join(sources)} {destination}")
                self.copy_from_context(sources, destination, workdir)
            elif keyword == "RUN":
                if not build:
                    log(f"RUN skipped (system set-up as root in stage {label}): {args[:60]}...")
                    continue
                self.run_step(args, env, workdir)
        return env, workdir

    def run_step(self, args, env, workdir):
        for directory in self.container_dirs:
            if re.search(rf"(?<![\w.$]){re.escape(directory)}(?=/|$|[\s\"'])", args):
                raise ReplayError(f"RUN names {directory}; use $VIRTUAL_ENV or a path relative to WORKDIR.")
        log(f"RUN {args}")
        result = subprocess.run(exec_form(args), cwd=workdir, env=env, check=False)
        if result.returncode:
            raise ReplayError(f"RUN failed with exit status {result.returncode}")

    def start_final_stage(self, stage, env, workdir):
        steps = dict(stage["steps"])
        if "CMD" not in steps or "HEALTHCHECK" not in steps:
            raise ReplayError("The final stage needs a CMD and a HEALTHCHECK.")
        env = {
            **env,
            # Throw-away production settings for this run only.
            "SECRET_KEY": urlsafe_b64encode(os.urandom(48)).decode(),
            "ENCRYPTION_KEYS": "replay:" + urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
            "ALLOWED_HOSTS": "provisioner.example.com",
        }
        env.pop("DEBUG", None)

        def manage(*words):
            log(f"manage.py {' '.join(words)}")
            result = subprocess.run(["python", "manage.py", *words], cwd=workdir, env=env, check=False)
            if result.returncode:
                raise ReplayError(f"manage.py {words[0]} failed with exit status {result.returncode}")

        manage("check", "--deploy", "--fail-level", "WARNING")
        manage("migrate", "--noinput", "-v", "0")
        manage("createcachetable")

        port = free_port()
        command = [
            self.map_paths(word).replace("0.0.0.0:8000", f"127.0.0.1:{port}").replace(":8000", f":{port}")
            for word in exec_form(steps["CMD"])
        ]
        health = steps["HEALTHCHECK"]
        health = health[health.index("CMD") + 3 :].strip()
        probe = [word.replace(":8000", f":{port}") for word in exec_form(health)]
        log(f"CMD {shlex.join(command)}")
        server = subprocess.Popen(command, cwd=workdir, env=env, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    raise ReplayError(f"The CMD exited (status {server.returncode}) before it was healthy.")
                probe_result = subprocess.run(probe, cwd=workdir, env=env, capture_output=True, check=False)
                if probe_result.returncode == 0:
                    log("HEALTHCHECK passed")
                    break
                if time.monotonic() > deadline:
                    sys.stderr.write(probe_result.stderr.decode(errors="replace")[-2000:])
                    raise ReplayError("The HEALTHCHECK did not pass within 60 seconds.")
                time.sleep(0.5)
        finally:
            stop(server)
        manage("db_worker", "--batch", "--no-startup-delay")


def stop(process):
    """End the server this script started (its own process group), politely first."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, None)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockerfile", default=str(CONTEXT / "Dockerfile"))
    parser.add_argument("--keep", action="store_true", help="Keep the scratch directory and print it.")
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="dockerfile-replay-"))
    try:
        Replay(Path(options.dockerfile), scratch).run()
    except ReplayError as exc:
        print(f"check-docker: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if options.keep:
            print(f"scratch directory kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print("check-docker: the Dockerfile's steps work.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
