"""Keys have a queue of their own (vpnsite/settings/integrations/celery.py): a flood of
messages never delays a paid subscription's keys, and a worker started without -Q (Procfile,
compose, bin/run) consumes both queues."""

from vpnsite.celery import app


def _queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_key_tasks_go_to_the_keys_queue_and_messages_to_the_default_one():
    assert _queue_of("nodes.tasks.node_keys_push_task") == "keys"
    assert _queue_of("nodes.tasks.nodes_health_check_task") == "keys"
    assert _queue_of("subscriptions.tasks.subscription_keys_converge_task") == "keys"
    assert _queue_of("subscriptions.tasks.subscriptions_place_missing_task") == "keys"
    assert _queue_of("notifications.tasks.outbox_send_task") == "celery"
    assert _queue_of("billing.tasks.payments_expire_pending_task") == "celery"


def test_a_worker_without_q_consumes_every_queue():
    # What `celery worker` subscribes to when no -Q is given: the configured queues.
    assert {queue.name for queue in app.conf.task_queues} == {"celery", "keys"}
    assert set(app.amqp.queues) == {"celery", "keys"}
