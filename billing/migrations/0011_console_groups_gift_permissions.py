"""The console's groups and the new Gift model (accounts/migrations/0002_console_groups.py
gives only the permissions that existed then): "support" and "operators" view gifts. Nobody
changes a gift in the console: refunding its payment (``billing.change_payment``) cancels it."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def gift_permissions_grant(apps, schema_editor):
    # On a fresh database the default permissions appear only after `migrate` ends.
    app_config = apps.get_app_config("billing")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    view_gift = Permission.objects.filter(
        content_type__app_label="billing", content_type__model="gift", codename="view_gift"
    )
    for group in Group.objects.filter(name__in=["support", "operators"]):
        group.permissions.add(*view_gift)


def gift_permissions_revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    gift_permissions = Permission.objects.filter(
        content_type__app_label="billing", content_type__model="gift"
    )
    for group in Group.objects.filter(name__in=["support", "operators"]):
        group.permissions.remove(*gift_permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_console_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("billing", "0010_gift"),
    ]

    operations = [migrations.RunPython(gift_permissions_grant, gift_permissions_revoke)]
