"""Alembic environment: migrations run on a synchronous driver for the configured database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

from fidelis.db.tables import metadata


def _sync_url(url: str) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    # Migrations are rare and short: the async driver's sync shim is good enough, and it keeps
    # the dependency list to one PostgreSQL driver.
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def run_migrations_online() -> None:
    url = context.config.attributes["database_url"]
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(_sync_url(url), poolclass=pool.NullPool)
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        engine.dispose()
    else:
        _run_async(url)


def _run_async(url: str) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(_sync_url(url), poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(_do_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())


def _do_run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=metadata)  # type: ignore[arg-type]
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
