"""The console's groups and the new Device model (accounts/migrations/0002_console_groups.py
gives only the permissions that existed then): "support" views devices, "operators" get
every permission on them. Resetting a subscription's devices asks for
``subscriptions.change_subscription`` (operators), like expiring or re-provisioning it."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT = ["view_device"]
OPERATORS = ["add_device", "change_device", "delete_device", "view_device"]


def device_permissions_grant(apps, schema_editor):
    # On a fresh database the default permissions appear only after `migrate` ends.
    app_config = apps.get_app_config("subscriptions")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    device_permissions = Permission.objects.filter(
        content_type__app_label="subscriptions", content_type__model="device"
    )
    for group_name, codenames in (("support", SUPPORT), ("operators", OPERATORS)):
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.add(*device_permissions.filter(codename__in=codenames))


def device_permissions_revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    device_permissions = Permission.objects.filter(
        content_type__app_label="subscriptions", content_type__model="device"
    )
    for group in Group.objects.filter(name__in=["support", "operators"]):
        group.permissions.remove(*device_permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_console_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("subscriptions", "0004_device_and_hwid_device_limit"),
    ]

    operations = [migrations.RunPython(device_permissions_grant, device_permissions_revoke)]
