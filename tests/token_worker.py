"""A separate process for the shared-token test: waits for the go signal, then asks for a token.

Usage: python -m tests.token_worker CONFIG_PK BARRIER_DIR NAME
Prints a short hash of the token it got (never the token itself).
"""

import hashlib
import os
import sys
import time
from pathlib import Path

import tests.testenv  # noqa: F401 - test environment defaults, before Django reads settings


def main():
    config_pk, barrier, name = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from provisioning import tokens
    from provisioning.models import Connection

    config = Connection.objects.get(pk=config_pk)
    (barrier / f"ready-{name}").touch()
    deadline = time.monotonic() + 60
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("no go signal")
        time.sleep(0.01)
    token = tokens.get_token(config)
    print(hashlib.sha256(token.access_token.encode()).hexdigest()[:12])


if __name__ == "__main__":
    main()
