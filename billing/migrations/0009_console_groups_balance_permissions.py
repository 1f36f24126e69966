"""The console's groups and the balance ledger (accounts/migrations/0002_console_groups.py
gives only the permissions that existed then): "support" views the ledger, "operators" view
it and adjust balances (``billing.add_balanceentry``: the customers' "Adjust the balance"
action). Nobody changes or deletes an entry: the ledger is append-only."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT = ["view_balanceentry"]
OPERATORS = ["add_balanceentry", "view_balanceentry"]


def ledger_permissions_grant(apps, schema_editor):
    # On a fresh database the default permissions appear only after `migrate` ends.
    app_config = apps.get_app_config("billing")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    ledger_permissions = Permission.objects.filter(
        content_type__app_label="billing", content_type__model="balanceentry"
    )
    for group_name, codenames in (("support", SUPPORT), ("operators", OPERATORS)):
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.add(*ledger_permissions.filter(codename__in=codenames))


def ledger_permissions_revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    ledger_permissions = Permission.objects.filter(
        content_type__app_label="billing", content_type__model="balanceentry"
    )
    for group in Group.objects.filter(name__in=["support", "operators"]):
        group.permissions.remove(*ledger_permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_console_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("billing", "0008_balance_ledger_and_top_up"),
    ]

    operations = [migrations.RunPython(ledger_permissions_grant, ledger_permissions_revoke)]
