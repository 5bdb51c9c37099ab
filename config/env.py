"""Strict helpers that read settings from the environment.

Every helper accepts ``NAME_FILE`` as an alternative to ``NAME`` (Docker and
Kubernetes secrets): the file's content, stripped of surrounding white space,
is the value. Setting both is an error, so nobody wonders which one won.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_MISSING = object()


def env_str(name, default=_MISSING):
    direct = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    if direct is not None and file_name:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE points at {file_name!r}, which cannot be read: {exc.strerror}."
            ) from None
    if direct is not None:
        return direct
    if default is _MISSING:
        raise ImproperlyConfigured(f"The environment variable {name} is required.")
    return default


def env_bool(name, default=False):
    value = env_str(name, None)
    if value is None or value == "":
        return default
    if value == "true":
        return True
    if value == "false":
        return False
    raise ImproperlyConfigured(f"{name} must be 'true' or 'false', not {value!r}.")


def env_int(name, default, *, minimum=None, maximum=None):
    value = env_str(name, None)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {number}.")
    return number


def env_list(name, default=()):
    """A comma-separated list; empty items are dropped."""
    value = env_str(name, None)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]
