"""PostgreSQL's side of an append benchmark: commits, appends per commit, and the CPU time
of every PostgreSQL process (backends, WAL writer, checkpointer) per append.

Usage: pg_side.py snap PSQL URL                prints a JSON snapshot
       pg_side.py diff PSQL URL SNAP BODY_SIZE  prints the figures since SNAP
"""

import json
import os
import subprocess
import sys
import time


def pg_cpu_seconds():
    """User + system CPU time of every running `postgres` process."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        if comm != "postgres":
            continue
        fields = text.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def sql(psql, url, query):
    out = subprocess.run([psql, "-qtA", url, "-c", query], check=True, stdout=subprocess.PIPE, text=True)
    return out.stdout.strip()


def snap(psql, url):
    commits = int(sql(psql, url, "SELECT sum(xact_commit) FROM pg_stat_database"))
    stored = int(sql(psql, url, "SELECT coalesce(sum(tail), 0) FROM streams"))
    return {"cpu": pg_cpu_seconds(), "commits": commits, "bytes": stored}


def main():
    mode, psql, url = sys.argv[1:4]
    if mode == "snap":
        print(json.dumps(snap(psql, url)))
        return
    before = json.loads(sys.argv[4])
    size = int(sys.argv[5])
    # Backends report their commit counts to the statistics at most once a second.
    time.sleep(2)
    after = snap(psql, url)
    appends = (after["bytes"] - before["bytes"]) / size
    # Each query of these snapshots is a commit of its own; a few do not matter.
    commits = after["commits"] - before["commits"]
    cpu = after["cpu"] - before["cpu"]
    if appends <= 0:
        print("PostgreSQL side: no appends stored")
        return
    print(f"PostgreSQL side: {appends:.0f} appends in {commits} commits "
          f"({appends / max(commits, 1):.1f} appends per commit), "
          f"PostgreSQL CPU {cpu / appends * 1e6:.1f} µs per append")


if __name__ == "__main__":
    main()
