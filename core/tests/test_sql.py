"""core.sql: hand-built single-row statements that must behave exactly like the ORM.

``row_insert`` is ``save(force_insert=True)``, ``row_update`` is ``save(update_fields=...)``
and ``row_get`` is ``select_related(...).[select_for_update(of=("self",))].get(pk=...)``.
Most tests compare with what the ORM itself writes or reads back. Row locks need
PostgreSQL (``on_postgres`` skips on SQLite); the lock tests use real transactions.
"""

import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from axes.models import AccessAttempt, AccessAttemptExpiration, AccessLog
from django.contrib.sessions.models import Session
from django.core.exceptions import ObjectDoesNotExist
from django.db import (
    DatabaseError,
    IntegrityError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.models import signals
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import core.sql as sql_module
from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.models import Payment, PaymentStatus, WebhookEvent
from billing.tests.factories import PaymentFactory
from core.models import AuditEvent, AuditLog
from core.sql import row_get, row_insert, row_update, rows_insert, rows_where
from nodes.models import Node, NodeClient
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.models import Subscription, Tariff
from subscriptions.tests.factories import SubscriptionFactory
from telegram_bot.models import OutboxAudience, OutboxMessage

pytestmark = pytest.mark.django_db

VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")
# An aware time with microseconds, away from UTC: both the offset and the fraction must survive.
WHEN = datetime(2031, 3, 4, 5, 6, 7, 891011, tzinfo=VLADIVOSTOK)


# --- helpers -----------------------------------------------------------------------------------


def values(obj) -> dict:
    """Every concrete field as (type, value): a converter left out changes the type."""
    return {
        f.attname: (type(getattr(obj, f.attname)), getattr(obj, f.attname))
        for f in type(obj)._meta.concrete_fields
    }


def plain(obj) -> dict:
    """Every concrete field's value (an instance in memory may hold a choices enum)."""
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def raw_row(model, pk) -> dict:
    """The stored columns as the database driver returns them, without any converter."""
    meta = model._meta
    quote = connection.ops.quote_name
    columns = [f.column for f in meta.concrete_fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(meta.db_table)}"  # noqa: S608
            f" WHERE {quote(meta.pk.column)} = %s",
            [pk],
        )
        row = cursor.fetchone()
    return dict(zip(columns, row, strict=True))


def without(row: dict, keys: set) -> dict:
    return {k: v for k, v in row.items() if k not in keys}


def sqls(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries]


@pytest.fixture
def plans():
    """A connection without cached statements, and the cache's dict.

    ``connections["default"]``: the wrapper itself (``connection`` is a proxy to it).
    """
    wrapper = connections["default"]
    wrapper.__dict__.pop(sql_module._PLANS, None)
    yield sql_module._plans(wrapper)
    wrapper.__dict__.pop(sql_module._PLANS, None)


@pytest.fixture
def listen():
    """listen(Model) -> list of (signal name, kwargs) sent for that model; disconnected after."""
    connected = []

    def connect(model):
        calls = []

        def on_pre(sender, **kwargs):
            calls.append(("pre_save", {**kwargs, "pk": kwargs["instance"].pk}))

        def on_post(sender, **kwargs):
            calls.append(("post_save", {**kwargs, "pk": kwargs["instance"].pk}))

        for signal, receiver in ((signals.pre_save, on_pre), (signals.post_save, on_post)):
            signal.connect(receiver, sender=model, weak=False)
            connected.append((signal, receiver, model))
        return calls

    yield connect
    for signal, receiver, model in connected:
        signal.disconnect(receiver, sender=model)


def without_instance(calls):
    return [
        (name, {k: v for k, v in kw.items() if k not in {"instance", "pk"}}) for name, kw in calls
    ]


