"""The batch forms of locks and commits in fewer statements, their arrays built by plain
aggregates (`fidelis.ledger.pgfunctions.LOCK_MANY_V3`, `COMMIT_LOCK_MANY_V3`): the lock's
balances and lots read by one statement, each form's answer from its writes' `RETURNING`.
And every batch form (`CREDIT_MANY_V3` too) writes the rows it locked by their address alone,
and the credits' form looks a customer's debt up by its own key: planned on a new install's
small tables, a join on an id as well took a primary key that starts with the tenant, or the
balances' index by the account's kind alone, and read all of it for each row. PostgreSQL
only; SQLite has no batch forms.

Batches of five locks, then of their five commits, one client, called as the server calls
them: 374-401 us of PostgreSQL's time a purchase before, 345-359 after (four alternated runs
of 4 000 purchases each, asynchronous commits, so that the disk's flushes stay out). A session
that made its plans on a new database: 283 us a purchase at first, 483 after 5 400 purchases
before; flat after.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from fidelis.ledger import pgfunctions

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def _install(forms: list[tuple[str, str]]) -> None:
    for statement, name in forms:
        op.execute(statement)
        op.execute(pgfunctions.nested_loops_only(name))
        op.execute(pgfunctions.one_plan(name))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _install(
        [
            (pgfunctions.CREDIT_MANY_V3, "fidelis_credit_now_for_key_many"),
            (pgfunctions.LOCK_MANY_V3, "fidelis_lock_now_many"),
            (pgfunctions.COMMIT_LOCK_MANY_V3, "fidelis_commit_lock_now_many"),
        ]
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _install(
        [
            (pgfunctions.CREDIT_MANY_V2, "fidelis_credit_now_for_key_many"),
            (pgfunctions.LOCK_MANY_V2, "fidelis_lock_now_many"),
            (pgfunctions.COMMIT_LOCK_MANY_V2, "fidelis_commit_lock_now_many"),
        ]
    )
