#!/usr/bin/env python3
"""Jobs created per second through POST /api/jobs:batch.

Starts `scheduler serve` (a release build) on 127.0.0.1 with a fresh database, posts BATCHES
batches of SIZE jobs one after another, and prints the jobs created per second over the posts
(from the first request sent to the last answer read), with the slowest and fastest batch. The
bodies are built before the clock starts; the server is stopped at the end.

Usage: benches/bulk-create.py [--binary target/release/scheduler] [--batches 10] [--size 10000]
                              [--schedule "0 */5 * * * *"] [--ndjson] [--db postgres://...]

Without --db the server gets a SQLite file in a temporary directory (the default store); with
--db postgres://... it uses that database, whose jobs table should be empty (the script does
not clean it). Bounded: at most 100 batches of at most 10,000 jobs, and every request gives up
after 120 s.
"""
import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

MAX_BATCHES = 100
MAX_SIZE = 10_000


def start_server(binary, db):
    """Starts the server on a free port and returns (process, port) once it listens."""
    process = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--db", db, "--log-level", "info"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        match = re.search(r"listening on https?://127\.0\.0\.1:(\d+)", line)
        if match:
            # Keep reading its log, so that a full pipe never blocks the server.
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
            return process, int(match.group(1))
    process.kill()
    sys.exit("the server did not say where it listens within 60 s")


def body(size, schedule, batch, ndjson):
    jobs = [
        {
            "schedule": schedule,
            "api": f"http://127.0.0.1:9/bulk/{batch}/{i}",
            "type": "ATLEAST_ONCE",
            "name": f"bulk {batch}-{i}",
        }
        for i in range(size)
    ]
    if ndjson:
        return "\n".join(json.dumps(job) for job in jobs).encode(), "application/x-ndjson"
    return json.dumps(jobs).encode(), "application/json"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="target/release/scheduler")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--size", type=int, default=MAX_SIZE)
    parser.add_argument("--schedule", default="0 */5 * * * *")
    parser.add_argument("--ndjson", action="store_true")
    parser.add_argument("--db", help="a postgres:// URL; default: SQLite in a temporary directory")
    args = parser.parse_args()
    if not 1 <= args.batches <= MAX_BATCHES or not 1 <= args.size <= MAX_SIZE:
        sys.exit(f"--batches must be 1-{MAX_BATCHES} and --size 1-{MAX_SIZE}")

    bodies = [body(args.size, args.schedule, b, args.ndjson) for b in range(args.batches)]
    with tempfile.TemporaryDirectory() as directory:
        db = args.db or os.path.join(directory, "bulk.db")
        process, port = start_server(args.binary, db)
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            times = []
            started = time.perf_counter()
            for payload, content_type in bodies:
                sent = time.perf_counter()
                connection.request(
                    "POST", "/api/jobs:batch", body=payload, headers={"Content-Type": content_type}
                )
                response = connection.getresponse()
                answer = response.read()
                if response.status != 201:
                    sys.exit(f"HTTP {response.status}: {answer[:500]!r}")
                times.append(time.perf_counter() - sent)
            elapsed = time.perf_counter() - started
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    jobs = args.batches * args.size
    store = "postgres" if args.db else "sqlite"
    print(
        f"{jobs} jobs in {args.batches} batches of {args.size} ({store}, "
        f"{'ndjson' if args.ndjson else 'json'}, schedule {args.schedule!r}): "
        f"{elapsed:.2f} s, {jobs / elapsed:,.0f} jobs/s; "
        f"batch fastest {min(times) * 1000:.0f} ms, slowest {max(times) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
