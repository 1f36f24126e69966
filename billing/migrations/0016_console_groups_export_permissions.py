"""The console's groups and the CSV export (core/exports.py, docs/console.md).

- operators: export customers, subscriptions and payments.
- support: exports customers and subscriptions (they view both already and answer questions
  about them, e.g. who expires this week), not payments: revenue, amounts and provider
  references are the owner's and the operators', and support cannot refund either.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "operators": [
        ("accounts", "export_customer"),
        ("subscriptions", "export_subscription"),
        ("billing", "export_payment"),
    ],
    "support": [
        ("accounts", "export_customer"),
        ("subscriptions", "export_subscription"),
    ],
}


def _permissions(apps, pairs):
    Permission = apps.get_model("auth", "Permission")
    return [
        p
        for app_label, codename in pairs
        for p in Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    ]


def grant(apps, schema_editor):
    # On a fresh database the new permissions appear only after `migrate` ends.
    for label in ("accounts", "subscriptions", "billing"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for name, pairs in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*_permissions(apps, pairs))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, pairs in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, pairs))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_alter_customer_options"),
        ("subscriptions", "0011_alter_subscription_options"),
        ("billing", "0015_alter_payment_options"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