def other_connection(fn):
    """Run ``fn`` in a transaction of another thread (so another connection): (value, error)."""
    result = {}

    def run():
        try:
            with transaction.atomic():
                result["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            result["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return result.get("value"), result.get("error")


@contextmanager
def savepoint():
    """An inner atomic block, so a failing statement leaves the test's transaction usable."""
    with transaction.atomic():
        yield


def webhook_event(**overrides) -> WebhookEvent:
    data = {
        "provider": "robokassa",
        "event_key": "42",
        "remote_ip": "203.0.113.7",
        "headers": {"Content-Type": "text/plain", "X-Ünïcode": ["ё", 1, None, 2.5]},
        "body": "OutSum=299.00&InvId=42",
        "verified": True,
        "processed_at": WHEN,
    }
    return WebhookEvent(**{**data, **overrides})


# --- row_insert --------------------------------------------------------------------------------


def test_insert_sets_pk_and_state_and_reads_back_like_the_orm(customer, tariff):
    payment = PaymentFactory.build(
        customer=customer,
        tariff=tariff,
        amount=Decimal("1234.50"),
        description="Кириллица ✓",
        expires_at=WHEN,
    )
    assert payment.pk is None
    assert payment._state.adding
    assert row_insert(payment) is payment
    assert isinstance(payment.pk, int)
    assert payment._state.adding is False
    assert payment._state.db == "default"

    stored = Payment.objects.get(pk=payment.pk)
    assert plain(stored) == plain(payment)
    assert stored.amount == Decimal("1234.50")
    assert stored.expires_at == WHEN
    assert stored.subscription_id is None


def test_insert_stores_exactly_what_the_orm_stores(customer, tariff):
    """Same bytes in the table: DecimalField, aware DateTimeField, JSON, nullable FK, IP..."""
    payment = PaymentFactory(customer=customer, tariff=tariff)
    created_at = timezone.now() - timedelta(days=3)
    for linked in (None, payment):
        ours = row_insert(webhook_event(payment=linked, created_at=created_at))
        theirs = webhook_event(payment=linked, created_at=created_at)
        theirs.save(force_insert=True)
        # Not compared: our own id, and updated_at, which auto_now stamps with "now".
        ignored = {"id", "updated_at"}
        assert without(raw_row(WebhookEvent, ours.pk), ignored) == without(
            raw_row(WebhookEvent, theirs.pk), ignored
        )
        assert without(values(WebhookEvent.objects.get(pk=ours.pk)), ignored) == without(
            values(WebhookEvent.objects.get(pk=theirs.pk)), ignored
        )


def test_insert_json_decimal_datetime_and_nullable_fk_round_trip(customer, tariff):
    payment = PaymentFactory(customer=customer, tariff=tariff)
    event = row_insert(webhook_event(payment=payment))
    stored = WebhookEvent.objects.get(pk=event.pk)
    assert stored.headers == {"Content-Type": "text/plain", "X-Ünïcode": ["ё", 1, None, 2.5]}
    assert stored.payment_id == payment.pk
    assert stored.processed_at == WHEN
    assert stored.processed_at.utcoffset() == timedelta(0)  # read back in UTC, as the ORM does
    assert stored.remote_ip == "203.0.113.7"
    assert plain(stored) == plain(event)

    orphan = row_insert(webhook_event(payment=None, processed_at=None, remote_ip=None))
    stored = WebhookEvent.objects.get(pk=orphan.pk)
    assert (stored.payment_id, stored.processed_at, stored.remote_ip) == (None, None, None)
    assert plain(stored) == plain(orphan)


def test_insert_writes_sql_null_for_none_in_a_nullable_json_field(customer):
    message = OutboxMessage(
        audience=OutboxAudience.CUSTOMER, customer=customer, chat_id=1, text="hi"
    )
    row_insert(message)
    with_markup = row_insert(
        OutboxMessage(
            audience=OutboxAudience.CUSTOMER,
            customer=customer,
            chat_id=1,
            text="hi",
            reply_markup={"inline_keyboard": [[{"text": "Pay", "url": "https://x.test"}]]},
        )
    )
    assert list(OutboxMessage.objects.filter(reply_markup__isnull=True)) == [message]
    assert OutboxMessage.objects.get(pk=with_markup.pk).reply_markup == {
        "inline_keyboard": [[{"text": "Pay", "url": "https://x.test"}]]
    }


def test_insert_fills_defaults_like_the_constructor_does():
    customer = row_insert(Customer(telegram_id=777001))
    stored = Customer.objects.get(pk=customer.pk)
    assert stored.language == "ru"
    assert stored.referral_code
    assert stored.referral_code == customer.referral_code
    assert stored.is_banned is False
    assert stored.referred_by_id is None
    event = row_insert(WebhookEvent(provider="freekassa"))
    stored = WebhookEvent.objects.get(pk=event.pk)
    assert (stored.headers, stored.status, stored.method, stored.body_truncated) == (
        {},
        "received",
        "POST",
        False,
    )


def test_insert_stamps_auto_now_on_the_instance_and_the_row(customer, tariff):
    payment = PaymentFactory.build(customer=customer, tariff=tariff)
    payment.updated_at = datetime(2001, 1, 1, tzinfo=UTC)
    before = timezone.now()
    row_insert(payment)
    after = timezone.now()
    assert before <= payment.updated_at <= after
    assert Payment.objects.get(pk=payment.pk).updated_at == payment.updated_at


def test_insert_stamps_auto_now_add():
    """No model of ours has auto_now_add; axes' AccessLog does."""
    log = AccessLog(user_agent="ua", ip_address="198.51.100.1", username="op", path_info="/")
    assert log.attempt_time is None
    before = timezone.now()
    row_insert(log)
    assert before <= log.attempt_time <= timezone.now()
    assert AccessLog.objects.get(pk=log.pk).attempt_time == log.attempt_time


def test_insert_is_one_query_with_returning(customer, tariff, django_assert_num_queries):
    payment = PaymentFactory.build(customer=customer, tariff=tariff)
    with django_assert_num_queries(1) as captured:
        row_insert(payment)
    [statement] = sqls(captured)
    assert statement.startswith('INSERT INTO "billing_payment"')
    if connection.features.can_return_columns_from_insert:
        assert statement.endswith(' RETURNING "id"')


def test_insert_raises_integrity_error_on_a_unique_violation(customer):
    with pytest.raises(IntegrityError) as ours, savepoint():
        row_insert(Customer(telegram_id=customer.telegram_id))
    with pytest.raises(IntegrityError) as theirs, savepoint():
        Customer(telegram_id=customer.telegram_id).save(force_insert=True)
    assert type(ours.value) is type(theirs.value) is IntegrityError
    assert type(ours.value.__cause__) is type(theirs.value.__cause__)
    assert Customer.objects.filter(telegram_id=customer.telegram_id).count() == 1


@pytest.mark.postgres
def test_insert_in_a_transaction_raises_what_the_orm_raises_on_postgres(on_postgres, customer):
    """Same wrapped class and same driver error; after it, the transaction is aborted."""
    errors = []
    for insert in (
        lambda: row_insert(Customer(telegram_id=customer.telegram_id)),
        lambda: Customer(telegram_id=customer.telegram_id).save(force_insert=True),
    ):
        with pytest.raises(IntegrityError) as caught, transaction.atomic():
            insert()
        errors.append(caught.value)
    ours, theirs = errors
    assert type(ours) is type(theirs)
    assert type(ours.__cause__) is type(theirs.__cause__)
    assert type(ours.__cause__).__name__ == "UniqueViolation"
    assert ours.__cause__.diag.constraint_name == theirs.__cause__.diag.constraint_name
    assert Customer.objects.count() == 1  # the test's transaction is still usable


def test_insert_raises_integrity_error_for_a_check_constraint(customer, tariff):
    with pytest.raises(IntegrityError), savepoint():
        row_insert(PaymentFactory.build(customer=customer, tariff=tariff, amount=Decimal(-1)))


def test_insert_works_for_the_append_only_audit_log(customer):
    """AuditLog.save() refuses rows with a pk; the insert does not go through save()."""
    entry = row_insert(
        AuditLog(
            event_type=AuditEvent.PAYMENT_PAID,
            customer=customer,
            object_type="billing.payment",
            object_id="42",
            message="paid",
            extra_data={"amount": "299.00", "days": 30},
        )
    )
    assert entry.pk is not None
    stored = AuditLog.objects.get(pk=entry.pk)
    assert plain(stored) == plain(entry)
    assert stored.acting_user_id is None
    assert stored.extra_data == {"amount": "299.00", "days": 30}
    with pytest.raises(ValueError, match="append-only"):
        entry.save()


def test_insert_with_a_non_auto_primary_key(django_assert_num_queries):
    session = Session(session_key="k" * 32, session_data="data", expire_date=WHEN)
    with django_assert_num_queries(1) as captured:
        row_insert(session)
    assert "RETURNING" not in sqls(captured)[0]
    assert session.pk == "k" * 32
    assert session._state.adding is False
    assert plain(Session.objects.get(pk=session.pk)) == plain(session)
    with pytest.raises(IntegrityError), savepoint():
        row_insert(Session(session_key="k" * 32, session_data="again", expire_date=WHEN))


def test_insert_with_a_one_to_one_primary_key():
    attempt = AccessAttempt.objects.create(
        user_agent="ua", username="op", get_data="", post_data="", failures_since_start=1
    )
    expiration = row_insert(AccessAttemptExpiration(access_attempt=attempt, expires_at=WHEN))
    assert expiration.pk == attempt.pk
    assert AccessAttemptExpiration.objects.get(pk=attempt.pk).expires_at == WHEN


def test_insert_with_an_explicit_pk_on_an_auto_field_keeps_it(customer, tariff, plans):
    row_insert(PaymentFactory.build(customer=customer, tariff=tariff))
    explicit = PaymentFactory.build(customer=customer, tariff=tariff, id=987654321)
    row_insert(explicit)
    assert explicit.pk == 987654321
    assert Payment.objects.filter(pk=987654321).exists()
    assert {key for key in plans if key[0] == "insert"} == {
        ("insert", Payment, True),
        ("insert", Payment, False),
    }


def test_insert_takes_the_key_of_a_related_object_saved_after_assignment(tariff):
    customer = CustomerFactory.build()
    payment = PaymentFactory.build(customer=customer, tariff=tariff)
    customer.save()  # now it has a pk, but payment.customer_id is still None
    with savepoint():
        row_insert(payment)
    assert Payment.objects.get(pk=payment.pk).customer_id == customer.pk


# --- row_update --------------------------------------------------------------------------------


def test_update_writes_only_the_listed_fields(customer, tariff):
    payment = PaymentFactory(customer=customer, tariff=tariff, description="original")
    payment.status = PaymentStatus.PAID
    payment.paid_at = WHEN
    payment.description = "changed on the instance only"
    row_update(payment, ["status", "paid_at"])
    stored = Payment.objects.get(pk=payment.pk)
    assert stored.status == PaymentStatus.PAID
    assert stored.paid_at == WHEN
    assert stored.description == "original"


def test_update_leaves_other_rows_alone(customer, tariff):
    first, second = PaymentFactory.create_batch(2, customer=customer, tariff=tariff)
    first.description = "first only"
    row_update(first, ["description"])
    assert Payment.objects.get(pk=second.pk).description == ""
    assert Payment.objects.get(pk=first.pk).description == "first only"


def test_update_stamps_updated_at_only_when_listed(customer, tariff):
    payment = PaymentFactory(customer=customer, tariff=tariff)
    old = timezone.now() - timedelta(days=1)
    Payment.objects.filter(pk=payment.pk).update(updated_at=old)
    payment.updated_at = old

    payment.description = "not stamped"
    row_update(payment, ["description"])
    assert payment.updated_at == old
    assert Payment.objects.get(pk=payment.pk).updated_at == old

    payment.description = "stamped"
    before = timezone.now()
    row_update(payment, ["description", "updated_at"])
    assert payment.updated_at >= before
    assert Payment.objects.get(pk=payment.pk).updated_at == payment.updated_at


def test_update_stores_exactly_what_the_orm_stores(customer, tariff):
    ours, theirs = PaymentFactory.create_batch(2, customer=customer, tariff=tariff)
    subscription = SubscriptionFactory(customer=customer, tariff=tariff)
    fields = ["status", "paid_at", "amount", "subscription", "days_credited", "provider_ref"]
    for payment, ref in ((ours, "ref-ours"), (theirs, "ref-theirs")):
        payment.status = PaymentStatus.PAID
        payment.paid_at = WHEN
        payment.amount = Decimal("10.10")
        payment.subscription = subscription
        payment.days_credited = 30
        payment.provider_ref = ref
    row_update(ours, fields)
    theirs.save(update_fields=fields)
    ignored = {"id", "created_at", "updated_at", "provider_ref"}
    assert without(raw_row(Payment, ours.pk), ignored) == without(
        raw_row(Payment, theirs.pk), ignored
    )
    assert Payment.objects.get(pk=ours.pk).subscription_id == subscription.pk


def test_update_accepts_the_attname_of_a_foreign_key(customer, tariff):
    payment = PaymentFactory(customer=customer, tariff=tariff)
    other = CustomerFactory()
    payment.customer_id = other.pk
    row_update(payment, ["customer_id"])
    assert Payment.objects.get(pk=payment.pk).customer_id == other.pk
    payment.subscription = SubscriptionFactory(customer=other, tariff=tariff)
    row_update(payment, ["subscription"])
    assert Payment.objects.get(pk=payment.pk).subscription_id == payment.subscription.pk
    payment.subscription = None
    row_update(payment, ["subscription"])
    assert Payment.objects.get(pk=payment.pk).subscription_id is None


def test_update_encrypts_and_round_trips_an_encrypted_field():
    node = NodeFactory()
    node.panel_password = "new-secret-пароль"
    node.inbound_cache = {"port": 443, "streamSettings": {"network": "tcp"}}
    row_update(node, ["panel_password", "inbound_cache"])
    stored_raw = raw_row(Node, node.pk)["panel_password"]
    assert stored_raw
    assert "new-secret" not in stored_raw  # stored as a Fernet token
    stored = Node.objects.get(pk=node.pk)
    assert stored.panel_password == "new-secret-пароль"
    assert stored.inbound_cache == {"port": 443, "streamSettings": {"network": "tcp"}}


def test_update_is_one_query(customer, tariff, django_assert_num_queries):
    payment = PaymentFactory(customer=customer, tariff=tariff)
    payment.status = PaymentStatus.CANCELLED
    with django_assert_num_queries(1) as captured:
        row_update(payment, ["status", "updated_at"])
    [statement] = sqls(captured)
    assert statement.startswith('UPDATE "billing_payment" SET "status" = ')
    assert '"description"' not in statement


def test_update_of_a_deleted_row_raises_like_the_orm(customer, tariff):
    ours, theirs = PaymentFactory.create_batch(2, customer=customer, tariff=tariff)
    Payment.objects.filter(pk__in=[ours.pk, theirs.pk]).delete()
    ours.status = theirs.status = PaymentStatus.FAILED
    # Each in its own atomic block: like save(), the failure marks its block for rollback.
    with (
        pytest.raises(DatabaseError, match="did not affect any rows") as caught_ours,
        transaction.atomic(),
    ):
        row_update(ours, ["status"])
    with (
        pytest.raises(DatabaseError, match="did not affect any rows") as caught_theirs,
        transaction.atomic(),
    ):
        theirs.save(update_fields=["status"])
    assert type(caught_ours.value) is type(caught_theirs.value)
    assert str(caught_ours.value) == str(caught_theirs.value)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (Payment, "id"),  # the primary key
        (Customer, "payments"),  # a reverse relation
        (Customer, "referrals"),  # a reverse relation to self
        (Tariff, "eligible_nodes"),  # many-to-many
    ],
)
def test_update_refuses_what_save_update_fields_refuses(model, name, plans, customer, tariff):
    instance = {
        Payment: lambda: PaymentFactory(customer=customer, tariff=tariff),
        Customer: lambda: customer,
        Tariff: lambda: tariff,
    }[model]()
    with pytest.raises(ValueError):  # noqa: PT011 - the ORM's message differs, the class not
        instance.save(update_fields=[name])
    with pytest.raises(ValueError):  # noqa: PT011
        row_update(instance, [name])
    with pytest.raises(ValueError):  # noqa: PT011 - a refused plan is not cached
        row_update(instance, [name])
    assert not any(key[0] == "update" for key in plans)


