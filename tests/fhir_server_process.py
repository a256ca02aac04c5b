"""Start the test FHIR server (Medplum's engine, tests/fhir_server) on 127.0.0.1.

    with running_fhir_server() as base_url:   # "http://127.0.0.1:PORT/fhir/R4"
        ...

The pinned npm packages are installed on first use with ``npm ci`` from the committed lock
file, so a fresh machine needs only Node.js 20+ and npm. If the server cannot be installed
or started this raises ``FhirServerStartError`` (a RuntimeError): the integration tests
fail, they never skip. Plain module: no pytest needed (bench/run.py uses it too).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

SERVER_DIR = Path(__file__).resolve().parent / "fhir_server"
BASE_PATH = "/fhir/R4"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0
INSTALL_TIMEOUT = 600.0
# Written into node_modules after a successful `npm ci`; `npm ci` removes node_modules first,
# so an install that failed halfway leaves no stamp and is redone.
_STAMP = "node_modules/.b12-npm-ci-done"


class FhirServerStartError(RuntimeError):
    """The test server could not be installed or did not come up."""


def ensure_installed() -> None:
    """``npm ci`` in tests/fhir_server when node_modules is missing or older than the lock."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise FhirServerStartError(
                f"`{tool}` is not on PATH: the test FHIR server needs Node.js 20+ and npm")
    # Several pytest processes may start at once: one installs, the others wait for it.
    key = hashlib.sha1(str(SERVER_DIR).encode()).hexdigest()[:12]
    lock_path = Path(tempfile.gettempdir()) / f"b12-fhir-server-npm-{key}.lock"
    with lock_path.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if not _needs_install():
                return
            _npm_ci()
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _needs_install() -> bool:
    stamp = SERVER_DIR / _STAMP
    if not stamp.exists():
        return True
    newest_input = max((SERVER_DIR / name).stat().st_mtime
                       for name in ("package.json", "package-lock.json"))
    return stamp.stat().st_mtime < newest_input


def _npm_ci() -> None:
    command = ["npm", "ci", "--no-audit", "--no-fund"]
    try:
        done = subprocess.run(command, cwd=SERVER_DIR, capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as err:
        raise FhirServerStartError(
            f"`{' '.join(command)}` in {SERVER_DIR} took over {INSTALL_TIMEOUT:.0f} s") from err
    except OSError as err:
        raise FhirServerStartError(f"could not run `{' '.join(command)}`: {err}") from err
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-3000:]
        raise FhirServerStartError(
            f"`{' '.join(command)}` failed in {SERVER_DIR} (exit {done.returncode}):\n{output}")
    (SERVER_DIR / _STAMP).touch()


@contextlib.contextmanager
def running_fhir_server() -> Iterator[str]:
    """A fresh, empty server for the duration of the block; yields its base URL."""
    ensure_installed()
    log_dir = Path(tempfile.mkdtemp(prefix="b12-fhir-server-"))
    atexit.register(shutil.rmtree, log_dir, True)  # read by tests until the session ends
    log_path = log_dir / "server.log"
    with log_path.open("w") as log:
        try:
            process = subprocess.Popen(
                ["node", "server.mjs", "--port", "0"], cwd=SERVER_DIR, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=log, text=True,
                env={**os.environ, "NODE_NO_WARNINGS": "1"},
            )
        except OSError as err:
            raise FhirServerStartError(f"could not start node: {err}") from err
        try:
            port = _wait_for_port(process, log_path)
            yield f"http://127.0.0.1:{port}{BASE_PATH}"
        finally:
            _stop(process)


def _wait_for_port(process: subprocess.Popen[str], log_path: Path) -> int:
    """Read the ``LISTENING <port>`` line the server prints when it is ready."""
    assert process.stdout is not None
    stdout = process.stdout
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    text = line[0].strip() if line else ""
    parts = text.split()
    if len(parts) == 2 and parts[0] == "LISTENING" and parts[1].isdigit():
        return int(parts[1])
    _stop(process)
    if not line:
        what = f"did not say LISTENING within {START_TIMEOUT:.0f} s"
    else:
        what = f"exited with {process.returncode} (said {text!r})"
    raise FhirServerStartError(
        f"test FHIR server (node {SERVER_DIR / 'server.mjs'}) {what}; its log: {log_path}\n"
        f"{_tail(log_path)}")


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
    if process.stdout is not None:
        process.stdout.close()


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""
