"""Single-row statements built once per shape from the model's meta, for the hot paths.

Django compiles a queryset's SQL again on every call. On a payment notification's credit
that compilation costs more than PostgreSQL spends running the statement: measured on the
development machine, a locking ``select_related`` lookup of one payment took 1.1-1.4 ms of
CPU through the ORM against 0.18 ms for the same SQL, an insert 0.26 against 0.10, an
update 0.27 against 0.09. These helpers build each statement's text once per connection,
model and field list, then only bind values. Nothing else changes:

- values are written through each field's ``pre_save`` (``auto_now`` stamps) and
  ``get_db_prep_save``, as Django's own insert and update do;
- rows are read through the backend's and each field's converters (``from_db_value``: JSON,
  encrypted fields, SQLite's datetimes) and built with ``Model.from_db``;
- ``pre_save``/``post_save`` signals are sent when something listens to them;
- the statements run on ``connection.cursor()``, so query logging, ``execute_wrapper`` and
  the test suite's query counts see them.

Table and column names come from the model's meta and are quoted by the backend; values
are always bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError, NotSupportedError, connections, router, transaction
from django.db.models import NOT_PROVIDED, Model, signals
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)

_PLANS = "_vpnsite_sql_plans"


def _plans(connection) -> dict:
    """Statement plans live on the connection: its vendor decides the SQL and converters."""
    return connection.__dict__.setdefault(_PLANS, {})


# --- writes ----------------------------------------------------------------------------------


def row_insert(instance: M, *, using: str | None = None) -> M:
    """``instance.save(force_insert=True)`` as one ``INSERT ... RETURNING pk``.

    Every concrete field is written (an auto primary key is left to the database and set on
    the instance from RETURNING). Raises what the database raises (``IntegrityError``...).
    """
    model = type(instance)
    alias = using or router.db_for_write(model, instance=instance)
    connection = connections[alias]
    meta = model._meta
    auto_pk = meta.pk.primary_key and instance.pk is None and meta.pk.db_returning
    key = ("insert", model, auto_pk)
    plan = _plans(connection).get(key)
    if plan is None:
        quote = connection.ops.quote_name
        _single_table(model)
        fields = [f for f in meta.concrete_fields if not (auto_pk and f is meta.pk)]
        _writable(model, fields)
        columns = ", ".join(quote(f.column) for f in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
        if auto_pk and connection.features.can_return_columns_from_insert:
            sql += f" RETURNING {quote(meta.pk.column)}"
        plan = _plans(connection)[key] = (sql, fields, _relations(fields))
    sql, fields, relations = plan
    # As save(): an unsaved related object refuses, one saved after assignment lends its key.
    _related_prepare(instance, fields, relations)
    _send(signals.pre_save, instance, alias, created=None)
    params = [
        f.get_db_prep_save(_plain(f.pre_save(instance, add=True)), connection) for f in fields
    ]
    with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
        if auto_pk:
            if connection.features.can_return_columns_from_insert:
                (pk,) = cursor.fetchone()
            else:
                pk = connection.ops.last_insert_id(cursor, meta.db_table, meta.pk.column)
            setattr(instance, meta.pk.attname, pk)
    instance._state.adding, instance._state.db = False, alias
    _send(signals.post_save, instance, alias, created=True)
    return instance


def rows_insert(instances: Sequence[M], *, using: str | None = None) -> list[M]:
    """``row_insert`` for several new rows of one model as one multi-row INSERT.

    Every instance must have no primary key yet (the database assigns them, in order).
    Backends that cannot return the keys of a multi-row insert insert one row at a time.
    """
    instances = list(instances)
    if not instances:
        return []
    model = type(instances[0])
    alias = using or router.db_for_write(model, instance=instances[0])
    connection = connections[alias]
    if len(instances) == 1 or not connection.features.can_return_rows_from_bulk_insert:
        return [row_insert(instance, using=alias) for instance in instances]
    meta = model._meta
    for instance in instances:
        if type(instance) is not model or instance.pk is not None:
            raise ValueError("rows_insert takes new rows of one model, without primary keys")
    key = ("insert-many", model, len(instances))
    plan = _plans(connection).get(key)
    if plan is None:
        quote = connection.ops.quote_name
        _single_table(model)
        fields = [f for f in meta.concrete_fields if f is not meta.pk]
        _writable(model, fields)
        columns = ", ".join(quote(f.column) for f in fields)
        row = "({})".format(", ".join(["%s"] * len(fields)))
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
            f"VALUES {', '.join([row] * len(instances))} RETURNING {quote(meta.pk.column)}"
        )
        plan = _plans(connection)[key] = (sql, fields, _relations(fields))
    sql, fields, relations = plan
    params = []
    for instance in instances:
        _related_prepare(instance, fields, relations)
        _send(signals.pre_save, instance, alias, created=None)
        params.extend(
            f.get_db_prep_save(_plain(f.pre_save(instance, add=True)), connection) for f in fields
        )
    with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
        pks = [pk for (pk,) in cursor.fetchall()]
    # PostgreSQL and SQLite return the keys of a VALUES list in its order.
    for instance, pk in zip(instances, sorted(pks), strict=True):
        setattr(instance, meta.pk.attname, pk)
        instance._state.adding, instance._state.db = False, alias
        _send(signals.post_save, instance, alias, created=True)
    return instances


def row_update(
    instance: Model, fields: Sequence[str], *, using: str | None = None, missing_ok: bool = False
) -> bool:
    """``instance.save(update_fields=fields)`` as one ``UPDATE ... WHERE pk = %s``.

    As with Django's, no fields is a no-op, a repeated name counts once, an instance without
    a primary key or a name that is not a concrete non-key field raises ``ValueError``
    before any query, and a row that is gone raises ``DatabaseError`` ("did not affect any
    rows") rather than passing silently -- unless ``missing_ok``, which returns False for it
    (``QuerySet.update``'s leniency). Returns whether a row was updated.
    """
    fields = tuple(dict.fromkeys(fields))
    if not fields:
        return False
    if instance.pk is None:
        raise ValueError("Cannot force an update in save() with no primary key.")
    model = type(instance)
    alias = using or router.db_for_write(model, instance=instance)
    connection = connections[alias]
    meta = model._meta
    key = ("update", model, fields)
    plan = _plans(connection).get(key)
    if plan is None:
        quote = connection.ops.quote_name
        targets = []
        for name in fields:
            try:
                field = meta.get_field(name)
            except FieldDoesNotExist:
                field = None
            if field is None or not field.concrete or field.primary_key or field.many_to_many:
                raise ValueError(
                    f"{meta.label}.{name} cannot be updated this way (not a concrete field "
                    "other than the primary key)"
                )
            targets.append(field)
        _single_table(model)
        _writable(model, targets)
        assignments = ", ".join(f"{quote(f.column)} = %s" for f in targets)
        sql = (
            f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608
            f"WHERE {quote(meta.pk.column)} = %s"
        )
        plan = _plans(connection)[key] = (sql, targets, _relations(targets))
    sql, targets, relations = plan
    _related_prepare(instance, targets, relations)
    _send(signals.pre_save, instance, alias, created=None, update_fields=frozenset(fields))
    params = [
        f.get_db_prep_save(_plain(f.pre_save(instance, add=False)), connection) for f in targets
    ]
    params.append(meta.pk.get_db_prep_value(instance.pk, connection))
    with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
        updated = cursor.rowcount > 0
        if not updated and not missing_ok:
            raise DatabaseError("Save with update_fields did not affect any rows.")
    if not updated:
        return False
    instance._state.adding, instance._state.db = False, alias
    _send(signals.post_save, instance, alias, created=False, update_fields=frozenset(fields))
    return True


def _relations(fields: Sequence) -> tuple:
    """The foreign keys among a statement's fields (kept in its plan)."""
    return tuple(f for f in fields if f.is_relation)


def _related_prepare(instance: Model, fields: Sequence, relations: Sequence) -> None:
    """What ``save()`` does with related objects assigned to the fields being written: an
    unsaved one refuses, one saved after assignment lends its key. Skipped when no related
    object is cached on them (most rows of a hot path carry plain ids). `relations`: the
    foreign keys among `fields`."""
    if any(f.is_cached(instance) for f in relations):
        instance._prepare_related_fields_for_save(operation_name="save", fields=frozenset(fields))


def _send(signal, instance: Model, alias: str, *, created: bool | None, update_fields=None):
    model = type(instance)
    if not signal.has_listeners(model):
        return
    extra = {} if created is None else {"created": created}
    signal.send(
        sender=model,
        instance=instance,
        raw=False,
        using=alias,
        update_fields=update_fields,
        **extra,
    )


# --- reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    """One model's slice of a joined row: where its columns are and how to build it."""

    model: type[Model]
    attnames: tuple[str, ...]
    start: int
    end: int
    converters: tuple[tuple[int, tuple, Any], ...]  # (column index, converters, expression)
    pk_index: int  # of the model's primary key within its slice
    via: Any = None  # the foreign key on the main model that caches this related row


def row_get(
    model: type[M],
    *,
    pk: Any,
    related: Iterable[str] = (),
    defer: Iterable[str] = (),
    lock: bool = False,
    using: str | None = None,
) -> M:
    """``model.objects.select_related(*related).get(pk=pk)``, optionally locked.

    ``related``: foreign keys of `model` loaded in the same statement (INNER JOIN when the
    key is required, LEFT OUTER JOIN when it may be null) and cached on the instance.
    ``defer``: fields left out (``"name"`` or ``"fk__name"``), loaded on access as usual.
    ``lock``: ``SELECT ... FOR UPDATE OF`` the main table only, as
    ``select_for_update(of=("self",))``; like it, a lock outside a transaction raises
    ``TransactionManagementError``, and backends without row locks (SQLite) take none.
    Raises ``model.DoesNotExist`` when there is no such row.
    """
    related, defer = tuple(related), tuple(defer)
    alias = using or (router.db_for_write(model) if lock else router.db_for_read(model))
    connection = connections[alias]
    if lock and connection.features.has_select_for_update and connection.get_autocommit():
        raise TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    key = ("get", model, related, defer, lock)
    plan = _plans(connection).get(key)
    if plan is None:
        plan = _plans(connection)[key] = _select_plan(
            connection, model, related, defer, lock=lock, where=model._meta.pk
        )
    sql, parts = plan
    with connection.cursor() as cursor:
        cursor.execute(sql, [model._meta.pk.get_db_prep_value(pk, connection)])
        row = cursor.fetchone()
    if row is None:
        raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
    return _instance(row, parts, alias, connection)


def rows_where(
    model: type[M],
    *,
    field: str,
    value: Any,
    related: Iterable[str] = (),
    defer: Iterable[str] = (),
    known: Mapping[str, Model] | None = None,
    using: str | None = None,
) -> list[M]:
    """``model.objects.filter(<field>=value).select_related(*related).defer(*defer)
    .order_by("pk")``, the rows of one parent.

    `field` is a concrete field of `model` (a foreign key takes the parent's id).
    ``known``: foreign keys whose object the caller already holds, e.g.
    ``{"subscription": subscription}``; it is cached on every row, as a related manager
    (``subscription.keys.all()``) does.
    """
    related, defer = tuple(related), tuple(defer)
    if value is None:
        raise ValueError("rows_where compares with =: a None value would match nothing")
    alias = using or router.db_for_read(model)
    connection = connections[alias]
    where = model._meta.get_field(field)
    key = ("where", model, field, related, defer)
    plan = _plans(connection).get(key)
    if plan is None:
        if not where.concrete or where.many_to_many:
            raise ValueError(f"{model._meta.label}.{field} is not a column to filter on")
        plan = _plans(connection)[key] = _select_plan(
            connection, model, related, defer, lock=False, where=where, order_by_pk=True
        )
    sql, parts = plan
    with connection.cursor() as cursor:
        cursor.execute(sql, [where.get_db_prep_value(value, connection)])
        rows = cursor.fetchall()
    instances = [_instance(row, parts, alias, connection) for row in rows]
    for name, obj in (known or {}).items():
        cache = model._meta.get_field(name)
        for instance in instances:
            cache.set_cached_value(instance, obj)
    return instances


def _instance(row: Sequence, parts: list[_Part], alias: str, connection) -> Any:
    """The main model's instance from one joined row, its related rows cached on it."""
    row = list(row)
    instance = None
    for part in parts:
        for index, converters, expression in part.converters:
            value = row[index]
            for converter in converters:
                value = converter(value, expression, connection)
            row[index] = value
        values = row[part.start : part.end]
        if part.via is None:
            instance = part.model.from_db(alias, part.attnames, values)
        elif values[part.pk_index] is None:
            part.via.set_cached_value(instance, None)  # a null key, LEFT JOINed
        else:
            related_instance = part.model.from_db(alias, part.attnames, values)
            part.via.set_cached_value(instance, related_instance)
            if part.via.unique:  # a one-to-one: the other side knows its partner, as in Django
                part.via.remote_field.set_cached_value(related_instance, instance)
    return instance


def _converters(connection, field, table_alias: str) -> tuple:
    expression = field.get_col(table_alias)
    return tuple(
        connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
    )


def _select_plan(
    connection, model, related, defer, *, lock: bool, where, order_by_pk: bool = False
) -> tuple[str, list[_Part]]:
    quote = connection.ops.quote_name
    meta = model._meta
    _single_table(model)
    features = connection.features
    if (
        lock
        and related
        and features.has_select_for_update
        and not features.has_select_for_update_of
    ):
        raise NotSupportedError("locking only the main row needs SELECT ... FOR UPDATE OF")
    deferred = _deferred_names(model, related, defer)
    table = quote(meta.db_table)
    sources: list[tuple[type[Model], str, Any]] = [(model, meta.db_table, None)]
    joins = []
    for number, name in enumerate(related):
        via = meta.get_field(name)
        if not (via.many_to_one or via.one_to_one) or not via.concrete:
            raise ValueError(f"{meta.label}.{name} is not a foreign key")
        _single_table(via.related_model)
        target = via.related_model
        join_alias = f"r{number}"
        kind = "LEFT OUTER JOIN" if via.null else "INNER JOIN"
        joins.append(
            f" {kind} {quote(target._meta.db_table)} {join_alias}"
            f" ON ({table}.{quote(via.column)} = {join_alias}.{quote(via.target_field.column)})"
        )
        sources.append((target, join_alias, via))
    columns: list[str] = []
    parts: list[_Part] = []
    for source_model, source_alias, via in sources:
        prefix = f"{via.name}__" if via is not None else ""
        fields = [
            f
            for f in source_model._meta.concrete_fields
            if f.primary_key or f"{prefix}{f.name}" not in deferred
        ]
        qualified = table if via is None else source_alias
        start = len(columns)
        columns.extend(f"{qualified}.{quote(f.column)}" for f in fields)
        converters = []
        for offset, field in enumerate(fields):
            found = _converters(connection, field, source_alias)
            if found:
                converters.append((start + offset, found, field.get_col(source_alias)))
        parts.append(
            _Part(
                model=source_model,
                attnames=tuple(f.attname for f in fields),
                start=start,
                end=len(columns),
                converters=tuple(converters),
                pk_index=[f.primary_key for f in fields].index(True),
                via=via,
            )
        )
    sql = (
        f"SELECT {', '.join(columns)} FROM {table}{''.join(joins)}"  # noqa: S608
        f" WHERE {table}.{quote(where.column)} = %s"
    )
    if order_by_pk:
        sql += f" ORDER BY {table}.{quote(meta.pk.column)} ASC"
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
        if connection.features.has_select_for_update_of:
            sql += f" OF {table}"
    return sql, parts


def _single_table(model: type[Model]) -> None:
    if model._meta.parents:
        raise ValueError(f"{model._meta.label} spans tables (inheritance): use the ORM")


def _writable(model: type[Model], fields: Iterable) -> None:
    for field in fields:
        if getattr(field, "generated", False) or field.db_default is not NOT_PROVIDED:
            raise ValueError(
                f"{model._meta.label}.{field.name} is computed by the database: use the ORM"
            )


def _plain(value: Any) -> Any:
    if hasattr(value, "resolve_expression"):
        raise ValueError(f"core.sql binds plain values, not expressions ({value!r}): use the ORM")
    return value


def _deferred_names(model: type[Model], related: tuple, defer: tuple) -> set[str]:
    """``defer`` as ``name`` / ``fk__name`` field names, checked as the ORM checks them."""
    names = set()
    for item in defer:
        owner, prefix, name = model, "", item
        if "__" in item:
            fk, name = item.split("__", 1)
            if fk not in related:
                raise ValueError(f"defer {item}: {fk} is not in related")
            owner, prefix = model._meta.get_field(fk).related_model, f"{fk}__"
        # FieldDoesNotExist for an unknown name; the primary key is never deferred.
        field = owner._meta.pk if name == "pk" else owner._meta.get_field(name)
        if not prefix and field.name in related:
            raise ValueError(f"{field.name} cannot be deferred and loaded with related")
        names.add(f"{prefix}{field.name}")
    return names