def test_update_refusal_writes_nothing_even_with_valid_fields_listed(customer, tariff):
    payment = PaymentFactory(customer=customer, tariff=tariff)
    payment.description = "never written"
    with pytest.raises(ValueError, match="cannot be updated"):
        row_update(payment, ["description", "id"])
    assert Payment.objects.get(pk=payment.pk).description == ""


@pytest.mark.parametrize("name", ["nope", "pk"])
def test_update_of_an_unknown_field_name_raises_value_error(name, customer, tariff):
    payment = PaymentFactory(customer=customer, tariff=tariff)
    with pytest.raises(ValueError):  # noqa: PT011
        payment.save(update_fields=[name])
    with pytest.raises(ValueError):  # noqa: PT011
        row_update(payment, [name])


def test_update_with_no_fields_is_a_no_op_like_the_orm(customer, tariff, django_assert_num_queries):
    payment = PaymentFactory(customer=customer, tariff=tariff)
    with django_assert_num_queries(0):
        payment.save(update_fields=[])
    with django_assert_num_queries(0):
        row_update(payment, [])


def test_update_without_a_pk_raises_value_error_like_the_orm(customer, tariff):
    payment = PaymentFactory.build(customer=customer, tariff=tariff)
    with pytest.raises(ValueError, match="no primary key"):
        payment.save(update_fields=["description"])
    with pytest.raises(ValueError, match="no primary key"):
        row_update(payment, ["description"])


