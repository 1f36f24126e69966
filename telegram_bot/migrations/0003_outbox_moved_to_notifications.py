"""OutboxMessage and Broadcast moved to the notifications app (notifications 0001).

Only Django's idea of the models changes: their tables stay where they are, under the names
this app gave them, and notifications uses them from now on. No data moves.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('telegram_bot', '0002_broadcast'),
        ('notifications', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name='outboxmessage', name='broadcast'),
                migrations.RemoveField(model_name='outboxmessage', name='customer'),
                migrations.DeleteModel(name='Broadcast'),
                migrations.DeleteModel(name='OutboxMessage'),
            ],
            database_operations=[],
        ),
    ]
