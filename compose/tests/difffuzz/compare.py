#!/usr/bin/env python3
"""Runs `config --format json` of berth and of Docker Compose on one case directory and compares them.

A case directory holds Compose files and a `cmd` file: line 1 the working directory (relative to the case),
line 2 the global flags, then KEY=VALUE environment lines (the conformance corpus's format).

  compare.py BERTH COMPOSE CASE_DIR            -> prints "same", "both-refuse" or a difference; rc 0 if same
  compare.py --record COMPOSE CASE_DIR         -> writes CASE_DIR/expected.json (or expected.err if Compose refuses)
"""
import json
import os
import subprocess
import sys

TIMEOUT = 20


def read_cmd(case):
    path = os.path.join(case, "cmd")
    lines = open(path).read().split("\n") if os.path.exists(path) else [".", ""]
    wd = os.path.normpath(os.path.join(case, lines[0] if lines and lines[0] else "."))
    args = lines[1].split() if len(lines) > 1 else []
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent-home"}
    for l in lines[2:]:
        if "=" in l:
            k, v = l.split("=", 1)
            env[k] = v
    return wd, args, env


def run(binary, case):
    """(ok, parsed JSON or error text) of `binary [flags] config --format json` on a case."""
    wd, args, env = read_cmd(case)
    try:
        p = subprocess.run([binary, *args, "config", "--format", "json"], cwd=wd, env=env,
                           capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, "timeout"
    if p.returncode != 0:
        return False, p.stderr.decode(errors="replace").strip()
    text = p.stdout.decode(errors="replace").replace(os.path.realpath(case), "{{ROOT}}")
    try:
        return True, json.loads(text)
    except ValueError as e:
        return False, f"unparseable output: {e}"


def diff(a, b, path=""):
    """First differing key path of two JSON values, with both sides."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: {json.dumps(a.get(k, '<absent>'))[:200]} vs {json.dumps(b.get(k, '<absent>'))[:200]}"
            d = diff(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    if a != b or type(a) != type(b):
        return f"{path}: {json.dumps(a)[:200]} vs {json.dumps(b)[:200]}"
    return None


def compare(berth, compose, case):
    """("same" | "both-refuse" | "berth-refuses" | "berth-accepts" | "differs", detail)."""
    bo, bv = run(berth, case)
    co, cv = run(compose, case)
    if cv == "timeout":
        return "compose-timeout", ""
    if not bo and not co:
        return "both-refuse", ""
    if bo and not co:
        return "berth-accepts", cv[-400:]
    if co and not bo:
        return "berth-refuses", bv[-400:]
    d = diff(bv, cv)
    return ("same", "") if d is None else ("differs", "berth vs compose at " + d)


def record(compose, case):
    ok, v = run(compose, case)
    for f in ("expected.json", "expected.err"):
        if os.path.exists(os.path.join(case, f)):
            os.remove(os.path.join(case, f))
    if ok:
        with open(os.path.join(case, "expected.json"), "w") as f:
            json.dump(v, f, indent=2, sort_keys=True)
            f.write("\n")
    else:
        with open(os.path.join(case, "expected.err"), "w") as f:
            f.write(v.replace(os.path.realpath(case), "{{ROOT}}") + "\n")
    return ok


def main():
    if sys.argv[1] == "--record":
        for case in sys.argv[3:]:
            print(case, "accepted" if record(sys.argv[2], case) else "refused")
        return 0
    kind, detail = compare(sys.argv[1], sys.argv[2], sys.argv[3])
    print(kind, detail)
    return 0 if kind in ("same", "both-refuse") else 1


if __name__ == "__main__":
    sys.exit(main())
