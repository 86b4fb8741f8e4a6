"""A small HTTP load generator: P processes x T threads, each thread with its own
`http.client` connection (keep-alive: the connection is reused unless the server
closes it, which gunicorn's sync workers do after every response).

Loopback only, bounded by a duration and a request count. Standard library only, so
that spawning a client process is cheap (no Flask, no SQLAlchemy).
"""

from __future__ import annotations

import http.client
import multiprocessing
import resource
import threading
import time

# (method, path, headers, body) of one request
Request = tuple[str, str, dict, bytes | None]


def _thread(host, port, requests, offset, stop_at, max_requests, out, lock):
    latencies, statuses, errors, received, connects = [], {}, 0, 0, 0
    conn = http.client.HTTPConnection(host, port, timeout=60)
    i = offset
    n = len(requests)
    for _ in range(max_requests):
        if time.perf_counter() >= stop_at:
            break
        method, path, headers, body = requests[i % n]
        i += 1
        if conn.sock is None:
            connects += 1
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            continue
        latencies.append(time.perf_counter() - started)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        received += len(data)
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
        start_at = time.time() + 0.3  # every process starts together
        specs, first = [], 0
        for threads in per_process:
            specs.append({"host": host, "port": port, "requests": requests, "threads": threads,
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
