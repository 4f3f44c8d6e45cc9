"""`/metrics`: Prometheus counters that move with requests and ledger transfers, labelled by
route template (never a customer id), behind the same credentials as the API.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, TenantHandle, add_points, upsert

POINTS_ROUTE = "/v1/pvt/Customer/{customer_id}/points"


def scrape(tenant: TenantHandle) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = tenant.http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_counters_move_with_requests_and_transfers(tenant: TenantHandle) -> None:
    customer = f"m-{uuid.uuid4().hex[:8]}"
    upsert(tenant, customer)
    before = scrape(tenant)
    for _ in range(3):
        assert add_points(tenant, customer, 10).status_code == 200
    after = scrape(tenant)

    labels = {"method": "POST", "route": POINTS_ROUTE, "status": "200"}
    assert value(after, "fidelis_http_requests_total", **labels) >= (
        value(before, "fidelis_http_requests_total", **labels) + 3
    )
    assert value(after, "fidelis_http_request_duration_seconds_count", **labels) >= (
        value(before, "fidelis_http_request_duration_seconds_count", **labels) + 3
    )
    le = {**labels, "le": "+Inf"}
    assert value(after, "fidelis_http_request_duration_seconds_bucket", **le) >= 3
    credit = {"type": "adjustment_credit"}
    assert value(after, "fidelis_ledger_transfers_total", **credit) >= (
        value(before, "fidelis_ledger_transfers_total", **credit) + 3
    )
    assert value(after, "fidelis_ledger_transfer_points_total", **credit) >= (
        value(before, "fidelis_ledger_transfer_points_total", **credit) + 30
    )


def test_errors_are_counted_under_their_status(tenant: TenantHandle) -> None:
    before = scrape(tenant)
    response = tenant.http.post("/v1/pvt/Customer/nobody-at-all/points", json={"Points": 1})
    assert response.status_code >= 400
    after = scrape(tenant)
    labels = {"method": "POST", "route": POINTS_ROUTE, "status": str(response.status_code)}
    assert value(after, "fidelis_http_requests_total", **labels) >= (
        value(before, "fidelis_http_requests_total", **labels) + 1
    )


def test_labels_name_route_templates_never_ids(tenant: TenantHandle) -> None:
    secret_id = f"zz{uuid.uuid4().hex}"
    tenant.http.get(f"/v1/pvt/Customer/{secret_id}/points")
    tenant.http.get(f"/v1/pvt/customer/{secret_id}/POINTS")  # any case: the same template
    tenant.http.get(f"/no/such/{secret_id}")
    text = tenant.http.get("/metrics").text
    assert secret_id not in text
    assert f'route="{POINTS_ROUTE}"' in text
    assert 'route="unmatched"' in text
    assert "{customer_id:path}" not in text


def test_metrics_need_credentials(
    server: Server, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
        refused = anonymous.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].lower().startswith("basic")
        assert "fidelis_" not in refused.text
        wrong = anonymous.get("/metrics", auth=(tenant.api_token, "not-the-key"))
        assert wrong.status_code == 401
        bearer = anonymous.get("/metrics", headers={"Authorization": f"Bearer {tenant.api_key}"})
        assert bearer.status_code == 401
    # Any tenant's key reads the process-wide figures (they name no tenant).
    assert other_tenant.http.get("/metrics").status_code == 200
    assert tenant.http.get("/METRICS").status_code == 200


def test_metrics_name_no_tenant(tenant: TenantHandle) -> None:
    upsert(tenant, "someone")
    text = tenant.http.get("/metrics").text
    assert tenant.slug not in text
    assert tenant.api_token not in text


_FORKED = """
import os
from fidelis import metrics

metrics.count_transfer("adjustment_credit", 5)
child = os.fork()
if child == 0:
    metrics.count_transfer("adjustment_credit", 7)
    os._exit(0)
os.waitpid(child, 0)
metrics.count_transfer("adjustment_credit", 1)
print(os.getpid(), child)
print(metrics.render()[0].decode())
"""


def test_processes_pool_their_counts_and_a_forked_one_counts_apart(tmp_path: Path) -> None:
    """Multiprocess mode: each process writes its own file (a forked child too, which must
    notice it is not its parent) and `/metrics` sums them."""
    done = subprocess.run(
        [sys.executable, "-c", _FORKED],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    pids, _, text = done.stdout.partition("\n")
    parent, child = pids.split()
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted(
        [f"counter_{parent}.db", f"counter_{child}.db"]
    )
    samples = _samples(text)
    assert value(samples, "fidelis_ledger_transfers_total", type="adjustment_credit") == 3
    assert value(samples, "fidelis_ledger_transfer_points_total", type="adjustment_credit") == 13