def test_update_with_a_field_listed_twice_works_like_the_orm(customer, tariff):
    payment = PaymentFactory(customer=customer, tariff=tariff)
    payment.description = "once"
    payment.save(update_fields=["description", "description"])
    payment.description = "twice"
    with savepoint():
        row_update(payment, ["description", "description"])
    assert Payment.objects.get(pk=payment.pk).description == "twice"


# --- Failures inside an atomic block -----------------------------------------------------------


def _duplicate_insert_orm(customer):
    Customer(telegram_id=customer.telegram_id).save(force_insert=True)


def _duplicate_insert_ours(customer):
    row_insert(Customer(telegram_id=customer.telegram_id))


def _duplicate_update_orm(customer):
    other = CustomerFactory()
    other.telegram_id = customer.telegram_id
    other.save(update_fields=["telegram_id"])


def _duplicate_update_ours(customer):
    other = CustomerFactory()
    other.telegram_id = customer.telegram_id
    row_update(other, ["telegram_id"])


@pytest.mark.parametrize(
    "write",
    [
        _duplicate_insert_orm,
        _duplicate_update_orm,
        _duplicate_insert_ours,
        _duplicate_update_ours,
    ],
)
def test_a_caught_write_error_marks_the_atomic_block_for_rollback(write, customer):
    """The ORM makes a caught error in an atomic block poison it (TransactionManagementError
    on the next query); without the mark SQLite carries on and commits the rest."""
    with transaction.atomic():
        try:
            write(customer)
        except IntegrityError:
            pass
        else:
            pytest.fail("no IntegrityError")
        marked = connection.needs_rollback
        transaction.set_rollback(True)  # whatever happened, leave the block cleanly
    assert marked


# --- row_get -----------------------------------------------------------------------------------


def assert_same_as_orm(obj, model, pk, related=()):
    orm = model.objects.select_related(*related).get(pk=pk)
    assert type(obj) is model
    assert values(obj) == values(orm)
    assert obj._state.adding is False
    assert obj._state.db == "default"
    for name in related:
        ours, theirs = getattr(obj, name), getattr(orm, name)
        if theirs is None:
            assert ours is None
        else:
            assert type(ours) is type(theirs)
            assert values(ours) == values(theirs)
            assert ours._state.adding is False
            assert ours._state.db == "default"


def test_get_payment_with_customer_and_tariff_equals_the_orm(django_assert_num_queries):
    payment = PaymentFactory(
        amount=Decimal("0.01"), paid_at=WHEN, status=PaymentStatus.PAID, description="ё"
    )
    with django_assert_num_queries(1):
        got = row_get(Payment, pk=payment.pk, related=("customer", "tariff"))
    with django_assert_num_queries(0):  # cached: no query on access
        assert got.customer.pk == payment.customer_id
        assert got.tariff.pk == payment.tariff_id
    assert_same_as_orm(got, Payment, payment.pk, ("customer", "tariff"))
    assert got.amount == Decimal("0.01")
    assert got.paid_at == WHEN
    assert got.tariff.price == Decimal("299.00")


def test_get_subscription_with_customer_and_tariff_equals_the_orm(django_assert_num_queries):
    subscription = SubscriptionFactory(reminders_sent=["3d", "1d"], keys_notified_at=WHEN)
    with django_assert_num_queries(1):
        got = row_get(Subscription, pk=subscription.pk, related=("customer", "tariff"))
        assert got.customer.telegram_id == subscription.customer.telegram_id
        assert got.tariff.name == subscription.tariff.name
    assert_same_as_orm(got, Subscription, subscription.pk, ("customer", "tariff"))
    assert got.client_uuid == subscription.client_uuid  # a UUID, not SQLite's hex text
    assert got.reminders_sent == ["3d", "1d"]


def test_get_node_client_with_node_decrypts_like_the_orm(django_assert_num_queries):
    key = NodeClientFactory(
        node=NodeFactory(
            panel_password="p@ss-пароль", panel_api_token="tok-123", inbound_cache={"port": 443}
        )
    )
    with django_assert_num_queries(1):
        got = row_get(NodeClient, pk=key.pk, related=("node", "subscription"))
        node = got.node
        assert got.subscription.pk == key.subscription_id
    assert node.panel_password == "p@ss-пароль"
    assert node.panel_api_token == "tok-123"
    assert node.inbound_cache == {"port": 443}
    assert raw_row(Node, node.pk)["panel_password"] != "p@ss-пароль"
    assert_same_as_orm(got, NodeClient, key.pk, ("node", "subscription"))


