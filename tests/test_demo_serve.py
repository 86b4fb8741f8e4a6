"""`accordant demo` serves the app with the scheduler running beside it, and Ctrl+C
or `kill` stops both. The database is prepared first, so the demo serves without loading."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "consent.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(instance: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ACCORDANT_") and k != "DATABASE_URL"}
    env.update(ACCORDANT_INSTANCE_PATH=str(instance), ACCORDANT_DEVELOPMENT_MODE="1",
               PYTHONUNBUFFERED="1")
    return env


def _lines(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


def _wait_for(lines: queue.Queue, text: str, seen: list[str]) -> None:
    while not any(text in line for line in seen):
        line = lines.get(timeout=120)
        assert line is not None, "".join(seen)
        seen.append(line)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])  # Ctrl+C, `kill`
def test_demo_serves_with_the_scheduler_and_stops_both(tmp_path, stop):
    env = _env(tmp_path / "instance")
    for args in (["db", "upgrade"], ["orgs", "create", "riverside", "--name", "Riverside",
                                     "--kind", "district"]):
        subprocess.run(CLI + args, env=env, check=True, capture_output=True, timeout=120)
    assert (tmp_path / "instance" / "accordant.sqlite").exists()

    port = _free_port()
    demo = subprocess.Popen(CLI + ["demo", "--port", str(port)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_lines, args=(demo.stdout, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        _wait_for(lines, "already holds data", seen)
        _wait_for(lines, f"Serving on http://127.0.0.1:{port}/", seen)
        _wait_for(lines, "scheduler running", seen)  # printed by the scheduler process
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                            timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                threading.Event().wait(0.2)
        else:
            raise AssertionError("the demo server never answered: " + "".join(seen))

        demo.send_signal(stop)
        assert demo.wait(timeout=30) is not None
        # The scheduler was stopped too: nothing of the demo's session is left running.
        for _ in range(100):
            try:
                os.killpg(demo.pid, 0)
            except ProcessLookupError:
                break
            threading.Event().wait(0.1)
        else:
            raise AssertionError("the scheduler outlived the demo")
    finally:
        try:
            os.killpg(demo.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        demo.wait(timeout=10)
        reader.join(timeout=10)
        demo.stdout.close()
