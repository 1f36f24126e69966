"""The console's groups see referral rewards (read-only for everyone: the credit and the
refund write them): "support" and "operators" get ``billing.view_referralreward``."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = ["support", "operators"]


def referral_permissions_grant(apps, schema_editor):
    # On a fresh database the default permissions appear only after `migrate` ends.
    app_config = apps.get_app_config("billing")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    view = Permission.objects.filter(
        content_type__app_label="billing", codename="view_referralreward"
    )
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.add(*view)


def referral_permissions_revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    view = Permission.objects.filter(
        content_type__app_label="billing", codename="view_referralreward"
    )
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.remove(*view)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0013_referral_reward"),
    ]

    operations = [migrations.RunPython(referral_permissions_grant, referral_permissions_revoke)]
