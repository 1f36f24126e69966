"""The console's groups: "support" and "operators" (docs/console.md).

- support: views everything (but operators and groups), extends subscriptions, sends a
  customer a message. It cannot refund (billing asks for change_payment), ban, expire, move,
  edit nodes or tariffs, or send broadcasts.
- operators: every permission except user management (operators, groups, permissions, OTP
  devices, sessions), which stays with superusers.

Permissions of models added after this migration are not in the groups: add them by hand
or in a later migration.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Console permissions on models whose Meta does not list them (yet).
CUSTOM_PERMISSIONS = [
    ("accounts", "customer", "ban_customer", "Can ban and unban customers"),
    ("accounts", "customer", "message_customer", "Can send a message to a customer"),
    ("subscriptions", "subscription", "extend_subscription", "Can extend subscriptions"),
]
USER_MANAGEMENT = {
    ("accounts", "user"),
    ("auth", "group"),
    ("auth", "permission"),
    ("otp_totp", "totpdevice"),
    # Not console objects: sessions are logins, content types are Django's bookkeeping.
    ("sessions", "session"),
    ("contenttypes", "contenttype"),
}
SUPPORT_EXTRA = {
    ("accounts", "message_customer"),
    ("subscriptions", "extend_subscription"),
}


def groups_create(apps, schema_editor):
    # On a fresh database the default permissions appear only after `migrate` ends
    # (post_migrate); create them now so the groups can be given them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    for app_label, model, codename, name in CUSTOM_PERMISSIONS:
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )

    permissions = [
        p
        for p in Permission.objects.select_related("content_type")
        if (p.content_type.app_label, p.content_type.model) not in USER_MANAGEMENT
    ]
    support, _ = Group.objects.get_or_create(name="support")
    support.permissions.set(
        [
            p
            for p in permissions
            if p.codename.startswith("view_")
            or (p.content_type.app_label, p.codename) in SUPPORT_EXTRA
        ]
    )
    operators, _ = Group.objects.get_or_create(name="operators")
    operators.permissions.set(permissions)


def groups_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["support", "operators"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("axes", "0010_accessattemptexpiration"),
        ("billing", "0003_webhookevent_body_escaped_and_more"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0001_initial"),
        ("nodes", "0003_node_orphans_first_seen"),
        ("otp_totp", "0003_add_timestamps"),
        ("sessions", "0001_initial"),
        ("subscriptions", "0002_subscription_keys_notified_at"),
        ("telegram_bot", "0002_broadcast"),
    ]

    operations = [migrations.RunPython(groups_create, groups_delete)]
