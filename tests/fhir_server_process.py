"""Start the test FHIR server (Medplum's engine, tests/fhir_server) on 127.0.0.1.

The pinned npm packages are installed on first use with ``npm ci`` from the committed lock
file, so a fresh machine needs only Node.js 20+ and npm. If the server cannot be installed
or started, this raises: the integration tests fail, they never skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

SERVER_DIR = Path(__file__).resolve().parent / "fhir_server"
START_TIMEOUT = 60.0
BASE_PATH = "/fhir/R4"


class FhirServerStartError(RuntimeError):
    """The test server could not be installed or did not come up."""


def ensure_installed() -> None:
    """``npm ci`` when node_modules is missing or older than the lock file."""
    if not shutil.which("node") or not shutil.which("npm"):
        raise FhirServerStartError("node and npm are needed to run the test FHIR server")
    modules = SERVER_DIR / "node_modules"
    lock = SERVER_DIR / "package-lock.json"
    if modules.exists() and modules.stat().st_mtime >= lock.stat().st_mtime:
        return
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=SERVER_DIR,
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise FhirServerStartError(f"npm ci failed in {SERVER_DIR}:\n{done.stderr[-2000:]}")


@contextlib.contextmanager
def running_fhir_server() -> Iterator[str]:
    """A fresh, empty server for the duration of the block; yields its base URL."""
    ensure_installed()
    log_dir = Path(tempfile.mkdtemp(prefix="b12-fhir-server-"))
    log_path = log_dir / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["node", "server.mjs", "--port", "0"], cwd=SERVER_DIR, stdout=subprocess.PIPE,
            stderr=log, text=True, env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        try:
            port = _wait_for_port(process, log_path)
            yield f"http://127.0.0.1:{port}{BASE_PATH}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _wait_for_port(process: subprocess.Popen[str], log_path: Path) -> int:
    """Read the ``LISTENING <port>`` line the server prints when it is ready."""
    assert process.stdout is not None
    stdout = process.stdout
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    text = line[0].strip() if line else ""
    if not text.startswith("LISTENING "):
        process.kill()
        raise FhirServerStartError(
            f"test FHIR server did not start within {START_TIMEOUT:.0f} s "
            f"(said {text!r}); its log: {log_path}")
    return int(text.split()[1])
