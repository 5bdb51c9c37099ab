"""Device templates and their versions; the template version on audit rows and devices.

The new columns of the audit log and the inventory are nullable without a default, so SQLite
adds them with ALTER TABLE ADD COLUMN: neither table is rebuilt, and their search triggers
(0013_history_search, 0018_device_search) stay. The indexes are partial (rows that name a
template), so the many rows without one cost them nothing.
"""

import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('provisioning', '0019_ditto_client'),
    ]

    operations = [
        migrations.CreateModel(
            name='DeviceTemplate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('description', models.CharField(blank=True, max_length=500)),
                ('kind', models.CharField(choices=[('bosch', 'Bosch IoT Suite'), ('hono_ditto', 'Eclipse Hono + Ditto'), ('ditto', 'Eclipse Ditto')], max_length=20, verbose_name='connection kind')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('retired_at', models.DateTimeField(blank=True, null=True)),
                ('retired_by_name', models.CharField(blank=True, max_length=150)),
                ('team', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='device_templates', to='provisioning.team')),
            ],
            options={
                'ordering': ['name', 'id'],
                'constraints': [models.UniqueConstraint(models.F('team'), django.db.models.functions.text.Lower('name'), condition=models.Q(('retired_at__isnull', True)), name='template_name_unique_in_team')],
            },
        ),
        migrations.CreateModel(
            name='TemplateVersion',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveIntegerField()),
                ('enabled', models.BooleanField(default=True)),
                ('enabled_fixed', models.BooleanField(default=False)),
                ('via', models.CharField(blank=True, max_length=256)),
                ('via_fixed', models.BooleanField(default=False)),
                ('credentials_type', models.CharField(default='hashed-password', max_length=20)),
                ('credentials_type_fixed', models.BooleanField(default=False)),
                ('auth_scope', models.CharField(default='__default__', max_length=40)),
                ('auth_scope_fixed', models.BooleanField(default=False)),
                ('definition', models.CharField(blank=True, max_length=256)),
                ('definition_fixed', models.BooleanField(default=False)),
                ('features', models.JSONField(blank=True, default=dict)),
                ('features_fixed', models.BooleanField(default=False)),
                ('policy_mode', models.CharField(default='generated', max_length=10)),
                ('policy_id', models.CharField(blank=True, max_length=256)),
                ('policy_fixed', models.BooleanField(default=False)),
                ('attributes', models.JSONField(blank=True, default=dict)),
                ('fixed_attributes', models.JSONField(blank=True, default=list)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('created_by_name', models.CharField(blank=True, max_length=150)),
                ('template', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='versions', to='provisioning.devicetemplate')),
            ],
            options={
                'ordering': ['template', 'number'],
                'constraints': [models.UniqueConstraint(fields=('template', 'number'), name='template_version_once')],
            },
        ),
        migrations.AddField(
            model_name='auditevent',
            name='template_name',
            field=models.CharField(blank=True, max_length=100, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='template_ref',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='template_version',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='device',
            name='template_name',
            field=models.CharField(blank=True, max_length=100, null=True),
        ),
        migrations.AddField(
            model_name='device',
            name='template_ref',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='device',
            name='template_version',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(condition=models.Q(('template_ref__isnull', False)), fields=['team_id', 'template_ref', '-created_at', '-id'], name='audit_team_template_time'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(condition=models.Q(('template_ref__isnull', False)), fields=['team_id', 'template_ref', 'template_version', '-created_at', '-id'], name='audit_team_tversion_time'),
        ),
        migrations.AddIndex(
            model_name='device',
            index=models.Index(condition=models.Q(('template_ref__isnull', False)), fields=['team', 'template_ref', '-changed_at', '-id'], name='device_team_template'),
        ),
        migrations.AddIndex(
            model_name='device',
            index=models.Index(condition=models.Q(('template_ref__isnull', False)), fields=['team', 'template_ref', 'template_version', '-changed_at', '-id'], name='device_team_tversion'),
        ),
    ]
