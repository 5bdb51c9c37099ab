# Written by hand: the autodetector offers to drop OAuthClient and create Connection, which
# would lose every configuration. RenameModel keeps the rows.

import django.db.models.deletion
from django.db import migrations, models

ACTIONS = ("add", "change", "delete", "view")


def rename_permissions(apps, schema_editor, old="oauthclient", new="connection", new_name="connection"):
    """Django names a model's permissions after the model (view_oauthclient) and, after a rename,
    would make new ones and leave the old. Rename them instead, so staff who were given them in
    the admin keep them. A permission whose new codename exists already is left as it is."""
    Permission = apps.get_model("auth", "Permission")
    for action in ACTIONS:
        for permission in Permission.objects.filter(content_type__app_label="provisioning", codename=f"{action}_{old}"):
            taken = Permission.objects.filter(content_type=permission.content_type, codename=f"{action}_{new}")
            if not taken.exists():
                permission.codename = f"{action}_{new}"
                permission.name = f"Can {action} {new_name}"
                permission.save(update_fields=["codename", "name"])


def rename_permissions_back(apps, schema_editor):
    rename_permissions(
        apps, schema_editor, old="connection", new="oauthclient", new_name="OAuth2 client configuration"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("provisioning", "0013_history_search"),
        # The bulk app's migrations name provisioning.oauthclient in their foreign key: they must
        # run before the rename, whatever order a fresh database's plan picks.
        ("bulk", "0002_upload_in_worker"),
    ]

    operations = [
        # The table provisioning_oauthclient becomes provisioning_connection (its name was derived
        # from the model's); rows, ids and the foreign keys of namespaces and bulk jobs are kept.
        migrations.RenameModel(old_name="OAuthClient", new_name="Connection"),
        migrations.AlterModelOptions(
            name="connection",
            options={"ordering": ["name"], "verbose_name": "connection"},
        ),
        migrations.AddField(
            model_name="connection",
            name="kind",
            field=models.CharField(
                choices=[("bosch", "Bosch IoT Suite")], default="bosch", max_length=20, verbose_name="provider"
            ),
        ),
        migrations.AlterField(
            model_name="namespace",
            name="client",
            field=models.ForeignKey(
                blank=True,
                help_text="Only this connection may use the namespace. Leave empty for any.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="namespaces",
                to="provisioning.connection",
                verbose_name="connection",
            ),
        ),
        migrations.RunPython(rename_permissions, rename_permissions_back),
    ]
