"""Start ``b12-adapter serve`` (uvicorn) as its own process on 127.0.0.1.

    with running_service("--server", fhir_url) as service:
        requests.post(f"{service.url}/Claim/$b12-check", json=bundle)

Waits (bounded) until ``/ready`` answers 200; stops with SIGTERM (uvicorn's graceful
shutdown) and returns the exit status. Plain module: no pytest needed (bench/serve.py uses
it too).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


class ServiceStartError(RuntimeError):
    """The service did not become ready."""


@dataclass
class Service:
    url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    started_seconds: float = 0.0
    exit_status: int | None = field(default=None)

    def log_lines(self) -> list[dict]:
        """The service's JSON log lines so far."""
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                lines.append(json.loads(line))
        return lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_service(*args: str, env: Mapping[str, str] | None = None,
                    headers: Mapping[str, str] | None = None) -> Iterator[Service]:
    """``b12-adapter serve ARGS`` on a free port; ``headers`` are what /ready needs (none)."""
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="b12-serve-")) / "service.log"
    atexit.register(shutil.rmtree, log_path.parent, True)  # read by tests until the end
    command = [sys.executable, "-m", "adapter", "serve", "--host", "127.0.0.1",
               "--port", str(port), *args]
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   env={**os.environ, **(env or {})})
    service = Service(f"http://127.0.0.1:{port}", log_path, process)
    try:
        _wait_ready(service, started, dict(headers or {}))
        yield service
    finally:
        service.exit_status = stop(process)


def _wait_ready(service: Service, started: float, headers: dict[str, str]) -> None:
    deadline = started + START_TIMEOUT
    while time.perf_counter() < deadline:
        if service.process.poll() is not None:
            raise ServiceStartError(f"serve exited with {service.process.returncode}:\n"
                                    f"{service.log_path.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(f"{service.url}/ready", headers=headers, timeout=1).ok:
                service.started_seconds = time.perf_counter() - started
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    stop(service.process)
    raise ServiceStartError(f"serve not ready within {START_TIMEOUT:.0f} s:\n"
                            f"{service.log_path.read_text(errors='replace')[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM (graceful), then SIGKILL after STOP_TIMEOUT."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
    return process.returncode
