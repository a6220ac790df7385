"""Rows the worker writes for every message, with SQL compiled once.

Django compiles an INSERT or an UPDATE anew for every `create()` and
`save()`. For a Message's 36 columns that was about half of a stored
message's CPU in the worker (docs/performance.md, "The worker takes
deliveries in batches"). `insert` and `update` write the same row as
`save()` would, from a statement compiled once per model (and per set of
columns): each value comes from its field's `pre_save` (so `auto_now` and
`auto_now_add` hold) and `get_db_prep_save`, as Django's compiler does.

What they leave out, on purpose: `save()`'s signals (nothing in Réactif
listens to a model's save; tests/test_rows.py checks it for the models
written here), its check of unsaved related objects (the caller passes
stored ones), and database defaults (no model written here has one: compiling
such a model fails loudly).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models


def _quoted(field: models.Field) -> str:
    if field.column is None:  # a field with no column of its own (never a concrete one)
        raise TypeError(f"{field} has no column")
    return connection.ops.quote_name(field.column)


@cache
def _insert_sql(model: type[models.Model], skip_stored: bool) -> tuple[str, tuple[models.Field, ...]]:
    meta = model._meta
    fields = tuple(f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated)
    if any(f.has_db_default() for f in fields):
        raise TypeError(f"{model.__name__} has a database default: write it with save()")
    columns = ", ".join(_quoted(f) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608 - model names, values bound  # nosec B608 - model names, values bound
        f"{'ON CONFLICT DO NOTHING ' if skip_stored else ''}RETURNING {_quoted(meta.pk)}",
        fields,
    )


def insert(row: models.Model, *, skip_stored: bool = False) -> bool:
    """INSERT a new row, as `row.save()` would; sets its primary key.

    `skip_stored`: a row that one of the model's unique constraints says is
    stored already (committed by another transaction, which the INSERT
    waits for) is not inserted, and no IntegrityError is raised: returns
    False, and `row` stays unsaved."""
    sql, fields = _insert_sql(type(row), skip_stored)
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the `connection` proxy looks it up again
    values = [field.get_db_prep_save(field.pre_save(row, True), db) for field in fields]
    with db.cursor() as cursor:
        cursor.execute(sql, values)
        returned = cursor.fetchone()
    if returned is None:
        return False
    (row.pk,) = returned
    row._state.adding = False
    row._state.db = db.alias
    return True


@cache
def _update_sql(model: type[models.Model], names: tuple[str, ...]) -> tuple[str, tuple[models.Field, ...]]:
    meta = model._meta
    fields = tuple(meta.get_field(name) for name in names)
    if not all(isinstance(f, models.Field) and f.concrete for f in fields):
        raise TypeError(f"{model.__name__}: only concrete fields can be updated, not {names}")
    assignments = ", ".join(f"{_quoted(f)} = %s" for f in fields)  # type: ignore[arg-type]
    return (
        f"UPDATE {connection.ops.quote_name(meta.db_table)} SET {assignments} WHERE {_quoted(meta.pk)} = %s",  # noqa: S608 - model names, values bound  # nosec B608 - model names, values bound
        fields,  # type: ignore[return-value]
    )


def update(row: models.Model, fields: Sequence[str]) -> None:
    """UPDATE the named columns of a stored row, as `row.save(update_fields=…)`
    would (an `auto_now` field among them takes the time now)."""
    names = tuple(dict.fromkeys(fields))
    sql, model_fields = _update_sql(type(row), names)
    db = connections[DEFAULT_DB_ALIAS]
    values = [field.get_db_prep_save(field.pre_save(row, False), db) for field in model_fields]
    with db.cursor() as cursor:
        cursor.execute(sql, [*values, row.pk])
        if cursor.rowcount != 1:
            # What save(update_fields=…) raises for a row that is gone.
            raise DatabaseError("Save with update_fields did not affect any rows.")
