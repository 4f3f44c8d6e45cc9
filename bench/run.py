"""Fidelis benchmark: the workloads of the quality bars, measured side by side with the yardsticks.

    .venv/bin/python bench/run.py [--seconds 15] [--pgurl postgresql://postgres@127.0.0.1:5432/postgres]

Needs `wrk`, `pgbench` and `psql` on PATH (Debian: `apt-get install wrk postgresql-client`) and
the yardsticks in `../shared/bench` (or `--yardsticks DIR`). In one run it:

1. prepares a PostgreSQL database `fidelis_bench` with 100 000 customers (`c1` .. `c100000`);
2. starts `fidelis serve` with 2 workers on it (durable commits: PostgreSQL's defaults);
3. runs the yardsticks (`run_reference.sh`: pgbench's ceiling and the minimal reference app),
   W1 and W2 in turns, `--rounds` times (3), and takes each one's median: the host's speed
   drifts over minutes, and a ratio of figures measured minutes apart would measure that drift
   too (W2's ratio to W1 is the rounds' median of each W2 over the W1 right before it);
   then the reference app once more, on its own, for what a request costs its workers and
   PostgreSQL (the yardsticks' script gives only its rate), printed beside W1's;
4. runs W3 and W5 with `wrk` on loopback; then, for W4, prepares two more databases, one
   bulk-loaded to 10 000 entries (five credits each for c1..c1000) and one to 1 000 000 (five
   for every customer), starts a server on each and runs W3 and W1 of c1..c1000 (the same
   answers from both ledgers) and of any customer (shown, not judged), on the small ledger
   and right after on the big one, `--rounds` pairs each (pairs, so that the machine's drift
   over the minutes of a run stays out of the ratio: the row's ratio is the pairs' median);
   then W6 (SQLite, one process); and reads each worker's memory;
5. prints one table: requests/s, p50/p99 latency, non-2xx and socket errors, the host's CPU
   steal during the workload (time the hypervisor gave other guests: a run with much of it
   measured the host's load too), the CPU time each request cost the server's processes and
   PostgreSQL's (on a machine whose cores are all busy, requests/s is the CPU there is divided
   by their sum), the ratio to each bar, and the commit measured. A run with any error is
   reported as INVALID, never as fast, and the script exits 1.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CUSTOMERS = 100_000
BUYERS = 1_000  # W2's customers, c1..c1000
SMALL_LEDGER = 10_000  # W4's small ledger, in entries (the bar's)
# Above this share of CPU steal a workload's figure says as much about the host as about
# Fidelis: the table marks it "host-disturbed" (run again for a clean figure).
DISTURBED_STEAL_PCT = 5.0
DB_NAME = "fidelis_bench"
REFERENCE_DB = "fidelis_ref"  # the database `run_reference.sh` makes for the reference app


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: int
    # W2: locks refused because the buyer had no balance left (a run short of funds).
    dry: int = 0
    # The share of CPU time the hypervisor gave to other guests during the run (Linux's
    # "steal"); a run that lost much of the machine measured the host's load too.
    steal_pct: float = 0.0
    # CPU time per request of the server's processes and of PostgreSQL's (all its processes,
    # background ones included): on a machine whose cores are all busy, what bounds req/s.
    server_us: float = 0.0
    database_us: float = 0.0
    # wrk's socket errors by kind: connect, read, write, timeout (a request unanswered in 2 s).
    socket_kinds: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def clean(self) -> bool:
        return self.non2xx == 0 and self.socket_errors == 0 and self.requests > 0


def run(command: list[str], **kwargs: object) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(command[:3])} failed: {done.stderr.strip()[-500:]}")
    return str(done.stdout)


def psql(url: str, sql: str) -> str:
    return run(["psql", url, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fidelis(url: str, *args: str) -> str:
    env = {**os.environ, "FIDELIS_DATABASE_URL": url}
    return run([sys.executable, "-m", "fidelis", *args], env=env)


def prepare_postgres(admin: str, name: str) -> tuple[str, str, int]:
    """A new database `name`: the schema, a tenant and 100 000 customers. Returns its URL, the
    tenant's Authorization header and its id."""
    psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin, f"CREATE DATABASE {name}")
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    fidelis(url, "migrate")
    credentials = json.loads(
        fidelis(url, "tenant", "create", "--slug", "bench", "--name", "Bench", "--json")
    )
    auth = (
        "Basic "
        + base64.b64encode(f"{credentials['api_token']}:{credentials['api_key']}".encode()).decode()
    )
    tenant_id = int(psql(url, "SELECT id FROM tenant WHERE slug = 'bench'").strip())
    seed_postgres(url, tenant_id)
    return url, auth, tenant_id


