from django.db import migrations, models


def keep_newest_open_invitation(apps, schema_editor):
    """Before the constraint: of several open invitations of one address to one team, the newest
    stays (its link was handed out last); the older ones are withdrawn."""
    Invitation = apps.get_model("provisioning", "Invitation")
    seen = set()
    for invitation in Invitation.objects.filter(accepted_at__isnull=True).order_by("-created_at", "-pk"):
        key = (invitation.team_id, invitation.email)
        if key in seen:
            invitation.delete()
        seen.add(key)


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0010_held_results"),
    ]

    operations = [
        migrations.RunPython(keep_newest_open_invitation, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="invitation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("accepted_at__isnull", True)),
                fields=("team", "email"),
                name="one_open_invitation_per_address",
            ),
        ),
    ]
