"""Test harness: a real server on a real database, reached over real HTTP.

- The database is SQLite (a fresh file) unless `FIDELIS_TEST_DATABASE_URL` names a PostgreSQL
  server, in which case a fresh database `fidelis_test_<pid>` is created there. The schema
  comes from the Alembic migrations, never from `create_all`.
- One `fidelis` app runs under uvicorn in a background thread for the whole session; tests talk
  to it with httpx, so requests cross the real HTTP stack and can run truly in parallel.
- Every test gets two fresh tenants (`tenant`, `other_tenant`), so tests never share data and a
  missing tenant filter shows up as a failure. After each test the ledger of every tenant the
  test created is checked (`fidelis ledger check`'s own code) and must be clean.
- `clock` is the server's source of `now`; tests move it instead of patching anything.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url

from fidelis.api.wire import HttpProtocol
from fidelis.app import create_app
from fidelis.config import Settings
from fidelis.db.engine import Database
from fidelis.db.migrate import upgrade_to_head
from fidelis.kit.clock import utc_now
from fidelis.ledger import check as ledger_check
from fidelis.tenant import repository as tenant_repository
from fidelis.tenant import service as tenant_service
from fidelis.throttle import service as throttle

T = TypeVar("T")

# The admin console's password on the test server (the console is off without one).
ADMIN_PASSWORD = "console-test-password"


class Clock:
    """The server's clock: real time plus an offset that tests can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)

    def reset(self) -> None:
        self.offset = timedelta(0)