def seed_postgres(url: str, tenant_id: int) -> None:
    """100 000 customers, with the accounts a first points add would create."""
    psql(
        url,
        f"""
        INSERT INTO customer (tenant_id, original_id, is_enrolled, is_enabled,
                              created_at, updated_at)
        SELECT {tenant_id}, 'c' || i, true, true, now(), now()
        FROM generate_series(1, {CUSTOMERS}) AS i;
        INSERT INTO account (tenant_id, customer_id, kind, balance)
        SELECT {tenant_id}, c.id, k.kind, 0
        FROM customer c CROSS JOIN (VALUES ('available'), ('issued')) AS k(kind)
        WHERE c.tenant_id = {tenant_id};
        ANALYZE;
        """,
    )


def grow_ledger(url: str, tenant_id: int, entries: int, customers: int = CUSTOMERS) -> None:
    """Bulk-load manual credits of 1 point (2 entries and 1 lot each) spread evenly over the
    first `customers` customers, keeping every ledger invariant (the script runs `fidelis
    ledger check` after)."""
    transfers = entries // 2
    psql(
        url,
        f"""
        CREATE TEMP TABLE seeded AS
        WITH ids AS (SELECT id, row_number() OVER (ORDER BY id) AS n
                     FROM customer WHERE tenant_id = {tenant_id}),
        made AS (
            INSERT INTO transfer (tenant_id, customer_id, type, amount, points, point_type,
                                  reason, created_at)
            SELECT {tenant_id}, ids.id, 'adjustment_credit', 1, 1, 1, 'bench seed', now()
            FROM generate_series(1, {transfers}) AS g(i)
            JOIN ids ON ids.n = ((g.i - 1) % {customers}) + 1
            RETURNING id, customer_id)
        SELECT id, customer_id FROM made;
        INSERT INTO entry (tenant_id, transfer_id, account_id, amount)
        SELECT {tenant_id}, s.id, a.id, CASE a.kind WHEN 'available' THEN 1 ELSE -1 END
        FROM seeded s JOIN account a
          ON a.tenant_id = {tenant_id} AND a.customer_id = s.customer_id
         AND a.kind IN ('available', 'issued');
        INSERT INTO lot (tenant_id, customer_id, transfer_id, origin, amount, remaining, held,
                         status, available_at, created_at)
        SELECT {tenant_id}, customer_id, id, 'adjustment', 1, 1, 0, 'available', now(), now()
        FROM seeded;
        UPDATE account a SET balance = a.balance + CASE a.kind WHEN 'available' THEN x.n
                                                             ELSE -x.n END
        FROM (SELECT customer_id, count(*) AS n FROM seeded GROUP BY customer_id) x
        WHERE a.tenant_id = {tenant_id} AND a.customer_id = x.customer_id
          AND a.kind IN ('available', 'issued');
        """,
    )
    # The UPDATE left a dead version of every account it touched, which autovacuum would
    # clear on a live server (it is off on some machines): a ledger that grew over time.
    psql(url, "VACUUM ANALYZE")


def seed_sqlite(path: Path, tenant_id: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"""
            WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {CUSTOMERS})
            INSERT INTO customer (tenant_id, original_id, is_enrolled, is_enabled,
                                  created_at, updated_at)
            SELECT {tenant_id}, 'c' || i, 1, 1, datetime('now'), datetime('now') FROM g
            """
        )