def test_get_without_related_equals_a_plain_get_and_caches_nothing(django_assert_num_queries):
    payment = PaymentFactory()
    with django_assert_num_queries(1) as captured:
        got = row_get(Payment, pk=payment.pk)
    assert "JOIN" not in sqls(captured)[0]
    assert_same_as_orm(got, Payment, payment.pk)
    with django_assert_num_queries(1):
        assert got.customer.pk == payment.customer_id


def test_get_a_null_foreign_key_gives_none_without_a_query(django_assert_num_queries):
    payment = PaymentFactory()
    assert payment.subscription_id is None
    with django_assert_num_queries(1) as captured:
        got = row_get(Payment, pk=payment.pk, related=("customer", "subscription"))
    with django_assert_num_queries(0):
        assert got.subscription is None
        assert got.customer.pk == payment.customer_id
    assert "LEFT OUTER JOIN" in sqls(captured)[0]
    assert_same_as_orm(got, Payment, payment.pk, ("customer", "subscription"))


def test_get_a_set_nullable_foreign_key_is_loaded(django_assert_num_queries):
    subscription = SubscriptionFactory()
    payment = PaymentFactory(
        customer=subscription.customer, tariff=subscription.tariff, subscription=subscription
    )
    got = row_get(Payment, pk=payment.pk, related=("subscription",))
    with django_assert_num_queries(0):
        assert got.subscription.pk == subscription.pk
        assert got.subscription.sub_id == subscription.sub_id
    assert_same_as_orm(got, Payment, payment.pk, ("subscription",))


def test_get_join_kinds_follow_nullability():
    payment = PaymentFactory()
    with CaptureQueriesContext(connection) as captured:
        row_get(Payment, pk=payment.pk, related=("customer", "tariff", "subscription"))
    [statement] = sqls(captured)
    assert statement.count("INNER JOIN") == 2
    assert statement.count("LEFT OUTER JOIN") == 1
    assert 'INNER JOIN "accounts_customer"' in statement
    assert 'INNER JOIN "subscriptions_tariff"' in statement
    assert 'LEFT OUTER JOIN "subscriptions_subscription"' in statement
    assert "FOR UPDATE" not in statement


def test_get_a_self_referencing_foreign_key(django_assert_num_queries):
    referrer = CustomerFactory()
    referred = CustomerFactory(referred_by=referrer)
    with django_assert_num_queries(1):
        got = row_get(Customer, pk=referred.pk, related=("referred_by",))
        assert got.referred_by.pk == referrer.pk
        assert got.referred_by.referral_code == referrer.referral_code
    assert_same_as_orm(got, Customer, referred.pk, ("referred_by",))
    alone = row_get(Customer, pk=referrer.pk, related=("referred_by",))
    with django_assert_num_queries(0):
        assert alone.referred_by is None
    assert_same_as_orm(alone, Customer, referrer.pk, ("referred_by",))


def test_get_defers_a_related_field_and_loads_it_on_access(django_assert_num_queries):
    key = NodeClientFactory(node=NodeFactory(panel_password="deferred-secret"))
    with django_assert_num_queries(1) as captured:
        got = row_get(NodeClient, pk=key.pk, related=("node",), defer=("node__panel_password",))
    assert '"panel_password"' not in sqls(captured)[0]
    assert '"panel_api_token"' in sqls(captured)[0]
    with django_assert_num_queries(0):
        node = got.node
    assert node.get_deferred_fields() == {"panel_password"}
    assert got.get_deferred_fields() == set()
    with django_assert_num_queries(1):
        assert node.panel_password == "deferred-secret"
    assert node.get_deferred_fields() == set()
    orm = NodeClient.objects.select_related("node").defer("node__panel_password").get(pk=key.pk)
    assert orm.node.get_deferred_fields() == node.get_deferred_fields() | {"panel_password"}


def test_get_defers_a_field_of_the_main_model(django_assert_num_queries):
    payment = PaymentFactory(description="loaded later")
    got = row_get(Payment, pk=payment.pk, related=("customer",), defer=("description", "pk"))
    assert got.get_deferred_fields() == {"description"}
    assert got.pk == payment.pk  # the primary key is never deferred
    with django_assert_num_queries(1):
        assert got.description == "loaded later"
    orm = Payment.objects.defer("description").get(pk=payment.pk)
    assert orm.get_deferred_fields() == {"description"}


def test_get_a_missing_pk_raises_the_models_does_not_exist(django_assert_num_queries):
    with django_assert_num_queries(1), pytest.raises(Payment.DoesNotExist) as caught:
        row_get(Payment, pk=10**9, related=("customer", "tariff"))
    assert isinstance(caught.value, ObjectDoesNotExist)
    assert not isinstance(caught.value, Subscription.DoesNotExist)
    assert str(caught.value) == "Payment matching query does not exist."


def test_get_accepts_a_pk_given_as_text_like_the_orm():
    payment = PaymentFactory()
    assert row_get(Payment, pk=str(payment.pk)).pk == payment.pk


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (Payment, "status"),  # a plain column
        (Payment, "webhook_events"),  # a reverse foreign key
        (Customer, "referrals"),  # a reverse foreign key to self
        (Tariff, "eligible_nodes"),  # many-to-many
        (Node, "tariffs"),  # the reverse of a many-to-many
    ],
)
def test_get_refuses_a_related_name_that_is_not_a_forward_foreign_key(model, name, plans):
    with pytest.raises(ValueError, match="is not a foreign key"):
        row_get(model, pk=1, related=(name,))
    assert plans == {}  # nothing cached for a refused shape


def test_get_a_one_to_one_primary_key_model():
    attempt = AccessAttempt.objects.create(
        user_agent="ua", username="op", get_data="", post_data="", failures_since_start=1
    )
    AccessAttemptExpiration.objects.create(access_attempt=attempt, expires_at=WHEN)
    got = row_get(AccessAttemptExpiration, pk=attempt.pk, related=("access_attempt",))
    assert got.expires_at == WHEN
    assert_same_as_orm(got, AccessAttemptExpiration, attempt.pk, ("access_attempt",))


