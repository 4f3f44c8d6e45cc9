"""Logs never hold API keys, passwords, Authorization headers or full documents.

The end-to-end test runs `fidelis serve` as the operator does, on the test database, captures
everything it writes, drives requests full of secrets and documents at it, then greps.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import structlog

from fidelis import logs
from tests.conftest import Server, TenantHandle, forget_failures_of_this_machine, free_port
from tests.test_cli import FIDELIS

CPF = "296.866.522-72"
CPF_DIGITS = "29686652272"
CNPJ = "04.979.810/6155-70"
CNPJ_DIGITS = "04979810615570"
WRONG_PASSWORD = "hunter2-wrong-password-zz9"


def _serve(server: Server, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIDELIS_")}
    env.update(
        FIDELIS_DATABASE_URL=server.database_url, FIDELIS_PORT=str(port), FIDELIS_LOG_LEVEL="info"
    )
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            [*FIDELIS, "serve", "--host", "127.0.0.1"], env=env, stdout=sink, stderr=sink
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return process, base_url
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(log_path.read_text(errors="replace"))
        time.sleep(0.2)


def test_a_served_process_logs_requests_without_secrets_or_documents(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    forget_failures_of_this_machine(server)
    log_path = tmp_path / "serve.log"
    process, base_url = _serve(server, log_path)
    try:
        with httpx.Client(base_url=base_url, auth=tenant.auth, timeout=30) as client:
            for ident, document in (("ana", CPF), ("loja", CNPJ)):
                response = client.post(
                    "/v1/pvt/Customer/upsert", json={"OriginalId": ident, "Document": document}
                )
                assert response.status_code == 200, response.text
            # Documents in the path, in every spelling.
            for ident in (CPF, CPF_DIGITS, CNPJ_DIGITS):
                assert client.get(f"/v1/pvt/Customer/{ident}/points").status_code == 200
            body = {"Points": 5, "OperationType": 0, "Reason": f"ajuste {CPF}"}
            assert client.post(f"/v1/pvt/Customer/{CPF}/points", json=body).status_code == 200
            # A bad document is refused; its value must not be logged either.
            client.post(
                "/v1/pvt/Customer/upsert", json={"OriginalId": "x", "Document": "52998224700"}
            )
            assert client.get("/metrics").status_code == 200
        with httpx.Client(base_url=base_url, timeout=30) as anonymous:
            wrong = anonymous.get(
                "/v1/pvt/Customer/ana/points", auth=(tenant.api_token, WRONG_PASSWORD)
            )
            assert wrong.status_code == 401
            bearer = anonymous.get(
                "/v1/admin/program", headers={"Authorization": f"Bearer {tenant.api_key}"}
            )
            assert bearer.status_code == 401
            anonymous.get(f"/nothing/here/{CPF_DIGITS}")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    output = log_path.read_text(encoding="utf-8", errors="replace")
    basic_value = base64.b64encode(f"{tenant.api_token}:{tenant.api_key}".encode()).decode()
    wrong_value = base64.b64encode(f"{tenant.api_token}:{WRONG_PASSWORD}".encode()).decode()
    for secret in (tenant.api_key, basic_value, wrong_value, WRONG_PASSWORD):
        assert secret not in output
    for document in (CPF, CPF_DIGITS, CNPJ, CNPJ_DIGITS, "52998224700", "529.982.247-00"):
        assert document not in output

    requests = [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and '"event": "request"' in line
    ]
    paths = {(r["method"], r["path"], r["status"]) for r in requests}
    assert ("GET", "/v1/pvt/Customer/{customer_id}/points", 200) in paths
    assert ("POST", "/v1/pvt/Customer/{customer_id}/points", 200) in paths
    assert ("GET", "/v1/pvt/Customer/{customer_id}/points", 401) in paths
    assert ("GET", "unmatched", 404) in paths
    assert ("GET", "/metrics", 200) in paths
    mine = [r for r in requests if r.get("tenant") == tenant.slug]
    assert mine, requests
    for record in requests:
        assert set(record) >= {"method", "path", "status", "latency_ms", "tenant", "timestamp"}
        assert isinstance(record["latency_ms"], int | float)


# --- the processor itself ------------------------------------------------------------------


def render(**event: Any) -> str:
    """An event through the privacy processor and the JSON renderer, as configured."""
    cleaned = logs.redact(None, "info", dict(event))
    return str(structlog.processors.JSONRenderer()(None, "info", cleaned))


def test_documents_are_masked_keeping_the_last_two_digits() -> None:
    line = render(event="lookup", who=CPF, bare=CPF_DIGITS, company=CNPJ, raw=CNPJ_DIGITS)
    record = json.loads(line)
    assert record["who"] == "***.***.***-72"
    assert record["bare"] == "***.***.***-72"
    assert record["company"] == "**.***.***/****-70"
    assert record["raw"] == "**.***.***/****-70"
    # Inside text, nested structures and exception text alike.
    nested = json.loads(
        render(
            event=f"customer {CPF_DIGITS} not found",
            detail={"path": f"/v1/pvt/Customer/{CPF}/points", "items": [CNPJ]},
            exception=f"IntegrityError: Key (tenant_id, document)=(1, {CPF_DIGITS}) exists",
        )
    )
    assert nested["event"] == "customer ***.***.***-72 not found"
    assert nested["detail"]["path"] == "/v1/pvt/Customer/***.***.***-72/points"
    assert nested["detail"]["items"] == ["**.***.***/****-70"]
    assert CPF_DIGITS not in nested["exception"]
    assert "***.***.***-72" in nested["exception"]


def test_numbers_that_are_not_documents_are_left_alone() -> None:
    record = json.loads(render(event="x", order="123456", ts="2026-11-23T12:00:00Z", n=12345678))
    assert (record["order"], record["ts"], record["n"]) == (
        "123456",
        "2026-11-23T12:00:00Z",
        12345678,
    )
    # A longer run of digits is not a document (no mask in the middle of a number).
    assert json.loads(render(event="x", id="1234567890123456"))["id"] == "1234567890123456"
    # Digits glued to letters belong to a word: a tenant slug with 11 digits in its hex tail.
    assert json.loads(render(event="x", tenant="t-31757334523f"))["tenant"] == "t-31757334523f"


def test_secret_keys_are_dropped_at_any_depth() -> None:
    record = json.loads(
        render(
            event="x",
            authorization="Basic abc",
            password="p",
            api_key="k",
            headers={"Authorization": "Basic abc", "X-Api-Key": "k", "accept": "json"},
            admin_password="p",
            tenant="loja",
        )
    )
    assert record == {"event": "x", "headers": {"accept": "json"}, "tenant": "loja"}


def test_stdlib_records_are_masked_too() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.ERROR, __file__, 1, "failed for %s", (CPF,), None
    )
    try:
        raise ValueError(f"document {CPF_DIGITS}")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert logs.RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert CPF not in text
    assert CPF_DIGITS not in text
    assert "failed for ***.***.***-72" in text
    assert "document ***.***.***-72" in text
