"""Prometheus metrics: what is counted, and how `/metrics` renders it.

Labels are bounded on purpose: a route *template* (`/v1/pvt/Customer/{customer_id}/points`,
never a customer id), a status code, a transfer type. Nothing here names a tenant or a customer.

Processes: each process has its own counters. With one process (the default) `/metrics` shows
them directly. With several server processes, set `PROMETHEUS_MULTIPROC_DIR` to an empty folder
before they start (`fidelis serve --workers N` does it for you with a fresh temporary folder);
every process then writes its samples there and `/metrics`, answered by any one of them, sums
all of them (prometheus-client's multiprocess mode). See docs/DECISIONS.md.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess
from prometheus_client import values as _values

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# In multiprocess mode prometheus-client asks for the process id at every increment, to notice
# a fork (whose child must write files of its own): `os.getpid()`, a system call, several
# times a request. It takes the id from `_process_id` instead, read once and again after a fork.
_pid = os.getpid()


def _process_id() -> int:
    return _pid


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)
if os.environ.get(MULTIPROCESS_ENV):
    _values.ValueClass = _values.MultiProcessValue(process_identifier=_process_id)  # type: ignore[no-untyped-call]

# Buckets in seconds, from a cached read to a request stuck behind a lock.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "fidelis_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "fidelis_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status code.",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
)
TRANSFERS = Counter(
    "fidelis_ledger_transfers",
    "Ledger transfers written, by transfer type (counted when written; a transfer whose "
    "transaction later rolls back is counted too).",
    ["type"],
)
TRANSFER_POINTS = Counter(
    "fidelis_ledger_transfer_points",
    "Points moved by ledger transfers, by transfer type.",
    ["type"],
)

BATCH_ITEMS = Histogram(
    "fidelis_db_batch_items",
    "Requests per batch of hot-path writes sent to PostgreSQL in one call and one commit "
    "(`db.batches`), by the function called.",
    ["function"],
    buckets=(1, 2, 4, 8, 16, 32, 64),
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    requests, latency = _request_series(method, route, status)
    requests.inc()
    latency.observe(seconds)


def count_transfer(type: str, amount: int) -> None:
    """One ledger transfer of `amount` points was written (called by the ledger repository)."""
    transfers, points = _transfer_series(type)
    transfers.inc()
    points.inc(amount)


def observe_batch(function: str, items: int) -> None:
    """A batch of `items` requests' calls of `function` was sent (`db.batches`)."""
    _batch_series(function).observe(items)


# The labelled series, looked up once per label set (methods, route templates, statuses and
# transfer types are few): `labels()` takes a lock and builds a key on every call.
@functools.cache
def _request_series(method: str, route: str, status: int) -> tuple[Any, Any]:
    labels = (method, route, str(status))
    return REQUESTS.labels(*labels), LATENCY.labels(*labels)


@functools.cache
def _transfer_series(type: str) -> tuple[Any, Any]:
    return TRANSFERS.labels(type), TRANSFER_POINTS.labels(type)


@functools.cache
def _batch_series(function: str) -> Any:
    return BATCH_ITEMS.labels(function)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type, summed over processes in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