def test_get_a_one_to_one_caches_the_reverse_side_like_the_orm(django_assert_num_queries):
    attempt = AccessAttempt.objects.create(
        user_agent="ua", username="op", get_data="", post_data="", failures_since_start=1
    )
    AccessAttemptExpiration.objects.create(access_attempt=attempt, expires_at=WHEN)
    orm = AccessAttemptExpiration.objects.select_related("access_attempt").get(pk=attempt.pk)
    with django_assert_num_queries(0):
        assert orm.access_attempt.expiration is orm
    got = row_get(AccessAttemptExpiration, pk=attempt.pk, related=("access_attempt",))
    with django_assert_num_queries(0):
        assert got.access_attempt.expiration is got


def test_get_accepts_related_and_defer_as_generators(django_assert_num_queries):
    payment = PaymentFactory(description="text")
    got = row_get(
        Payment,
        pk=payment.pk,
        related=(name for name in ["customer"]),
        defer=(name for name in ["description"]),
    )
    assert got.get_deferred_fields() == {"description"}
    with django_assert_num_queries(0):
        assert got.customer.pk == payment.customer_id


def test_get_lock_inside_atomic_equals_the_orm_locked_read(django_assert_num_queries):
    payment = PaymentFactory()
    with transaction.atomic(), django_assert_num_queries(1) as captured:
        got = row_get(Payment, pk=payment.pk, related=("customer", "tariff"), lock=True)
        assert got.customer.pk == payment.customer_id
    assert_same_as_orm(got, Payment, payment.pk, ("customer", "tariff"))
    [statement] = sqls(captured)
    if connection.features.has_select_for_update:
        assert statement.endswith(' FOR UPDATE OF "billing_payment"')
    else:  # SQLite: no row locks, no error
        assert "FOR UPDATE" not in statement


@pytest.mark.postgres
def test_get_lock_sql_is_what_the_orm_sends(on_postgres):
    payment = PaymentFactory()
    with CaptureQueriesContext(connection) as captured:
        row_get(Payment, pk=payment.pk, related=("customer", "tariff"), lock=True)
        Payment.objects.select_related("customer", "tariff").select_for_update(of=("self",)).get(
            pk=payment.pk
        )
        row_get(Payment, pk=payment.pk, related=("customer", "tariff"))
    ours, theirs, unlocked = sqls(captured)
    assert ours.endswith('FOR UPDATE OF "billing_payment"')
    assert theirs.endswith('FOR UPDATE OF "billing_payment"')
    assert "FOR UPDATE" not in unlocked
    assert ours.count('"accounts_customer"') == 1  # joined, never named in OF


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_get_lock_outside_a_transaction_raises_like_the_orm_on_postgres(on_postgres):
    payment = PaymentFactory()
    with pytest.raises(TransactionManagementError):
        Payment.objects.select_for_update(of=("self",)).get(pk=payment.pk)
    with CaptureQueriesContext(connection) as captured, pytest.raises(TransactionManagementError):
        row_get(Payment, pk=payment.pk, related=("customer",), lock=True)
    assert sqls(captured) == []  # refused before anything is sent
    assert row_get(Payment, pk=payment.pk).pk == payment.pk  # without the lock it is fine


