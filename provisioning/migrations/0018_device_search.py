"""Indexes of the Devices page: its list and filters, and its search by any part of a device id.

The B-tree indexes are the model's (Device.Meta.indexes). The search index is built as
0013_history_search built history's, on the inventory's device_id:

- PostgreSQL: pg_trgm's GIN index on LOWER(device_id), the expression
  history_search.DEVICES.containing filters on (the extension was created by 0013).
- SQLite: an FTS5 table with the trigram tokenizer over the device table's device_id (an
  "external content" table: it stores the index, not the text), kept in step by triggers.
  The ORM cannot express a virtual table or a trigger, so they are written as SQL here;
  history_search.DEVICES holds the queries that read it.

A later migration that makes Django rebuild the device table on SQLite (an AlterField on
Device, say) drops these triggers with the old table: it must create them again
(test_views_inventory checks that a new device is found after all migrations).
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import migrations, models
from django.db.models.functions import Lower

TRIGRAM_INDEX = GinIndex(OpClass(Lower("device_id"), name="gin_trgm_ops"), name="device_id_trgm")

FTS_TABLE = "provisioning_devicesearch"
DEVICE_TABLE = "provisioning_device"
SQLITE_CREATE = [
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
    f"device_id, content='{DEVICE_TABLE}', content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON {DEVICE_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, device_id) VALUES (new.id, new.device_id); END",
    f"CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON {DEVICE_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, device_id) VALUES ('delete', old.id, old.device_id); END",
    f"CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF device_id ON {DEVICE_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, device_id) VALUES ('delete', old.id, old.device_id); "
    f"INSERT INTO {FTS_TABLE}(rowid, device_id) VALUES (new.id, new.device_id); END",
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",  # the devices already there
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
        schema_editor.add_index(apps.get_model("provisioning", "Device"), TRIGRAM_INDEX)
    elif vendor == "sqlite":
        for statement in SQLITE_CREATE:
            schema_editor.execute(statement)


def remove_search_index(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("provisioning", "Device"), TRIGRAM_INDEX)
    elif vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


def device_index(fields, name):
    return migrations.AddIndex(model_name="device", index=models.Index(fields=fields, name=name))


class Migration(migrations.Migration):
    dependencies = [("provisioning", "0017_inventory")]

    operations = [
        device_index(["team", "-changed_at", "-id"], "device_team_changed"),
        device_index(["team", "connection_ref", "-changed_at", "-id"], "device_team_conn"),
        device_index(["team", "namespace", "-changed_at", "-id"], "device_team_namespace"),
        device_index(["team", "state", "-changed_at", "-id"], "device_team_state"),
        device_index(["team", "bulk_job", "-changed_at", "-id"], "device_team_job"),
        device_index(["team", "-created_at", "-id"], "device_team_created"),
        device_index(["team", "open_since"], "device_team_open"),
        migrations.RunPython(add_search_index, remove_search_index),
    ]
