"""A small HTTP load generator: P processes x T threads, each thread with its own
HTTP/1.1 connection, kept alive unless the server closes it (gunicorn's sync workers
close after every response; its gthread workers keep it).

Each request is encoded once into its bytes and written to a plain socket; the answer
is read whole (status line, headers, exactly Content-Length bytes of body) and its
status counted. `http.client` parsed every response's headers through the e-mail
parser, which cost the client more CPU than a small answer costs the server, on the
same two cores.

Loopback only, bounded by a duration and a request count. Standard library only, so
that spawning a client process is cheap (no Flask, no SQLAlchemy).
"""

from __future__ import annotations

import multiprocessing
import resource
import socket
import threading
import time

# (method, path, headers, body) of one request
Request = tuple[str, str, dict, bytes | None]


def encode(host: str, port: int, request: Request) -> bytes:
    """The bytes of one HTTP/1.1 request."""
    method, path, headers, body = request
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}",
             *(f"{name}: {value}" for name, value in headers.items())]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class ProtocolError(Exception):
    pass


class Connection:
    """One keep-alive connection; `exchange` sends a request and reads its answer."""

    def __init__(self, host: str, port: int, timeout: float):
        self.address, self.timeout = (host, port), timeout
        self.sock: socket.socket | None = None
        self.buffer = b""

    def connect(self) -> None:
        self.sock = socket.create_connection(self.address, timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def _more(self) -> None:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ProtocolError("connection closed mid-response")
        self.buffer += chunk

    def exchange(self, data: bytes) -> tuple[int, bytes]:
        """(status, body) of the answer to `data`."""
        self.sock.sendall(data)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._more()
        head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4:]
        lines = head.split("\r\n")
        version, code, *_ = lines[0].split(" ", 2)
        if not version.startswith("HTTP/1."):
            raise ProtocolError(f"not an HTTP/1.x status line: {lines[0]!r}")
        length, close = None, version == "HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
            elif name == "transfer-encoding":
                raise ProtocolError("chunked answers are not expected here")
        if length is None:
            raise ProtocolError("answer without Content-Length")
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if close:
            self.close()
        return int(code), body


def _thread(host, port, requests, offset, stop_at, max_requests, out, lock):
    latencies, statuses, errors, received, connects = [], {}, 0, 0, 0
    conn = Connection(host, port, timeout=60)
    i = offset
    n = len(requests)
    for _ in range(max_requests):
        if time.perf_counter() >= stop_at:
            break
        data = requests[i % n]
        i += 1
        started = time.perf_counter()
        try:
            if conn.sock is None:
                connects += 1
                conn.connect()
            status, body = conn.exchange(data)
        except (OSError, ProtocolError, ValueError):
            errors += 1
            conn.close()
            continue
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
        received += len(body)
    conn.close()
    with lock:
        out["latencies"].extend(latencies)
        out["errors"] += errors
        out["bytes"] += received
        out["connects"] += connects
        for status, count in statuses.items():
            out["statuses"][status] = out["statuses"].get(status, 0) + count


def client_process(spec: dict) -> dict:
    """Run `spec["threads"]` threads from `spec["start_at"]` (time.time()) for
    `spec["duration"]` seconds; return their latencies and counts."""
    out = {"latencies": [], "errors": 0, "bytes": 0, "connects": 0, "statuses": {}}
    lock = threading.Lock()
    delay = spec["start_at"] - time.time()
    if delay > 0:
        time.sleep(delay)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    stop_at = started + spec["duration"]
    threads = [threading.Thread(target=_thread, args=(
        spec["host"], spec["port"], spec["requests"], spec["offset"] + k * spec["stride"],
        stop_at, spec["max_requests"], out, lock)) for k in range(spec["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["elapsed"] = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_seconds"] = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return out


class LoadGenerator:
    """A pool of client processes, spawned once and reused for every run."""

    def __init__(self, processes: int = 2):
        self.processes = processes
        self.pool = multiprocessing.get_context("spawn").Pool(processes)
        self.pool.map(time.sleep, [0] * processes)  # wait until every process is up

    def close(self):
        self.pool.terminate()
        self.pool.join()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    def run(self, host: str, port: int, requests: list[Request], concurrency: int,
            duration: float, max_requests: int = 1_000_000) -> dict:
        """`concurrency` connections spread over the processes for `duration` seconds."""
        processes = max(1, min(self.processes, concurrency))
        per_process = [concurrency // processes + (1 if i < concurrency % processes else 0)
                       for i in range(processes)]
        stride = max(1, len(requests) // concurrency)
        encoded = [encode(host, port, r) for r in requests]
        start_at = time.time() + 0.3  # every process starts together
        specs, first = [], 0
        for threads in per_process:
            specs.append({"host": host, "port": port, "requests": encoded, "threads": threads,
                          "offset": first * stride, "stride": stride, "start_at": start_at,
                          "duration": duration, "max_requests": max_requests})
            first += threads
        results = self.pool.map(client_process, specs, chunksize=1)
        latencies = sorted(x for r in results for x in r["latencies"])
        statuses: dict = {}
        for r in results:
            for status, count in r["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        elapsed = max(r["elapsed"] for r in results)
        return {"concurrency": concurrency, "processes": processes, "duration": elapsed,
                "requests": len(latencies), "errors": sum(r["errors"] for r in results),
                "statuses": {str(k): v for k, v in sorted(statuses.items())},
                "bytes": sum(r["bytes"] for r in results),
                "connects": sum(r["connects"] for r in results),
                "client_cpu_seconds": sum(r["cpu_seconds"] for r in results),
                "latencies": latencies}