@pytest.mark.django_db(transaction=True)
def test_get_lock_outside_a_transaction_is_a_no_op_on_sqlite():
    if connection.features.has_select_for_update:
        pytest.skip("SQLite only: a backend without row locks takes none and raises nothing")
    payment = PaymentFactory()
    # The ORM does the same: no lock, no TransactionManagementError.
    assert Payment.objects.select_for_update(of=("self",)).get(pk=payment.pk) == payment
    got = row_get(Payment, pk=payment.pk, related=("customer",), lock=True)
    assert_same_as_orm(got, Payment, payment.pk, ("customer",))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_get_lock_holds_the_row_but_not_the_related_rows(on_postgres):
    payment = PaymentFactory()

    def lock_payment():
        return Payment.objects.select_for_update(nowait=True).get(pk=payment.pk).pk

    def lock_customer():
        return Customer.objects.select_for_update(nowait=True).get(pk=payment.customer_id).pk

    def lock_tariff():
        return Tariff.objects.select_for_update(nowait=True).get(pk=payment.tariff_id).pk

    with transaction.atomic():
        got = row_get(Payment, pk=payment.pk, related=("customer", "tariff"), lock=True)
        assert got.customer.pk == payment.customer_id
        _, error = other_connection(lock_payment)
        assert isinstance(error, OperationalError)
        assert "could not obtain lock" in str(error)
        assert other_connection(lock_customer) == (payment.customer_id, None)
        assert other_connection(lock_tariff) == (payment.tariff_id, None)
    # Committed: the lock is gone.
    assert other_connection(lock_payment) == (payment.pk, None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_get_without_lock_holds_nothing(on_postgres):
    payment = PaymentFactory()
    with transaction.atomic():
        row_get(Payment, pk=payment.pk, related=("customer",))
        value, error = other_connection(
            lambda: Payment.objects.select_for_update(nowait=True).get(pk=payment.pk).pk
        )
    assert (value, error) == (payment.pk, None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_get_self_join_lock_holds_only_the_main_row(on_postgres):
    """Customer.referred_by joins the same table: OF names the main one, not the referrer."""
    referrer = CustomerFactory()
    referred = CustomerFactory(referred_by=referrer)

    def nowait(pk):
        return lambda: Customer.objects.select_for_update(nowait=True).get(pk=pk).pk

    with transaction.atomic():
        got = row_get(Customer, pk=referred.pk, related=("referred_by",), lock=True)
        assert got.referred_by.pk == referrer.pk
        assert other_connection(nowait(referrer.pk)) == (referrer.pk, None)
        _, error = other_connection(nowait(referred.pk))
        assert isinstance(error, DatabaseError)


# --- signals -----------------------------------------------------------------------------------


def test_insert_sends_pre_and_post_save(listen, customer, tariff):
    calls = listen(Payment)
    payment = row_insert(PaymentFactory.build(customer=customer, tariff=tariff))
    assert [name for name, _ in calls] == ["pre_save", "post_save"]
    (_, pre), (_, post) = calls
    assert pre["instance"] is post["instance"] is payment
    assert pre["pk"] is None  # sent before the row exists
    assert post["pk"] == payment.pk
    assert pre["update_fields"] is None
    assert post["update_fields"] is None
    assert post["created"] is True
    assert "created" not in pre
    assert pre["raw"] is post["raw"] is False
    assert pre["using"] == post["using"] == "default"


def test_insert_signals_match_the_orms(listen, customer, tariff):
    calls = listen(Payment)
    PaymentFactory.build(customer=customer, tariff=tariff).save(force_insert=True)
    theirs = without_instance(calls)
    calls.clear()
    row_insert(PaymentFactory.build(customer=customer, tariff=tariff))
    assert without_instance(calls) == theirs


def test_a_pre_save_receiver_can_still_change_what_is_inserted(customer, tariff):
    def stamp(sender, instance, **kwargs):
        instance.description = "set by a receiver"

    signals.pre_save.connect(stamp, sender=Payment)
    try:
        payment = row_insert(PaymentFactory.build(customer=customer, tariff=tariff))
        payment.status = PaymentStatus.FAILED
        row_update(payment, ["status"])
    finally:
        signals.pre_save.disconnect(stamp, sender=Payment)
    assert Payment.objects.get(pk=payment.pk).description == "set by a receiver"


def test_update_sends_pre_and_post_save_with_update_fields(listen, customer, tariff):
    payment = PaymentFactory(customer=customer, tariff=tariff)
    calls = listen(Payment)
    payment.status = PaymentStatus.FAILED
    row_update(payment, ["status", "updated_at"])
    assert [name for name, _ in calls] == ["pre_save", "post_save"]
    (_, pre), (_, post) = calls
    assert pre["instance"] is post["instance"] is payment
    assert pre["update_fields"] == post["update_fields"] == frozenset({"status", "updated_at"})
    assert isinstance(post["update_fields"], frozenset)
    assert post["created"] is False
    assert "created" not in pre
    assert pre["raw"] is post["raw"] is False
    assert pre["using"] == post["using"] == "default"

    calls.clear()
    payment.save(update_fields=["status", "updated_at"])
    theirs = without_instance(calls)
    calls.clear()
    row_update(payment, ["status", "updated_at"])
    assert without_instance(calls) == theirs


def test_a_failed_update_sends_no_post_save(listen, customer, tariff):
    payment = PaymentFactory(customer=customer, tariff=tariff)
    Payment.objects.filter(pk=payment.pk).delete()
    calls = listen(Payment)
    with pytest.raises(DatabaseError):
        row_update(payment, ["status"])
    assert [name for name, _ in calls] == ["pre_save"]


def test_a_receiver_of_another_model_hears_nothing(listen, customer, tariff):
    calls = listen(Subscription)
    payment = row_insert(PaymentFactory.build(customer=customer, tariff=tariff))
    row_update(payment, ["status"])
    row_get(Payment, pk=payment.pk)
    assert calls == []


def test_without_receivers_nothing_is_sent(monkeypatch, customer, tariff):
    assert not signals.pre_save.has_listeners(Payment)
    assert not signals.post_save.has_listeners(Payment)
    sent = []
    monkeypatch.setattr(signals.pre_save, "send", lambda *a, **kw: sent.append(kw))
    monkeypatch.setattr(signals.post_save, "send", lambda *a, **kw: sent.append(kw))
    payment = row_insert(PaymentFactory.build(customer=customer, tariff=tariff))
    payment.status = PaymentStatus.FAILED
    row_update(payment, ["status"])
    assert sent == []
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.FAILED


# --- plan cache --------------------------------------------------------------------------------


def test_get_builds_its_statement_once_per_shape(plans, monkeypatch):
    payment = PaymentFactory()
    built = []
    original = sql_module._select_plan

    def spy(*args, **kwargs):
        built.append(args[1:])
        return original(*args, **kwargs)

    monkeypatch.setattr(sql_module, "_select_plan", spy)
    for _ in range(3):
        row_get(Payment, pk=payment.pk, related=("customer", "tariff"))
    assert len(built) == 1
    row_get(Payment, pk=payment.pk, related=("customer",))
    row_get(Payment, pk=payment.pk, related=("customer", "tariff"), defer=("description",))
    with transaction.atomic():
        row_get(Payment, pk=payment.pk, related=("customer", "tariff"), lock=True)
        row_get(Payment, pk=payment.pk, related=("customer", "tariff"), lock=True)
    row_get(Payment, pk=payment.pk, related=("customer", "tariff"))
    assert len(built) == 4
    assert sorted(key[2:] for key in plans if key[0] == "get") == [
        (("customer",), (), False),
        (("customer", "tariff"), (), False),
        (("customer", "tariff"), (), True),
        (("customer", "tariff"), ("description",), False),
    ]


def test_writes_build_their_statement_once_per_shape(plans, customer, tariff):
    row_insert(PaymentFactory.build(customer=customer, tariff=tariff))
    assert len(plans) == 1
    insert_plan = plans[("insert", Payment, True)]
    payment = row_insert(PaymentFactory.build(customer=customer, tariff=tariff))
    assert plans[("insert", Payment, True)] is insert_plan
    row_update(payment, ["status"])
    row_update(payment, ["status"])
    assert len(plans) == 2
    row_update(payment, ["status", "updated_at"])
    row_update(payment, ["updated_at", "status"])  # another order is another statement
    assert set(plans) == {
        ("insert", Payment, True),
        ("update", Payment, ("status",)),
        ("update", Payment, ("status", "updated_at")),
        ("update", Payment, ("updated_at", "status")),
    }


def test_a_cached_statement_binds_new_values_each_time(customer, tariff):
    first, second = PaymentFactory.create_batch(2, customer=customer, tariff=tariff)
    first.description, second.description = "one", "two"
    row_update(first, ["description"])
    row_update(second, ["description"])
    assert dict(Payment.objects.values_list("pk", "description")) == {
        first.pk: "one",
        second.pk: "two",
    }
    assert row_get(Payment, pk=first.pk).description == "one"
    assert row_get(Payment, pk=second.pk).description == "two"


def test_a_statement_is_cached_per_connection(plans):
    """Another thread has its own connection, so its own plans (and its own vendor)."""
    payment = PaymentFactory()
    row_get(Payment, pk=payment.pk, related=("customer",))
    assert ("get", Payment, ("customer",), (), False) in plans

    seen = {}

    def other_thread():
        seen["plans"] = dict(connections["default"].__dict__.get(sql_module._PLANS, {}))

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(timeout=10)
    assert seen["plans"] == {}


# --- rows_where: the rows of one parent -------------------------------------------------------


def test_rows_where_equals_the_related_manager_query_in_order(django_assert_num_queries):
    subscription = SubscriptionFactory()
    nodes = NodeFactory.create_batch(3)
    made = [NodeClientFactory(subscription=subscription, node=node) for node in reversed(nodes)]
    NodeClientFactory()  # another subscription's key
    expected = list(
        subscription.keys.select_related("node")
        .defer("node__panel_password", "node__panel_api_token")
        .order_by("pk")
    )
    with django_assert_num_queries(1):
        got = rows_where(
            NodeClient,
            field="subscription",
            value=subscription.pk,
            related=("node",),
            defer=("node__panel_password", "node__panel_api_token"),
            known={"subscription": subscription},
        )
        assert [key.pk for key in got] == sorted(key.pk for key in made)
        assert all(key.subscription is subscription for key in got)  # cached, no query
        assert [key.node.name for key in got] == [key.node.name for key in expected]
    for ours, theirs in zip(got, expected, strict=True):
        assert values(ours) == values(theirs)
        assert ours.node.get_deferred_fields() == theirs.node.get_deferred_fields()
        assert ours.node.get_deferred_fields() == {"panel_password", "panel_api_token"}
        loaded = [f.attname for f in Node._meta.concrete_fields if f.attname in ours.node.__dict__]
        assert {name: getattr(ours.node, name) for name in loaded} == {
            name: getattr(theirs.node, name) for name in loaded
        }
    stored = Node.objects.get(pk=got[0].node_id).panel_password
    with django_assert_num_queries(1):  # a deferred field loads on access, as with the ORM
        assert got[0].node.panel_password == stored


def test_rows_where_without_rows_is_an_empty_list(django_assert_num_queries):
    subscription = SubscriptionFactory()
    with django_assert_num_queries(1):
        assert rows_where(NodeClient, field="subscription", value=subscription.pk) == []


def test_rows_where_without_known_leaves_the_parent_to_load_on_access(
    django_assert_num_queries,
):
    key = NodeClientFactory()
    [got] = rows_where(NodeClient, field="subscription", value=key.subscription_id)
    with django_assert_num_queries(1):
        assert got.subscription.pk == key.subscription_id


def test_rows_where_on_a_plain_column(customer, tariff):
    _first, second = PaymentFactory.create_batch(2, customer=customer, tariff=tariff)
    second.description = "needle"
    second.save(update_fields=["description"])
    got = rows_where(Payment, field="description", value="needle", related=("customer",))
    assert [payment.pk for payment in got] == [second.pk]
    assert got[0].customer == customer


@pytest.mark.parametrize("field", ["payments", "keys"])
def test_rows_where_refuses_what_is_not_a_column(field):
    model = Customer if field == "payments" else Subscription
    with pytest.raises(ValueError, match="not a column"):
        rows_where(model, field=field, value=1)


def test_rows_where_builds_its_statement_once(plans, django_assert_num_queries):
    key = NodeClientFactory()
    for _ in range(3):
        rows_where(NodeClient, field="subscription", value=key.subscription_id, related=("node",))
    assert len([k for k in plans if k[0] == "where"]) == 1


# --- rows_insert: several new rows, one statement ---------------------------------------------


def test_rows_insert_is_one_statement_and_reads_back_like_the_orm(
    customer, django_assert_num_queries
):
    rows = [
        AuditLog(
            event_type=AuditEvent.PAYMENT_PAID,
            customer=customer,
            object_type="billing.payment",
            object_id=str(n),
            message=f"row {n}",
            extra_data={"n": n, "amount": "299.00"},
        )
        for n in range(3)
    ]
    with django_assert_num_queries(1):
        returned = rows_insert(rows)
    assert returned == rows
    assert len({row.pk for row in rows}) == 3  # three rows, each with its own key
    for n, row in enumerate(rows):
        assert row._state.adding is False
        assert row._state.db == "default"
        stored = AuditLog.objects.get(pk=row.pk)
        assert (stored.message, stored.extra_data, stored.customer_id) == (
            f"row {n}",
            {"n": n, "amount": "299.00"},
            customer.pk,
        )
        assert stored.event_time == row.event_time


def test_rows_insert_of_nothing_and_of_one(customer, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert rows_insert([]) == []
    row = AuditLog(event_type=AuditEvent.PAYMENT_PAID, message="alone")
    with django_assert_num_queries(1):
        rows_insert([row])
    assert AuditLog.objects.get(pk=row.pk).message == "alone"


def test_rows_insert_refuses_mixed_models_and_rows_with_keys(customer):
    with pytest.raises(ValueError, match="one model"):
        rows_insert([AuditLog(event_type=AuditEvent.PAYMENT_PAID), CustomerFactory.build()])
    with pytest.raises(ValueError, match="without primary keys"):
        rows_insert(
            [AuditLog(event_type=AuditEvent.PAYMENT_PAID), AuditLog(pk=10**9, event_type="x")]
        )
    assert not AuditLog.objects.exists()


def test_rows_insert_builds_one_plan_per_row_count(plans):
    for count in (2, 2, 3):
        rows_insert([AuditLog(event_type=AuditEvent.PAYMENT_PAID) for _ in range(count)])
    assert sorted(key[2] for key in plans if key[0] == "insert-many") == [2, 3]


# --- what core.sql refuses rather than do differently from the ORM ----------------------------


def test_expressions_are_refused_before_any_query(customer, tariff, django_assert_num_queries):
    from django.db.models import F

    payment = PaymentFactory(customer=customer, tariff=tariff)
    payment.days_credited = F("days_credited") + 5
    with django_assert_num_queries(0), pytest.raises(ValueError, match="plain values"):
        row_update(payment, ["days_credited"])


@pytest.mark.parametrize(
    ("defer", "error"),
    [
        (("nope",), "no field named"),
        (("customer",), "deferred and loaded"),
        (("node__name",), "not in related"),
    ],
)
def test_get_refuses_defer_names_the_orm_refuses(defer, error):
    from django.core.exceptions import FieldDoesNotExist

    payment = PaymentFactory()
    with pytest.raises((ValueError, FieldDoesNotExist), match=error):
        row_get(Payment, pk=payment.pk, related=("customer",), defer=defer)


def test_get_defers_by_attname_like_the_orm():
    payment = PaymentFactory()
    got = row_get(Payment, pk=payment.pk, defer=("subscription_id",))
    assert got.get_deferred_fields() == {"subscription_id"}


def test_rows_where_refuses_none():
    with pytest.raises(ValueError, match="None"):
        rows_where(NodeClient, field="subscription", value=None)


def test_rows_where_orders_by_primary_key(django_assert_num_queries):
    key = NodeClientFactory()
    with CaptureQueriesContext(connection) as captured:
        rows_where(NodeClient, field="subscription", value=key.subscription_id)
    assert (
        captured.captured_queries[0]["sql"]
        .rstrip()
        .endswith('ORDER BY "nodes_nodeclient"."id" ASC')
    )
