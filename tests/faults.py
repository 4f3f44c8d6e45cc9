"""Tools for the fault-injection tests: real `fidelis serve` processes and a bounded load.

Servers run as separate process groups so a test can `kill -9` every process of one (the
uvicorn supervisor and its workers) at once, mid-request, as a crash would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServeProcess:
    """One `fidelis serve` (a supervisor and its workers) on its own port."""

    database_url: str
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path, timeout: float = 60) -> None:
        env = {
            **os.environ,
            "FIDELIS_DATABASE_URL": self.database_url,
            "FIDELIS_WORKERS": str(self.workers),
            "FIDELIS_PORT": str(self.port),
            "FIDELIS_LOG_LEVEL": "warning",
            **self.extra_env,
        }
        self.log_path = log_dir / f"serve-{self.port}-{time.monotonic_ns()}.log"
        if self.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in env:
            # `serve` would make its own folder in the system's temporary directory and remove
            # it on exit, which a SIGKILL (`kill`) never lets it reach: one under the test's.
            metrics = self.log_path.with_suffix(".metrics")
            metrics.mkdir()
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fidelis", "serve"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fidelis serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"fidelis serve did not start: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: supervisor and workers die at once."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()
        self.process = None


@dataclass
class Load:
    """Client threads sending requests until told to stop, recording what was acknowledged.

    `step(client, worker, n)` sends one request and returns a record of it when the server
    answered 200 (acknowledged), or None. Connection errors (a killed server) are counted and
    the worker goes on, so the load keeps hitting the servers while they die.
    """

    step: Callable[[httpx.Client, int, int], Any]
    base_urls: list[str]
    auth: tuple[str, str]
    workers: int = 8
    max_requests: int = 400
    acknowledged: list[Any] = field(default_factory=list)
    attempted: int = 0
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for worker in range(self.workers):
            thread = threading.Thread(target=self._run, args=(worker,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, worker: int) -> None:
        base = self.base_urls[worker % len(self.base_urls)]
        with httpx.Client(base_url=base, auth=self.auth, timeout=10) as client:
            n = 0
            while not self._stop.is_set() and n < self.max_requests:
                n += 1
                with self._lock:
                    self.attempted += 1
                try:
                    record = self.step(client, worker, n)
                except httpx.HTTPError:
                    with self._lock:
                        self.errors += 1
                    time.sleep(0.05)
                    continue
                if record is not None:
                    with self._lock:
                        self.acknowledged.append(record)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def wait_for(self, acknowledged: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < acknowledged and time.monotonic() < deadline:
            time.sleep(0.05)
