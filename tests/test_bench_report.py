"""The benchmark's reading of wrk and its verdicts (`bench/run.py`): a run with errors is never
reported as fast, W2 counts purchases rather than requests and says when its buyers ran dry,
the CPU per request is split between the server's processes and PostgreSQL's, and rounds
are reported by their medians.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8101
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    46.12ms   12.34ms    1.20s    70.00%
    Req/Sec   350.00     50.00   450.00     70.00%
  Latency Distribution
     50%   44.60ms
     75%   50.00ms
     90%   60.00ms
     99%    1.20s
  6930 requests in 10.00s, 5.00MB read
{extra}Requests/sec:    693.00
Transfer/sec:    512.00KB
"""


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "bench" / "run.py"
    spec = importlib.util.spec_from_file_location("fidelis_bench_run", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_a_clean_run_is_read_as_wrk_printed_it(bench: ModuleType) -> None:
    result = bench.parse_wrk("W1", WRK_OUTPUT.format(extra=""))
    assert (result.rps, result.requests, result.p50_ms, result.p99_ms) == (
        693.0,
        6930,
        44.6,
        1200.0,
    )
    assert result.clean
    assert bench.verdict(result, 1.1, 1.0, 0.0) == "ok"
    assert bench.verdict(result, 0.9, 1.0, 0.0) == "BELOW BAR"


@pytest.mark.parametrize(
    "extra",
    [
        "  Non-2xx or 3xx responses: 3\n",
        "  Socket errors: connect 0, read 2, write 0, timeout 1\n",
    ],
)
def test_a_run_with_errors_is_invalid_however_fast(bench: ModuleType, extra: str) -> None:
    result = bench.parse_wrk("W1", WRK_OUTPUT.format(extra=extra))
    assert not result.clean
    assert bench.verdict(result, 5.0, 1.0, 0.0) == "INVALID (errors)"


def test_w2_counts_purchases_and_says_when_buyers_ran_dry(bench: ModuleType) -> None:
    result = bench.parse_wrk("W2", WRK_OUTPUT.format(extra="purchases: 2900\ndry: 5\n"))
    assert result.rps == pytest.approx(290.0)  # purchases over the run's 10 s, not requests
    assert result.dry == 5
    assert bench.verdict(result, 0.45, 0.4, 0.0) == "ok, buyers ran dry"
    funded = bench.parse_wrk("W2", WRK_OUTPUT.format(extra="purchases: 2900\ndry: 0\n"))
    assert bench.verdict(funded, 0.45, 0.4, 0.0) == "ok"


def test_w1_is_also_judged_on_its_p99_and_a_disturbed_host_is_named(bench: ModuleType) -> None:
    result = bench.parse_wrk("W1", WRK_OUTPUT.format(extra=""))
    assert bench.verdict(result, 1.2, 1.0, 0.0, p99_bar=True) == "BELOW BAR (p99 > 50 ms)"
    result.steal_pct = 6.0
    assert bench.verdict(result, 1.2, 1.0, 0.0) == "ok, host-disturbed"
    result.steal_pct = 0.0
    # Steal while the divisor (a yardstick, another workload) was measured disturbs it too.
    assert bench.verdict(result, 1.2, 1.0, 7.5) == "ok, host-disturbed"


def test_cpu_is_split_by_side_and_a_process_started_meanwhile_counts_whole(
    bench: ModuleType,
) -> None:
    before = {1: ("server", 100), 2: ("postgres", 50)}
    after = {1: ("server", 160), 2: ("postgres", 80), 3: ("postgres", 20)}
    assert bench.cpu_spent(before, after) == {"server": 60, "postgres": 50}


def test_the_server_side_is_the_servers_process_group(bench: ModuleType) -> None:
    found = bench.cpu_by_process(os.getpgrp())
    side, ticks = found[os.getpid()]
    assert side == "server"
    assert ticks >= 0
    # Without a server only PostgreSQL's processes are read.
    assert all(side == "postgres" for side, _ in bench.cpu_by_process(None).values())


def test_rounds_are_reported_by_their_medians_and_an_error_in_any_spoils_the_row(
    bench: ModuleType,
) -> None:
    runs = [
        bench.Result("W1", rps, p50, p99, 1000, 0, 0, server_us=us, database_us=us)
        for rps, p50, p99, us in ((900.0, 30.0, 45.0, 700.0), (1500.0, 20.0, 400.0, 500.0))
    ]
    runs.append(bench.Result("W1", 1200.0, 25.0, 48.0, 1000, 0, 0, server_us=600.0))
    row = bench.median_of("W1", runs)
    assert (row.rps, row.p50_ms, row.p99_ms) == (1200.0, 25.0, 48.0)
    assert row.server_us == 600.0
    assert row.clean
    runs.append(bench.Result("W1", 2000.0, 10.0, 20.0, 1000, 4, 0))
    spoiled = bench.median_of("W1", runs)
    assert not spoiled.clean
    assert bench.verdict(spoiled, 2.0, 1.0, 0.0) == "INVALID (errors)"


def test_socket_errors_are_kept_by_kind(bench: ModuleType) -> None:
    extra = "  Socket errors: connect 0, read 2, write 0, timeout 30\n"
    result = bench.parse_wrk("W1", WRK_OUTPUT.format(extra=extra))
    assert result.socket_kinds == (0, 2, 0, 30)
    assert result.socket_errors == 32
    assert bench.median_of("W1", [result, result]).socket_kinds == (0, 4, 0, 60)
