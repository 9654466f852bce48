"""How a claim's cost grows with the execution history, on a replica of the store's schema.

Usage: python3 benches/sqlite-index-growth.py jobfirst|timefirst JOBS SECONDS

Each round inserts one pending execution per job in one transaction (a claim of every-second
jobs), then marks them all succeeded in a second one (the results). `jobfirst` has the store's
indexes: unique (job_id, scheduled_time), (scheduled_time), the unfinished partial index.
`timefirst` replaces the first two with one unique (scheduled_time, job_id), to show what the
job-first index costs. Prints, every few rounds, the claim's time and the bytes written (the
process's wchar, WAL pages mostly) per inserted row. See docs/PERFORMANCE.md, "The SQLite store".
Writes /tmp/idx_<layout>.db; nothing else.
"""
import sqlite3, uuid, time, os, sys
layout = sys.argv[1]  # 'jobfirst' or 'timefirst'
J = int(sys.argv[2]); rounds = int(sys.argv[3]); path = f"/tmp/idx_{layout}.db"
for s in ("", "-wal", "-shm"):
    try: os.remove(path + s)
    except FileNotFoundError: pass
c = sqlite3.connect(path, isolation_level=None)
c.execute("PRAGMA page_size=16384"); c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=NORMAL")
c.execute("PRAGMA cache_size=-65536")
c.execute("""CREATE TABLE e(id TEXT PRIMARY KEY, job_id TEXT NOT NULL, scheduled_time INTEGER NOT NULL,
  executed_time INTEGER, status TEXT NOT NULL, http_status INTEGER, duration INTEGER, error_message TEXT,
  retry_count INTEGER DEFAULT 0, finished_time INTEGER, trigger TEXT NOT NULL DEFAULT 'SCHEDULE',
  claimed_by TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0)""")
if layout == 'jobfirst':
    c.execute("CREATE UNIQUE INDEX jt ON e(job_id, scheduled_time)")
    c.execute("CREATE INDEX st ON e(scheduled_time)")
else:
    c.execute("CREATE UNIQUE INDEX tj ON e(scheduled_time, job_id)")
c.execute("CREATE INDEX unf ON e(claimed_by, scheduled_time) WHERE status IN ('PENDING','RUNNING')")
def wchar():
    return int([l for l in open('/proc/self/io') if l.startswith('wchar')][0].split()[1])
jobs = [str(uuid.uuid4()) for _ in range(J)]
t0 = 1_800_000_000_000
for r in range(rounds):
    st = t0 + r * 1000
    w0 = wchar()
    a = time.perf_counter()
    c.execute("BEGIN")
    rows = [(str(uuid.uuid7()) if hasattr(uuid,'uuid7') else '%016x%s' % (time.time_ns(), uuid.uuid4().hex[:16]), j, st, 'PENDING', 'n1') for j in jobs]
    c.executemany("INSERT INTO e(id, job_id, scheduled_time, status, claimed_by) VALUES (?,?,?,?,?)", rows)
    c.execute("COMMIT")
    b = time.perf_counter()
    w1 = wchar()
    c.execute("BEGIN")
    c.executemany("UPDATE e SET status='SUCCEEDED', executed_time=?2, finished_time=?2, http_status=200, duration=1, attempts=1 WHERE id=?1", [(row[0], st) for row in rows])
    c.execute("COMMIT")
    d = time.perf_counter()
    if r % max(1, rounds // 12) == 0 or r == rounds - 1:
        wal = os.path.getsize(path + "-wal") if os.path.exists(path+"-wal") else 0
        print(f"{layout} round {r:4d} rows {J*(r+1):9d} claim {1000*(b-a):7.1f} ms {(w1-w0)/J:7.0f} B/row results {1000*(d-b):7.1f} ms", flush=True)
