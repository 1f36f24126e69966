"""The console's groups and the runtime settings (django-constance's "Config" page):
operators view and change them, support views them (docs/console.md)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "operators": ["view_config", "change_config"],
    "support": ["view_config"],
}


def grant(apps, schema_editor):
    # On a fresh database constance's permissions appear only after `migrate` ends.
    app_config = apps.get_app_config("constance")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(
                *Permission.objects.filter(
                    content_type__app_label="constance", codename__in=codenames
                )
            )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=GRANTS):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="constance")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_alter_customer_options"),
        ("constance", "0003_drop_pickle"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
