#!/usr/bin/env python
import os
import secrets
import sys

from provisioning.crypto import new_key_entry

HELP_FLAGS = {"-h", "--help"}


def asks_for_help(argv):
    """True for `manage.py`, `manage.py help [command]` and `manage.py <command> --help`."""
    return len(argv) < 2 or argv[1] == "help" or bool(HELP_FLAGS & set(argv[1:]))


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if asks_for_help(sys.argv):
        # Help needs the settings (they name the apps, whose commands it lists) but no key: when
        # none is set, this process, which only prints, gets throw-away ones.
        if not {"SECRET_KEY", "SECRET_KEY_FILE"} & os.environ.keys():
            os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
        if not {"ENCRYPTION_KEYS", "ENCRYPTION_KEYS_FILE"} & os.environ.keys():
            os.environ["ENCRYPTION_KEYS"] = new_key_entry("help")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
