"""Each payment gets a number per customer (1, 2, 3 … by creation), unique per customer."""

from django.db import migrations, models


def number_existing(apps, schema_editor):
    """Number every customer's payments by creation (then id), from 1."""
    Payment = apps.get_model("billing", "Payment")
    last_customer, number, changed = None, 0, []
    for payment in Payment.objects.order_by("customer_id", "created_at", "pk").only(
        "pk", "customer_id"
    ):
        if payment.customer_id != last_customer:
            last_customer, number = payment.customer_id, 0
        number += 1
        payment.number = number
        changed.append(payment)
    Payment.objects.bulk_update(changed, ["number"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_payment_one_pending_checkout"),
    ]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="number",
            field=models.PositiveIntegerField(editable=False, null=True),
        ),
        migrations.RunPython(number_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="payment",
            name="number",
            field=models.PositiveIntegerField(editable=False),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.UniqueConstraint(
                fields=("customer", "number"), name="payment_number_per_customer"
            ),
        ),
    ]
