"""A bounded HTTP load generator: N keep-alive connections for a fixed time, one JSON line of results.

Runs as its own process (`python -m bench.load ...`) so its CPU is never counted as the server's.
The body may contain `{n}`, replaced by a per-request counter (unique names for creations), and
`{status}`, alternating between "active" and "inactive" (status switches that really change something).
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import sys
import threading
import time


def run(host: str, port: int, method: str, path: str, headers: dict[str, str], body: str | None,
        connections: int, seconds: float) -> dict:
    """Hit the server from `connections` threads for `seconds`; latencies of the successful answers."""
    counter = itertools.count()
    latencies: list[list[float]] = [[] for _ in range(connections)]
    failures = [0] * connections
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while time.perf_counter() < deadline:
            n = next(counter)
            payload = None
            if body is not None:
                payload = body.replace("{n}", str(n)).replace("{status}", "active" if n % 2 else "inactive").encode()
            started = time.perf_counter()
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                failures[slot] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
                continue
            elapsed = time.perf_counter() - started
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
            if 200 <= response.status < 300:
                latencies[slot].append(elapsed)
            else:
                failures[slot] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    merged = sorted(x for part in latencies for x in part)

    def percentile(q: float) -> float:
        return merged[min(len(merged) - 1, int(q * len(merged)))] * 1000 if merged else float("nan")

    return {"ok": len(merged), "failed": sum(failures), "statuses": statuses, "seconds": wall,
            "rps": len(merged) / wall, "p50_ms": percentile(0.50), "p99_ms": percentile(0.99)}


def main() -> int:
    """Command line: python -m bench.load --port P --path /x [--method M] [--header K:V] [--body B]."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--body")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    print(json.dumps(run(args.host, args.port, args.method, args.path, headers, args.body, args.connections, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