class Server:
    """A server under test in a process group of its own (its CPU is the group's)."""

    def __init__(
        self, command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
    ) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            env={**os.environ, **env},
            cwd=cwd,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        sys.exit(f"error: {' '.join(command[:4])} did not start (see {log})")

    @classmethod
    def fidelis(cls, url: str, workers: int, log: Path) -> Server:
        env = {
            "FIDELIS_DATABASE_URL": url,
            "FIDELIS_WORKERS": str(workers),
            "FIDELIS_LOG_LEVEL": "warning",
        }
        return cls([sys.executable, "-m", "fidelis", "serve"], env, log)

    @classmethod
    def reference(cls, folder: Path, url: str, log: Path) -> Server:
        """The yardsticks' reference app as `run_reference.sh` starts it, on its database."""
        command = [sys.executable, "-m", "uvicorn", "reference_app:app", "--workers", "2"]
        command += ["--log-level", "warning", "--no-access-log"]
        return cls(command, {"REF_DATABASE_URL": url}, log, cwd=folder)

    def worker_rss_mb(self) -> list[float]:
        out = run(["ps", "-o", "pid=,ppid=,rss=,args=", "-A"])
        rows = [line.split(None, 3) for line in out.splitlines() if line.strip()]
        # The workers, not multiprocessing's resource tracker (also a child of the server).
        children = [
            int(r[2])
            for r in rows
            if int(r[1]) == self.process.pid and "resource_tracker" not in r[3]
        ]
        own = [int(r[2]) for r in rows if int(r[0]) == self.process.pid]
        return [kb / 1024 for kb in (children or own)]

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def wrk(
    name: str,
    url: str,
    seconds: int,
    *,
    script: Path | None = None,
    env: dict[str, str] | None = None,
    connections: int = 32,
    server: Server | None = None,
    checkpoint: str | None = None,
) -> Result:
    """One wrk run; `server`: whose CPU to count; `checkpoint`: a PostgreSQL server (URL) to
    checkpoint first, so that the dirty buffers earlier runs left are written before this one
    starts, not by its own backends as they evict them."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    if checkpoint is not None:
        psql(checkpoint, "CHECKPOINT")
    group = server.process.pid if server is not None else None
    before, sides_before = cpu_times(), cpu_by_process(group)
    out = run([*command, url], env={**os.environ, **(env or {})})
    result = parse_wrk(name, out)
    result.steal_pct = steal_pct(before, cpu_times())
    spent = cpu_spent(sides_before, cpu_by_process(group))
    if result.requests:
        per_request = 1e6 / os.sysconf("SC_CLK_TCK") / result.requests
        result.server_us = spent["server"] * per_request
        result.database_us = spent["postgres"] * per_request
    return result


def cpu_by_process(server_group: int | None) -> dict[int, tuple[str, int]]:
    """Each process of the server (its process group) and of PostgreSQL: which side it is
    on and its CPU time so far, in clock ticks."""
    found: dict[int, tuple[str, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                line = stat.read()
        except OSError:
            continue  # ended meanwhile
        # "pid (comm) state ppid pgrp ... utime stime ...": comm may hold spaces and parens.
        comm = line[line.index("(") + 1 : line.rindex(")")]
        fields = line[line.rindex(")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])
        if comm == "postgres":
            found[int(entry.name)] = ("postgres", ticks)
        elif server_group is not None and int(fields[2]) == server_group:
            found[int(entry.name)] = ("server", ticks)
    return found


def cpu_spent(
    before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]
) -> dict[str, int]:
    """Clock ticks each side spent between two readings (a process that started in between
    counts whole)."""
    spent = {"server": 0, "postgres": 0}
    for pid, (side, ticks) in after.items():
        spent[side] += ticks - before.get(pid, (side, 0))[1]
    return spent


def cpu_times() -> list[int]:
    """The machine's CPU time counters (`/proc/stat`'s `cpu` line); empty where there is none."""
    try:
        with open("/proc/stat") as stat:
            return [int(x) for x in stat.readline().split()[1:]]
    except OSError:
        return []


def steal_pct(before: list[int], after: list[int]) -> float:
    if len(before) < 8 or len(after) < 8:
        return 0.0
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return 100.0 * spent[7] / sum(spent) if sum(spent) else 0.0


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(name: str, out: str) -> Result:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    kinds = tuple(int(x) for x in errors.groups()) if errors else (0, 0, 0, 0)
    # Purchases (W2) are counted by the script itself.
    purchases = re.search(r"purchases:\s+(\d+)", out)
    if purchases:
        seconds = requests / rps if rps else 1
        rps = int(purchases.group(1)) / seconds
    dry = re.search(r"dry:\s+(\d+)", out)
    return Result(
        name,
        rps,
        p50,
        p99,
        requests,
        int(non2xx.group(1)) if non2xx else 0,
        sum(kinds),
        dry=int(dry.group(1)) if dry else 0,
        socket_kinds=(kinds[0], kinds[1], kinds[2], kinds[3]),
    )


def tuple_sum(counts: Iterable[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """Counts of the same kinds, added kind by kind."""
    connect, read, write, timeout = (sum(kind) for kind in zip(*counts, strict=True))
    return (connect, read, write, timeout)


def median_of(name: str, results: list[Result]) -> Result:
    """One row for several runs of a workload: the median of their requests/s, p50, p99 (each
    run's own percentile; wrk gives no pooled one) and CPU per request, and the errors and dry
    locks of all of them, so that an error in any run makes the row INVALID."""
    return Result(
        name,
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.requests for r in results),
        sum(r.non2xx for r in results),
        sum(r.socket_errors for r in results),
        dry=sum(r.dry for r in results),
        steal_pct=max(r.steal_pct for r in results),
        server_us=statistics.median(r.server_us for r in results),
        database_us=statistics.median(r.database_us for r in results),
        socket_kinds=tuple_sum(r.socket_kinds for r in results),
    )


class Api:
    """The server's Private API over one connection, for the bench's own requests (wrk sends
    the load); one per burst of requests, as the server closes an idle connection."""

    def __init__(self, base: str, auth: str) -> None:
        self._connection = http.client.HTTPConnection(
            "127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=30
        )
        self._auth = auth

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.close()

    def call(self, method: str, path: str, body: dict[str, object] | None = None) -> Any:
        headers = {"Authorization": self._auth, "Content-Type": "application/json"}
        self._connection.request(method, path, json.dumps(body) if body else None, headers)
        answer = self._connection.getresponse()
        text = answer.read()
        if answer.status != 200:
            sys.exit(f"error: {method} {path} answered {answer.status}")
        return json.loads(text)

    def fund(self, customers: int, points: int) -> None:
        """Credit `points` to each of c1..c`customers` (one points add each)."""
        for n in range(1, customers + 1):
            change = {"Points": points, "OperationType": 0, "Reason": "bench funds"}
            self.call("POST", f"/v1/pvt/Customer/c{n}/points", {**change, "ChangeKey": f"fund-{n}"})

    def points_balance(self, customer: str) -> int:
        return int(self.call("GET", f"/v1/pvt/Customer/{customer}/points")["PointsBalance"])


@dataclass
class Yardsticks:
    pgbench_tps: float
    reference_rps: float
    reference_errors: int
    steal_pct: float  # the host's CPU steal while they ran


def yardsticks(folder: Path, seconds: int, admin: str) -> Yardsticks:
    """One run of the yardsticks' own script (`run_reference.sh`: pgbench's ceiling, then the
    minimal reference app under wrk)."""
    # The reference app runs on this interpreter (its packages are the project's).
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    psql(admin, "CHECKPOINT")  # as before every measured run (`wrk`)
    before = cpu_times()
    out = run(
        ["bash", str(folder / "run_reference.sh"), str(seconds)],
        env={**os.environ, "PGURL": admin, "PATH": path},
    )
    figures = dict(re.findall(r"^(\w+)=([\d.]+)", out, re.M))
    return Yardsticks(
        pgbench_tps=float(figures["pgbench_tps"]),
        reference_rps=float(figures["reference_rps"]),
        reference_errors=int(figures.get("reference_non2xx", 0)),
        steal_pct=steal_pct(before, cpu_times()),
    )


def verdict(
    result: Result, ratio: float, bar: float, divisor_steal: float, *, p99_bar: bool = False
) -> str:
    """A table row's verdict: a run with errors is INVALID whatever its speed; `p99_bar`: the
    row is also judged on p99 ≤ 50 ms (W1's bar)."""
    if not result.clean:
        return "INVALID (errors)"
    text = "ok" if ratio >= bar else "BELOW BAR"
    if p99_bar and result.p99_ms > 50:
        text = "BELOW BAR (p99 > 50 ms)"
    if max(result.steal_pct, divisor_steal) > DISTURBED_STEAL_PCT:
        text += ", host-disturbed"
    if result.dry:
        text += ", buyers ran dry"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument(
        "--pgurl", default=os.environ.get("PGURL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--yardsticks", type=Path, default=ROOT.parent / "shared" / "bench")
    parser.add_argument("--entries", type=int, default=1_000_000, help="ledger size for W4")
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns of the yardsticks and W1 (medians reported)"
    )
    args = parser.parse_args()
    for tool in ("wrk", "pgbench", "psql", "curl"):
        if shutil.which(tool) is None:
            sys.exit(f"error: {tool} is not installed (apt-get install wrk postgresql-client curl)")
    secs = args.seconds
    commit = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip()
    dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    work = Path(tempfile.mkdtemp(prefix="fidelis-bench-"))

    admin = args.pgurl
    url, auth, _ = prepare_postgres(admin, DB_NAME)
    print(f"prepared {CUSTOMERS} customers", file=sys.stderr)

    # W1's load is the yardsticks' own script, each wrk thread's generator seeded apart
    # (`w1.lua`); the reference app's extra run below takes the script as the yardsticks do.
    points_add = args.yardsticks / "points_add.lua"
    w1_script = HERE / "w1.lua"
    w1_env = {
        "BENCH_W1_SCRIPT": str(points_add),
        "BENCH_AUTH": auth,
        "BENCH_CUSTOMERS": str(CUSTOMERS),
    }
    get_env = w1_env
    # Every measured run starts right after a checkpoint (`wrk`, the README says why).
    measure = functools.partial(wrk, checkpoint=admin)
    server = Server.fidelis(url, 2, work / "serve-pg.log")
    results: dict[str, Result] = {}
    measured: list[Yardsticks] = []
    rss: list[float] = []  # after the last W1
    try:
        wrk("warm-up", server.base, 3, script=w1_script, env=w1_env)
        # The buyers of W2 need cashback for the whole run, however fast it goes: a lock takes
        # 5 points, so a million points each outlast any number of purchases a run can make.
        with Api(server.base, auth) as api:
            api.fund(BUYERS, 1_000_000)
        # The yardsticks, W1 and W2 in turns, each one's median taken: the host's speed drifts
        # over minutes, and a ratio of two figures measured minutes apart measures it too. W2's
        # bar is a ratio to W1: each round's W2 runs right after its W1, and the row's ratio is
        # the rounds' median.
        w1_runs, w2_runs, w2_ratios = [], [], []
        for _ in range(args.rounds):
            measured.append(yardsticks(args.yardsticks, secs, admin))
            w1_runs.append(
                measure(
                    "W1 points add",
                    server.base,
                    secs,
                    script=w1_script,
                    env=w1_env,
                    server=server,
                )
            )
            rss = server.worker_rss_mb()
            w2_runs.append(
                measure(
                    "W2 lock+commit",
                    server.base,
                    secs,
                    script=HERE / "lock_commit.lua",
                    env={**w1_env, "BENCH_BRAND": "bench", "BENCH_BUYERS": str(BUYERS)},
                    server=server,
                )
            )
            w2_ratios.append(w2_runs[-1].rps / w1_runs[-1].rps)
        results["W1"] = median_of("W1 points add", w1_runs)
        results["W2"] = median_of("W2 lock+commit", w2_runs)
        # The yardstick's script reports the reference app's rate only: one more run of it, on
        # the database the script left, tells what a request costs its workers and PostgreSQL,
        # to set beside W1's.
        reference = Server.reference(
            args.yardsticks, admin.rsplit("/", 1)[0] + f"/{REFERENCE_DB}", work / "reference.log"
        )
        try:
            results["reference"] = measure(
                "reference app",
                reference.base,
                secs,
                script=points_add,
                server=reference,
            )
        finally:
            reference.stop()
        results["W3"] = measure(
            "W3 points read",
            server.base,
            secs,
            script=HERE / "points_get.lua",
            env=get_env,
            server=server,
        )
        results["health"] = measure("GET /health", f"{server.base}/health", secs, server=server)
        with Api(server.base, auth) as api:
            before = api.points_balance("c1")
        results["W5"] = measure(
            "W5 hot customer",
            server.base,
            secs,
            script=points_add,
            env={**w1_env, "BENCH_CUSTOMERS": "1"},
            server=server,
        )
        with Api(server.base, auth) as api:
            after = api.points_balance("c1")
        hot_ok = results["W5"].requests - results["W5"].non2xx
        hot_lost = hot_ok * 10 - (after - before)
    finally:
        server.stop()
    pgbench_tps = statistics.median(y.pgbench_tps for y in measured)
    reference_rps = statistics.median(y.reference_rps for y in measured)
    reference_errors = sum(y.reference_errors for y in measured)
    yardstick_steal = max(y.steal_pct for y in measured)

    # W4 compares a ledger of 1 000 000 entries with one of 10 000, each in a database of its
    # own with a server of its own, measured in pairs one right after the other so that the
    # machine's drift over minutes does not enter the ratio. The big ledger gives every
    # customer the same number of movements (5); the small one gives as many to the first
    # `readers` customers (c1..c1000), whom W4's reads and adds ask for: the same answers from
    # both (a points add answers with the Points Response too), so the ratio measures the
    # ledger's size, not the length of the history shown. The same workloads on any customer
    # (five movements in the big ledger, mostly none in the small) are printed too.
    per_customer = args.entries // 2 // CUSTOMERS
    if per_customer < 1:
        sys.exit(f"error: --entries must be at least {2 * CUSTOMERS}")
    readers = SMALL_LEDGER // 2 // per_customer
    small_url, small_auth, small_tenant = prepare_postgres(admin, f"{DB_NAME}_small")
    grow_ledger(small_url, small_tenant, SMALL_LEDGER, customers=readers)
    big_url, big_auth, big_tenant = prepare_postgres(admin, f"{DB_NAME}_big")
    grow_ledger(big_url, big_tenant, args.entries)
    for database in (small_url, big_url):
        fidelis(database, "ledger", "check", "--tenant", "bench")
    small = Server.fidelis(small_url, 2, work / "serve-pg-small.log")
    big = Server.fidelis(big_url, 2, work / "serve-pg-big.log")
    sizes: dict[str, int] = {}
    w4: dict[str, list[Result]] = {}
    w4_ratios: dict[str, list[float]] = {}  # big over small, pair by pair
    try:
        small_env = {**w1_env, "BENCH_AUTH": small_auth}
        big_env = {**w1_env, "BENCH_AUTH": big_auth}
        wrk("warm-up", small.base, 3, script=w1_script, env=small_env)
        wrk("warm-up", big.base, 3, script=w1_script, env=big_env)
        # The reads first, while the small ledger is still about the spec's 10 000 entries (W1
        # adds to both ledgers, as much to each); each workload in pairs, small then big,
        # `--rounds` times.
        for name, script, asked in (
            ("W3", HERE / "points_get.lua", readers),
            ("W3-any", HERE / "points_get.lua", CUSTOMERS),
            ("W1", w1_script, readers),
            ("W1-any", w1_script, CUSTOMERS),
        ):
            for _ in range(args.rounds):
                pair: dict[str, Result] = {}
                for size, server_, env, database in (
                    ("small", small, {**small_env, "BENCH_CUSTOMERS": str(asked)}, small_url),
                    ("big", big, {**big_env, "BENCH_CUSTOMERS": str(asked)}, big_url),
                ):
                    sizes[size] = int(psql(database, "SELECT count(*) FROM entry").strip())
                    pair[size] = measure(
                        f"{name} at {sizes[size]} entries",
                        server_.base,
                        secs,
                        script=script,
                        env=env,
                        server=server_,
                    )
                    w4.setdefault(f"W4-{name}-{size}", []).append(pair[size])
                w4_ratios.setdefault(name, []).append(pair["big"].rps / pair["small"].rps)
        for key, runs in w4.items():
            results[key] = median_of(key, runs)
    finally:
        small.stop()
        big.stop()
        for name in (f"{DB_NAME}_small", f"{DB_NAME}_big"):
            psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    sqlite_url = f"sqlite:///{work / 'bench.db'}"
    fidelis(sqlite_url, "migrate")
    sqlite_credentials = json.loads(
        fidelis(sqlite_url, "tenant", "create", "--slug", "bench", "--name", "Bench", "--json")
    )
    seed_sqlite(work / "bench.db", 1)
    sqlite_auth = (
        "Basic "
        + base64.b64encode(
            f"{sqlite_credentials['api_token']}:{sqlite_credentials['api_key']}".encode()
        ).decode()
    )
    lite = Server.fidelis(sqlite_url, 1, work / "serve-sqlite.log")
    try:
        sqlite_env = {**w1_env, "BENCH_AUTH": sqlite_auth}
        wrk("warm-up", lite.base, 3, script=w1_script, env=sqlite_env)
        results["W6"] = measure(
            "W6 SQLite W1",
            lite.base,
            secs,
            script=w1_script,
            env=sqlite_env,
            server=lite,
        )
    finally:
        lite.stop()

    w1 = results["W1"].rps
    # Each row: label, the workload, its ratio, the bar, and the steal of whatever the ratio
    # divides by (a yardstick, another workload), which disturbs the ratio as much.
    rows = [
        ("W1 vs reference app", results["W1"], w1 / reference_rps, 1.0, yardstick_steal),
        ("W1 vs pgbench", results["W1"], w1 / pgbench_tps, 0.5, yardstick_steal),
        (
            "W2 purchases vs W1",
            results["W2"],
            statistics.median(w2_ratios),
            0.4,
            results["W1"].steal_pct,
        ),
        (
            "W3 vs GET /health",
            results["W3"],
            results["W3"].rps / results["health"].rps,
            0.5,
            results["health"].steal_pct,
        ),
        (
            f"W4 W1 at {args.entries / 1e6:g}M vs small",
            results["W4-W1-big"],
            statistics.median(w4_ratios["W1"]),
            0.9,
            results["W4-W1-small"].steal_pct,
        ),
        (
            f"W4 W3 at {args.entries / 1e6:g}M vs small",
            results["W4-W3-big"],
            statistics.median(w4_ratios["W3"]),
            0.9,
            results["W4-W3-small"].steal_pct,
        ),
        ("W5 hot customer /s", results["W5"], results["W5"].rps / 500, 1.0, 0.0),
        (
            "W6 SQLite vs reference",
            results["W6"],
            results["W6"].rps / reference_rps,
            0.5,
            yardstick_steal,
        ),
    ]
    print(
        f"Fidelis benchmark — commit {commit}{' (uncommitted changes)' if dirty else ''}, "
        f"{secs}s per workload, wrk -t2 -c32 on loopback; the yardsticks, W1 and W2: medians of "
        f"{args.rounds} rounds in turns"
    )
    print(
        f"yardsticks: pgbench {pgbench_tps:.0f} tps, reference app {reference_rps:.0f} req/s "
        f"({reference_errors} non-2xx), GET /health {results['health'].rps:.0f} req/s; "
        f"steal during the yardsticks {yardstick_steal:.1f}%"
    )
    header = f"{'workload':<26}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non2xx':>8}{'sockerr':>8}"
    print(header + f"{'steal%':>8}{'cpu us/req':>12}{'ratio':>8}{'bar':>6}  verdict")
    invalid = False
    for label, result, ratio, bar, divisor_steal in rows:
        invalid = invalid or not result.clean
        judged = verdict(
            result, ratio, bar, divisor_steal, p99_bar=label.startswith("W1 vs reference")
        )
        print(
            f"{label:<26}{result.rps:>9.0f}{result.p50_ms:>9.1f}{result.p99_ms:>9.1f}"
            f"{result.non2xx:>8}{result.socket_errors:>8}{result.steal_pct:>8.1f}"
            f"{f'{result.server_us:.0f}+{result.database_us:.0f}':>12}{ratio:>8.2f}"
            f"{bar:>6.1f}  {judged}"
        )
    print(f"W2 lock+commit: {results['W2'].dry} locks refused for want of balance")
    print(
        "W1 and W2 round by round: W1 "
        + " / ".join(f"{r.rps:.0f}" for r in w1_runs)
        + " req/s, W2 "
        + " / ".join(f"{r.rps:.0f}" for r in w2_runs)
        + " purchases/s, ratios "
        + " / ".join(f"{x:.2f}" for x in w2_ratios)
        + "; CPU per request (workers+PostgreSQL), W1 "
        + " / ".join(f"{r.server_us:.0f}+{r.database_us:.0f}" for r in w1_runs)
        + " us, W2 "
        + " / ".join(f"{r.server_us:.0f}+{r.database_us:.0f}" for r in w2_runs)
        + " us"
    )
    split = results["reference"]
    print(
        f"W1's CPU per request beside the reference app's (one more run of it after the rounds, "
        f"{split.rps:.0f} req/s): workers {results['W1'].server_us:.0f} against "
        f"{split.server_us:.0f} us, PostgreSQL {results['W1'].database_us:.0f} against "
        f"{split.database_us:.0f} us"
    )
    # wrk stops counting at the deadline: requests still in flight then may have applied, so
    # the balance may hold a few more changes than were acknowledged, never fewer.
    in_flight = max(-hot_lost, 0)
    print(
        f"W5 hot customer: {hot_ok} changes acknowledged, lost {max(hot_lost, 0)}, "
        f"{in_flight // 10} applied while in flight at the deadline"
    )
    print(
        f"W4 pairs, small ledger then {args.entries / 1e6:g}M entries, one right after the other "
        f"(medians of {args.rounds}; the ratios are the pairs' median): "
        f"of c1..c{readers} ({per_customer} movements each in both ledgers at the start): "
        f"W1 {results['W4-W1-small'].rps:.0f} / {results['W4-W1-big'].rps:.0f} req/s, "
        f"W3 {results['W4-W3-small'].rps:.0f} / {results['W4-W3-big'].rps:.0f} req/s "
        f"(entries at the end: {sizes.get('small', 0)} / {sizes.get('big', 0)})"
    )
    print(
        f"W4 of any customer ({per_customer} movements each in the big ledger, none for most in "
        "the small; not the bar's measure): "
        f"W1 {results['W4-W1-any-small'].rps:.0f} / {results['W4-W1-any-big'].rps:.0f} req/s, "
        f"ratio {statistics.median(w4_ratios['W1-any']):.2f}; "
        f"W3 {results['W4-W3-any-small'].rps:.0f} / {results['W4-W3-any-big'].rps:.0f} req/s, "
        f"ratio {statistics.median(w4_ratios['W3-any']):.2f}"
    )
    print(
        "memory after W1: " + ", ".join(f"{mb:.0f} MB" for mb in rss) + " RSS per worker "
        f"(bar 150 MB): {'ok' if rss and max(rss) <= 150 else 'BELOW BAR'}"
    )
    # Every workload run counts, the table's and the others (GET /health, W4's read of any
    # customer).
    invalid = invalid or hot_lost > 0 or not all(r.clean for r in results.values())
    if invalid:
        for label, result in results.items():
            if not result.clean:
                connect, read, write, timeout = result.socket_kinds
                print(
                    f"{label}: {result.non2xx} non-2xx; socket errors: connect {connect}, "
                    f"read {read}, write {write}, timeout {timeout} (unanswered in 2 s)"
                )
        print("INVALID RUN: errors were seen; these figures are not a measure of speed.")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
