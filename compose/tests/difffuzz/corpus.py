#!/usr/bin/env python3
"""Runs a corpus of real-world Compose files through `config` of berth and of Docker Compose and reports where
they differ (files found in the wild catch what generated documents do not).

  corpus.py BERTH COMPOSE CASE_DIR...

Each CASE_DIR holds a compose.yaml (and whatever it references that could be fetched), optionally a `cmd` file
in compare.py's format. Real files name env files and variables that are not there; before comparing, the
case is completed until Compose accepts it where it can: unset variables get the value 1 (written to `cmd`),
missing env files and other missing plain files are created empty. The case directories are modified.

Prints one line per case (same, both-refuse with both reasons, differs with the first differing key path,
berth-accepts, berth-refuses) and the counts; exit status 1 when a case differs or only one side refuses.
A difference found here goes into tests/regressions (compare.py --record) once fixed.
"""
import collections
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import compare  # noqa: E402

ROUNDS = 8


def cmd_lines(case):
    path = os.path.join(case, "cmd")
    return open(path).read().split("\n") if os.path.exists(path) else [".", ""]


def set_vars(case, assignments):
    """Appends KEY=VALUE lines to the case's cmd for keys it does not set yet; whether any was new."""
    lines = cmd_lines(case)
    have = {l.split("=", 1)[0] for l in lines[2:] if "=" in l}
    new = [(k, v) for k, v in assignments if k not in have]
    lines += [f"{k}={v}" for k, v in new]
    open(os.path.join(case, "cmd"), "w").write("\n".join(lines))
    return bool(new)


def stderr_of(binary, case):
    wd, args, env = compare.read_cmd(case)
    p = subprocess.run([binary, *args, "config", "--format", "json"], cwd=wd, env=env, capture_output=True,
                       timeout=compare.TIMEOUT)
    return p.stderr.decode(errors="replace")


def create_empty(case, path):
    """Creates a missing plain file inside the case (never a Compose file: that would change the project)."""
    if not path.startswith(os.path.realpath(case)) or os.path.exists(path) or path.endswith((".yml", ".yaml")):
        return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "a").close()
    return True


def complete(case, composeb, err):
    """One step towards a case Compose accepts; whether anything changed."""
    unset = re.findall(r'The \\"(\w+)\\" variable is not set', err)
    if unset and set_vars(case, [(v, "1") for v in unset]):
        return True
    m = re.search(r"required variable (\w+) is missing a value", err)
    if m:
        return set_vars(case, [(m.group(1), "x")])
    m = re.search(r"env file (\S+) not found", err) or re.search(
        r'(?:unable to find|no such file or directory|cannot find)[^/]*(/[^\s:"]+)', err)
    return bool(m) and create_empty(case, m.group(1))


def last_error(text):
    lines = [l for l in text.splitlines() if "level=warning" not in l]
    return lines[-1] if lines else ""


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    berth, composeb = sys.argv[1], sys.argv[2]
    kinds = collections.Counter()
    for case in sys.argv[3:]:
        for _ in range(ROUNDS):
            ok, _ = compare.run(composeb, case)
            if ok or not complete(case, composeb, stderr_of(composeb, case)):
                break
        kind, detail = compare.compare(berth, composeb, case)
        if kind == "both-refuse":
            detail = f"compose: {last_error(stderr_of(composeb, case))[-200:]} | berth: {compare.run(berth, case)[1][-200:]}"
        kinds[kind] += 1
        print(f"{kind:14} {os.path.basename(case.rstrip('/'))}: {detail[:400]}", flush=True)
    print("counts: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    return 0 if set(kinds) <= {"same", "both-refuse", "compose-timeout"} else 1


if __name__ == "__main__":
    sys.exit(main())
