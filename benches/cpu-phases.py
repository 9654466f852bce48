#!/usr/bin/env python3
"""CPU by thread over the phase of the wall-clock second, for processes under load.

Cron ticks fall on whole seconds, so under every-second load the work comes in a burst after
each whole second. This samples the CPU time of every thread of the given processes (from
/proc/PID/task/TID/stat) every 50 ms for SECONDS, folds the samples onto the phase of the
second they fell in (ten 100 ms buckets), and prints, for each bucket, the cores each thread
group used on average: when the burst runs, which threads run during it, and what runs after.

Usage: benches/cpu-phases.py PID[,PID...] SECONDS
  e.g. while `harness run --from-db SEED ...` runs (the sink's threads are in the harness):
       benches/cpu-phases.py $(pgrep -f ' serve --listen'),$(pgrep -f 'harness run') 15

Threads are grouped by PID and name (tokio workers share one name); the kernel counts CPU in
ticks of 10 ms, so run it for 10 s or more. Linux only; reads /proc, changes nothing.
"""
import collections
import os
import sys
import time


def snapshot(pids):
    """CPU ticks used so far, by (pid, thread name)."""
    used = collections.Counter()
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                    text = stat.read()
            except OSError:
                continue
            name = text[text.index("(") + 1 : text.rindex(")")]
            fields = text[text.rindex(")") + 2 :].split()
            used[(pid, name)] += int(fields[11]) + int(fields[12])  # utime + stime
    return used


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    try:
        pids = [int(pid) for pid in sys.argv[1].split(",") if pid]
    except ValueError:
        sys.exit(f"PID list {sys.argv[1]!r}: expected numbers separated by commas")
    if not pids:
        sys.exit("no PID given (did pgrep find the processes?)")
    seconds = float(sys.argv[2])
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    used_by_phase = collections.defaultdict(collections.Counter)
    time_by_phase = collections.Counter()
    previous, previous_at = snapshot(pids), time.time()
    end = previous_at + seconds
    while time.time() < end:
        time.sleep(0.05)
        current, now = snapshot(pids), time.time()
        phase = int(((previous_at + now) / 2 % 1.0) * 10)
        for key, ticks in current.items():
            used_by_phase[phase][key] += ticks - previous.get(key, 0)
        time_by_phase[phase] += now - previous_at
        previous, previous_at = current, now
    keys = sorted({key for used in used_by_phase.values() for key in used})
    print("phase " + " ".join(f"{name[:12]:>12}" for _, name in keys) + "        all")
    for phase in range(10):
        elapsed = time_by_phase[phase] or 1.0
        cores = [used_by_phase[phase][key] / ticks_per_second / elapsed for key in keys]
        print(
            f"{phase / 10:.1f}   "
            + " ".join(f"{value:12.2f}" for value in cores)
            + f" {sum(cores):10.2f}"
        )


if __name__ == "__main__":
    main()
