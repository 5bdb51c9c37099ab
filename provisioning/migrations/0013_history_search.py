"""An index for history's search: any part of a device id, in any case.

A B-tree serves "starts with" only. Finding a substring among millions of ids needs a
trigram index, and each database has its own:

- PostgreSQL: pg_trgm's GIN index on LOWER(target), the expression history_search.containing
  filters on (``LIKE '%…%'`` on it can use the index). pg_trgm is a trusted extension
  (PostgreSQL 13+), so the database's owner may create it; on an older server a
  superuser must run ``CREATE EXTENSION pg_trgm`` once.
- SQLite: an FTS5 table with the trigram tokenizer over the audit log's target column
  (an "external content" table: it stores the index, not the text), kept in step by
  triggers. The ORM cannot express a virtual table or a trigger, so this is the one
  place they are written as SQL; history_search holds the queries that read it.

A later migration that makes Django rebuild the audit table on SQLite (an AlterField on
AuditEvent, say) drops these triggers with the old table: it must create them again
(test_views_history checks that a new row is found after all migrations).
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations
from django.db.models.functions import Lower

TRIGRAM_INDEX = GinIndex(OpClass(Lower("target"), name="gin_trgm_ops"), name="audit_target_trgm")

FTS_TABLE = "provisioning_auditsearch"
AUDIT_TABLE = "provisioning_auditevent"
SQLITE_CREATE = [
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
    f"target, content='{AUDIT_TABLE}', content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON {AUDIT_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, target) VALUES (new.id, new.target); END",
    f"CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON {AUDIT_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, target) VALUES ('delete', old.id, old.target); END",
    f"CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF target ON {AUDIT_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, target) VALUES ('delete', old.id, old.target); "
    f"INSERT INTO {FTS_TABLE}(rowid, target) VALUES (new.id, new.target); END",
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",  # the rows already logged
]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_insert",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_delete",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_update",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
]


def add_search_index(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.add_index(apps.get_model("provisioning", "AuditEvent"), TRIGRAM_INDEX)
    elif vendor == "sqlite":
        for statement in SQLITE_CREATE:
            schema_editor.execute(statement)


def remove_search_index(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("provisioning", "AuditEvent"), TRIGRAM_INDEX)
    elif vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("provisioning", "0012_nexeed_fields")]

    operations = [
        TrigramExtension(),  # does nothing on a database other than PostgreSQL
        migrations.RunPython(add_search_index, remove_search_index),
    ]
