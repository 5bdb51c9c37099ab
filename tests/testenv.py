"""Loaded with `-p tests.testenv` before Django's settings are read: the test environment.

Values are test-only placeholders. Anything already set in the environment wins, so
CI can point DATABASE_URL at PostgreSQL or REDIS_URL at Redis.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("ENCRYPTION_KEYS", "test1:" + "A" * 43)
os.environ.setdefault("SANDBOX_ENABLED", "true")
os.environ.setdefault("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")
# Password reset e-mails are sent (pytest-django swaps in Django's locmem outbox for the backend).
os.environ.setdefault("EMAIL_URL", "console://")
if "DATABASE_URL" not in os.environ:
    # A database file of this run's own, so parallel runs do not share (and lock) one.
    # Processes started by tests inherit it through the environment.
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='provisioner-tests-')}/db.sqlite3"
