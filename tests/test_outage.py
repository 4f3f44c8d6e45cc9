"""Database outage: PostgreSQL stops under load and starts again.

The test runs its own throwaway PostgreSQL cluster (initdb into a temporary folder, as the
`postgres` user when run as root), so the shared server is never disturbed. A real
`fidelis serve` takes a load of points changes; the cluster is stopped with `-m immediate` (a
crash, no clean shutdown) and started again. While it is down, requests fail fast with the 503
envelope; afterwards the service recovers by itself, every acknowledged change is in the ledger,
nothing is half-written, and the ledger check is clean.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fidelis.db.engine import Database
from fidelis.ledger import check as ledger_check
from fidelis.tenant import repository as tenant_repository
from tests.faults import Load, ServeProcess, free_port

pytestmark = pytest.mark.slow

CUSTOMER = "outage@example.com"


class Cluster:
    """A private PostgreSQL cluster in a temporary folder."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            pytest.fail(
                "PostgreSQL server binaries (initdb, pg_ctl) are needed: they come with the "
                "PostgreSQL server the suite runs against (Debian: postgresql)"
            )
        self.bin = Path(found[-1]).parent
        self.folder = Path(tempfile.mkdtemp(prefix="fidelis-outage-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.folder, "postgres", "postgres")
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def run(self, tool: str, *args: str, check: bool = True) -> None:
        command = [str(self.bin / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if check:
            assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=100"
        )
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
                 "-w", "start")  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    made = Cluster()
    made.start()
    try:
        yield made
    finally:
        made.remove()


def fidelis(url: str, *args: str) -> str:
    env = {**os.environ, "FIDELIS_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "fidelis", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def ledger_violations(url: str, slug: str) -> list[Any]:
    async def work() -> list[Any]:
        db = Database(url)
        try:
            async with db.read() as conn:
                found = await tenant_repository.get_by_slug(conn, slug)
                assert found is not None
                return await ledger_check.check_tenant(conn, found.id)
        finally:
            await db.dispose()

    return asyncio.run(work())


def a_tenant(cluster: Cluster) -> tuple[str, tuple[str, str]]:
    """A database `fidelis` in the cluster with a tenant `loja`: its URL and credentials."""
    admin = subprocess.run(
        [str(cluster.bin / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U",
         "postgres", "fidelis"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert admin.returncode == 0, admin.stderr
    url = cluster.url("fidelis")
    created = json.loads(
        fidelis(url, "tenant", "create", "--slug", "loja", "--name", "L", "--json")
    )
    return url, (created["api_token"], created["api_key"])


def test_database_down_fails_fast_then_recovers_with_nothing_lost(
    cluster: Cluster, tmp_path: Path
) -> None:
    url, auth = a_tenant(cluster)
    serve = ServeProcess(url)  # the default settings: what the bar is about
    serve.start(tmp_path)
    attempted: list[tuple[str, int]] = []

    def step(client: httpx.Client, worker: int, n: int) -> Any:
        key, amount = f"outage-{worker}-{n}", 100 * worker + n
        attempted.append((key, amount))
        response = client.post(
            f"/v1/pvt/Customer/{CUSTOMER}/points",
            json={"Points": amount, "OperationType": 0, "Reason": "outage", "ChangeKey": key},
        )
        return key if response.status_code == 200 else None

    try:
        with httpx.Client(base_url=serve.base_url, auth=auth, timeout=30) as client:
            upsert = client.post("/v1/pvt/Customer/upsert", json={"OriginalId": CUSTOMER})
            assert upsert.status_code == 200, upsert.text
            load = Load(step, [serve.base_url], auth, workers=4, max_requests=10_000)
            load.start()
            try:
                load.wait_for(40)
                cluster.stop()
                # Down: every request answers, quickly, with the 503 envelope.
                for _ in range(3):
                    for method, path, body in (
                        ("GET", f"/v1/pvt/Customer/{CUSTOMER}/points", None),
                        ("POST", f"/v1/pvt/Customer/{CUSTOMER}/points",
                         {"Points": 1, "OperationType": 0, "Reason": "down"}),
                    ):  # fmt: skip
                        started = time.monotonic()
                        response = client.request(method, path, json=body)
                        elapsed = time.monotonic() - started
                        assert response.status_code == 503, response.text
                        answer = response.json()
                        assert (answer["CodeName"], answer["HasError"]) == (
                            "ServiceUnavailable",
                            True,
                        )
                        assert "Traceback" not in response.text
                        assert response.headers.get("retry-after")
                        # Fast, not hung: the quality bar's 5 s.
                        assert elapsed < 5, elapsed
                health = client.get("/health")
                assert health.status_code == 503
                cluster.start()
                # Up again: the same process serves again, by itself.
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    if client.get(f"/v1/pvt/Customer/{CUSTOMER}/points").status_code == 200:
                        break
                    time.sleep(0.2)
                else:
                    pytest.fail("the service did not recover after the database came back")
                acked_before = len(load.acknowledged)
                load.wait_for(acked_before + 20)
                assert len(load.acknowledged) >= acked_before + 20
            finally:
                load.stop()
            acknowledged = set(load.acknowledged)
            expected = 0
            for key, amount in list(attempted):
                again = client.post(
                    f"/v1/pvt/Customer/{CUSTOMER}/points",
                    json={"Points": amount, "OperationType": 0, "Reason": "outage",
                          "ChangeKey": key},
                )  # fmt: skip
                assert again.status_code in (200, 409), again.text
                if key in acknowledged:
                    assert again.status_code == 409, f"acknowledged {key} was lost"
                expected += amount
            balance = client.get(f"/v1/pvt/Customer/{CUSTOMER}/points").json()["PointsBalance"]
            assert balance == expected
    finally:
        serve.stop()
    assert ledger_violations(url, "loja") == []


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"gave up waiting: {what}")


def test_a_job_runner_outlives_the_outage(cluster: Cluster, tmp_path: Path) -> None:
    """A long-running `jobs run` says each failed pass in one line and carries on afterwards."""
    url, auth = a_tenant(cluster)
    serve = ServeProcess(url, extra_env={"FIDELIS_DB_TIMEOUT_SECONDS": "2"})
    serve.start(tmp_path)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    out_path, err_path = tmp_path / "jobs.out", tmp_path / "jobs.err"

    def settled_one() -> int:
        return out_path.read_text().count("settled 1 customer(s)")

    try:
        with httpx.Client(base_url=serve.base_url, auth=auth, timeout=30) as client:

            def expiring(customer: str) -> None:
                upsert = client.post("/v1/pvt/Customer/upsert", json={"OriginalId": customer})
                assert upsert.status_code == 200, upsert.text
                added = client.post(
                    f"/v1/pvt/Customer/{customer}/points",
                    json={"Points": 100, "OperationType": 0, "Reason": "r",
                          "ExpirationDate": tomorrow},
                )  # fmt: skip
                assert added.status_code == 200, added.text

            expiring("before@example.com")
            env = {**os.environ, "FIDELIS_DATABASE_URL": url, "FIDELIS_DB_TIMEOUT_SECONDS": "2"}
            with out_path.open("w") as out, err_path.open("w") as err:
                job = subprocess.Popen(
                    [sys.executable, "-m", "fidelis", "jobs", "run", "--now", later,
                     "--interval", "0.2"],
                    env=env, stdout=out, stderr=err,
                )  # fmt: skip
            try:
                wait_until(lambda: settled_one() == 1, "the first customer settled")
                cluster.stop()
                wait_until(lambda: "error: pass failed" in err_path.read_text(), "a failed pass")
                assert job.poll() is None, err_path.read_text()
                cluster.start()
                wait_until(
                    lambda: (
                        client.get("/v1/pvt/Customer/before@example.com/points").status_code == 200
                    ),
                    "the service back",
                )
                expiring("after@example.com")
                wait_until(lambda: settled_one() == 2, "the customer of after the outage settled")
                assert job.poll() is None, err_path.read_text()
            finally:
                job.terminate()
                job.wait(timeout=20)
            for customer in ("before@example.com", "after@example.com"):
                history = client.get(f"/v1/pvt/Customer/{customer}/points").json()["PointHistory"]
                assert [item["Points"] for item in history] == [-100, 100]
    finally:
        serve.stop()
    failures = err_path.read_text().splitlines()
    assert failures
    assert all(line.startswith("error: pass failed: ") for line in failures), failures
    assert ledger_violations(url, "loja") == []
