"""The console's groups and the new NodeCheck model (accounts/migrations/0002_console_groups.py
gives only the permissions that existed then): "support" views health checks, "operators"
get every permission on them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT = ["view_nodecheck"]
OPERATORS = ["add_nodecheck", "change_nodecheck", "delete_nodecheck", "view_nodecheck"]


def _permissions(apps):
    return apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="nodes", content_type__model="nodecheck"
    )


def nodecheck_permissions_grant(apps, schema_editor):
    # On a fresh database the default permissions appear only after `migrate` ends.
    app_config = apps.get_app_config("nodes")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    for group_name, codenames in (("support", SUPPORT), ("operators", OPERATORS)):
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.add(*_permissions(apps).filter(codename__in=codenames))


def nodecheck_permissions_revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=["support", "operators"]):
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_console_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("nodes", "0009_nodecheck"),
    ]

    operations = [
        migrations.RunPython(nodecheck_permissions_grant, nodecheck_permissions_revoke)
    ]
