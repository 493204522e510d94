#!/usr/bin/env python3
"""Differential fuzzing of `berth config` against Docker Compose: generate, compare, count, keep the differences.

  run.py BERTH COMPOSE [--seeds START:COUNT] [--keep DIR]

Exit status 1 when some document differs (a refusal on one side only counts as a difference). Differing cases
are copied to DIR (default /tmp/difffuzz-found) with the difference in `diff.txt`, ready to be recorded into
tests/regressions with compare.py --record once fixed.
"""
import argparse
import collections
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import compare  # noqa: E402
import gen  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("berth")
    ap.add_argument("compose")
    ap.add_argument("--seeds", default="0:200")
    ap.add_argument("--keep", default="/tmp/difffuzz-found")
    a = ap.parse_args()
    start, count = (int(x) for x in a.seeds.split(":"))
    kinds = collections.Counter()
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(start, start + count):
            case = os.path.join(tmp, f"seed-{seed}")
            gen.write_case(seed, case)
            kind, detail = compare.compare(a.berth, a.compose, case)
            kinds[kind] += 1
            if kind not in ("same", "both-refuse", "compose-timeout"):
                found.append((seed, kind, detail))
                dst = os.path.join(a.keep, f"seed-{seed}")
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(case, dst)
                open(os.path.join(dst, "diff.txt"), "w").write(f"{kind} {detail}\n")
            shutil.rmtree(case, ignore_errors=True)
    for seed, kind, detail in found:
        print(f"seed {seed}: {kind}: {detail[:300]}")
    print(f"compared {count} documents: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
