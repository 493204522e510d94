#!/usr/bin/env python3
"""Measures a running watch (bench/watch.sh): edit -> file visible in the container, edit -> restarted service
answering, and whether rapid edits are lost. Prints one `key value` line per figure.

usage: watch_probe.py PROJECT_DIR MERGED_DIR URL EDITS RESTARTS RAPID
  MERGED_DIR  the sync service's root filesystem seen from the host (GraphDriver.Data.MergedDir)
  URL         the sync+restart service's published page
"""
import http.client
import os
import sys
import time
import urllib.request


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def write(path, text):
    # As editors do: a new file renamed over the old one would be one event too; a plain write is the common case.
    with open(path, "w") as f:
        f.write(text)


def wait_for(check, deadline_s):
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        if check():
            return True
        time.sleep(0.0005)
    return False


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.read().decode().strip()
    except (OSError, http.client.HTTPException):  # a restart may cut a reply short
        return None


def sync_latencies(project, merged, edits):
    out, missed = [], 0
    for i in range(edits):
        text = f"edit {i} {time.time_ns()}"
        t0 = time.monotonic()
        write(os.path.join(project, "src", "f.txt"), text)
        if wait_for(lambda: read(os.path.join(merged, "app", "f.txt")) == text, 10):
            out.append((time.monotonic() - t0) * 1000)
        else:
            missed += 1
        time.sleep(0.05)  # edits a person makes are apart; the next one must not join this batch
    return out, missed


def restart_latencies(project, url, restarts):
    out, missed = [], 0
    for i in range(restarts):
        text = f"version {i} {time.time_ns()}"
        t0 = time.monotonic()
        write(os.path.join(project, "web", "msg"), text)
        seen = []

        def answered():
            seen.append(fetch(url))
            return seen[-1] == text

        if wait_for(answered, 30):
            out.append((time.monotonic() - t0) * 1000)
        else:
            missed += 1
            print(f"restart {i} missed: {len(seen)} fetches, last {seen[-1]!r}", file=sys.stderr)
    return out, missed


def rapid(project, merged, count):
    """`count` edits as fast as Python writes them (100 files, each rewritten); how many final contents miss."""
    files = 100
    want = {}
    for i in range(count):
        name = f"r{i % files}.txt"
        want[name] = f"{i}"
        write(os.path.join(project, "src", "rapid", name), want[name])

    def lost():
        return sum(read(os.path.join(merged, "app", "rapid", n)) != t for n, t in want.items())

    wait_for(lambda: lost() == 0, 30)
    return lost()


def report(name, values, missed):
    if values:
        print(f"{name}_p50_ms {percentile(values, 50):.1f}")
        print(f"{name}_p95_ms {percentile(values, 95):.1f}")
    print(f"{name}_missed {missed}")


def main():
    project, merged, url, edits, restarts, count = sys.argv[1:7]
    os.makedirs(os.path.join(project, "src", "rapid"), exist_ok=True)
    report("sync", *sync_latencies(project, merged, int(edits)))
    report("restart", *restart_latencies(project, url, int(restarts)))
    print(f"rapid_edits {count}")
    print(f"rapid_lost {rapid(project, merged, int(count))}")


if __name__ == "__main__":
    main()
