"""Each subscription gets a number per customer (1, 2, 3 … by creation), unique per customer."""

from django.db import migrations, models


def number_existing(apps, schema_editor):
    """Number every customer's subscriptions by creation (then id), from 1."""
    Subscription = apps.get_model("subscriptions", "Subscription")
    last_customer, number, changed = None, 0, []
    for subscription in Subscription.objects.order_by("customer_id", "created_at", "pk").only(
        "pk", "customer_id"
    ):
        if subscription.customer_id != last_customer:
            last_customer, number = subscription.customer_id, 0
        number += 1
        subscription.number = number
        changed.append(subscription)
    Subscription.objects.bulk_update(changed, ["number"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_alter_customer_options"),
        ("subscriptions", "0006_traffic_reset_schedule"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="number",
            field=models.PositiveIntegerField(editable=False, null=True),
        ),
        migrations.RunPython(number_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="subscription",
            name="number",
            field=models.PositiveIntegerField(editable=False),
        ),
        migrations.AddConstraint(
            model_name="subscription",
            constraint=models.UniqueConstraint(
                fields=("customer", "number"), name="subscription_number_per_customer"
            ),
        ),
    ]