def _postgres_admin(url: str, *statements: str) -> None:
    """Run statements on the maintenance database of the server `url` points at."""
    import asyncpg

    parsed = make_url(url)

    async def run() -> None:
        conn = await asyncpg.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            password=parsed.password,
            database=parsed.database or "postgres",
        )
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@contextmanager
def empty_database(prefix: str) -> Iterator[str]:
    """A new, empty database of the kind the suite runs on (PostgreSQL when
    `FIDELIS_TEST_DATABASE_URL` names one, else a SQLite file), dropped afterwards."""
    configured = os.environ.get("FIDELIS_TEST_DATABASE_URL")
    if configured and make_url(configured).get_backend_name() == "postgresql":
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        _postgres_admin(configured, f'CREATE DATABASE "{name}"')
        try:
            yield make_url(configured).set(database=name).render_as_string(hide_password=False)
        finally:
            _postgres_admin(configured, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as folder:
        yield f"sqlite:///{Path(folder) / 'fidelis.db'}"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with empty_database("fidelis_test") as url:
        upgrade_to_head(url)
        yield url


def execute(server: Server, sql: str, **params: Any) -> int:
    """Run raw SQL in one write transaction (to break data behind the application's back, and
    mend it); returns the number of rows it touched."""

    async def work(db: Database) -> int:
        async with db.write() as conn:
            result = await conn.execute(text(sql), params)
            return int(result.rowcount)

    return run_async(server.database_url, work)


def run_async(database_url: str, work: Callable[[Database], Coroutine[Any, Any, T]]) -> T:
    """Run `work` against the test database from synchronous test code."""

    async def main() -> T:
        db = Database(database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


@dataclass
class Server:
    base_url: str
    database_url: str
    clock: Clock
    app: Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server(database_url: str) -> Iterator[Server]:
    clock = Clock()
    # Tests send thousands of bad credentials from 127.0.0.1 on purpose: throttling has its own
    # servers with a low limit (tests/test_throttle.py).
    settings = Settings(
        database_url=database_url,
        db_pool_size=30,
        admin_password=ADMIN_PASSWORD,
        auth_failures_per_minute=1_000_000,
    )
    app = create_app(settings, clock=clock)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        loop="asyncio",
        # The HTTP protocol `fidelis serve` runs (httptools, each response in one write), so
        # hostile bytes meet the parser production meets (h11 refuses some that httptools
        # passes on to the app) and every answer the writes production makes.
        http=HttpProtocol,
        limit_concurrency=1000,
        backlog=2048,
    )
    with serving(config):
        yield Server(f"http://127.0.0.1:{port}", database_url, clock, app)


@contextmanager
def serving(config: uvicorn.Config) -> Iterator[None]:
    """uvicorn serving `config` in a background thread, from started to stopped."""
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not uv.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        yield
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


@dataclass
class TenantHandle:
    """A tenant created for one test, with a ready HTTP client authenticated as it."""

    id: int
    slug: str
    api_token: str
    api_key: str
    base_url: str
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.api_token, self.api_key)

    def client(self, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(base_url=self.base_url, auth=self.auth, timeout=60, **kwargs)
        self._clients.append(client)
        return client

    @property
    def http(self) -> httpx.Client:
        if not self._clients:
            self.client()
        return self._clients[0]

    def close(self) -> None:
        for client in self._clients:
            client.close()


@pytest.fixture
def make_tenant(server: Server) -> Iterator[Callable[[], TenantHandle]]:
    created: list[TenantHandle] = []

    def make() -> TenantHandle:
        slug = f"t-{uuid.uuid4().hex[:12]}"

        async def work(db: Database) -> TenantHandle:
            async with db.write() as conn:
                credentials = await tenant_service.create(
                    conn, slug=slug, name=f"Loja {slug}", now=utc_now()
                )
                found = await tenant_repository.get_by_slug(conn, slug)
            assert found is not None
            return TenantHandle(
                found.id, slug, credentials.api_token, credentials.api_key, server.base_url
            )

        handle = run_async(server.database_url, work)
        created.append(handle)
        return handle

    yield make

    server.clock.reset()
    for handle in created:
        handle.close()
    violations = check_ledger(server.database_url, [h.id for h in created])
    assert violations == [], "ledger invariants broken after the test"


def check_ledger(database_url: str, tenant_ids: list[int]) -> list[ledger_check.Violation]:
    async def work(db: Database) -> list[ledger_check.Violation]:
        found: list[ledger_check.Violation] = []
        async with db.read() as conn:
            for tenant_id in tenant_ids:
                found += await ledger_check.check_tenant(conn, tenant_id)
        return found

    return run_async(database_url, work)


@pytest.fixture
def tenant(make_tenant: Callable[[], TenantHandle]) -> TenantHandle:
    return make_tenant()


@pytest.fixture
def other_tenant(make_tenant: Callable[[], TenantHandle]) -> TenantHandle:
    return make_tenant()


@pytest.fixture
def clock(server: Server) -> Clock:
    return server.clock


# --- helpers used by many tests ----------------------------------------------------------------


def upsert(tenant: TenantHandle, original_id: str, **fields: Any) -> dict[str, Any]:
    response = tenant.http.post(
        "/v1/pvt/Customer/upsert", json={"OriginalId": original_id, **fields}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["Result"]
    return result


def add_points(tenant: TenantHandle, customer: str, points: int, **fields: Any) -> httpx.Response:
    body = {"Points": points, "OperationType": 0 if points > 0 else 1, "Reason": "test", **fields}
    return tenant.http.post(f"/v1/pvt/Customer/{customer}/points", json=body)


def points_of(tenant: TenantHandle, customer: str) -> dict[str, Any]:
    response = tenant.http.get(f"/v1/pvt/Customer/{customer}/points")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def forget_failures_of_this_machine(server: Server) -> None:
    """Tests fail logins from 127.0.0.1 on purpose (the in-process test server allows it); a
    test that starts its own server with the default limit starts from a clean count."""

    async def work(db: Database) -> None:
        async with db.write() as conn:
            limit = throttle.Limit("api", 1, timedelta(minutes=1))
            await throttle.forget(conn, limit, "127.0.0.1")

    run_async(server.database_url, work)


def run_jobs_once(server: Server) -> None:
    """One pass of `fidelis jobs run` in its own process, at the server's current (moved) time."""
    env = {**os.environ, "FIDELIS_DATABASE_URL": server.database_url}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fidelis",
            "jobs",
            "run",
            "--once",
            "--now",
            server.clock().isoformat(),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
