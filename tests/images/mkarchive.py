#!/usr/bin/env python3
"""Writes a docker-archive (`docker save`) tarball from uncompressed layer tars.

Used for the Debian fixture (tests/images/debian.sh) and for the registry benchmark's
derived images. Layers are given bottom-most first; the archive is deterministic.
"""
import argparse, hashlib, io, json, os, tarfile

MTIME = 1700000000
CREATED = "2023-11-14T22:13:20Z"

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

def add_bytes(tar, name, data):
    info = tarfile.TarInfo(name); info.size = len(data); info.mode = 0o644; info.mtime = MTIME
    tar.addfile(info, io.BytesIO(data))

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layer", action="append", required=True, help="uncompressed layer tar (repeat, bottom first)")
    p.add_argument("--tag", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--cmd", action="append", default=[])
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--label", action="append", default=[], help="KEY=VALUE")
    p.add_argument("--created-by", default="berth tests/images/mkarchive.py")
    a = p.parse_args()
    diff_ids = [sha256_file(l) for l in a.layer]
    config = {
        "architecture": "amd64", "os": "linux", "created": CREATED,
        "config": {"Env": a.env, "Cmd": a.cmd, "Labels": dict(l.split("=", 1) for l in a.label) or None},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + d for d in diff_ids]},
        "history": [{"created": CREATED, "created_by": a.created_by} for _ in diff_ids],
    }
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    config_id = hashlib.sha256(config_bytes).hexdigest()
    manifest = [{"Config": config_id + ".json", "RepoTags": [a.tag], "Layers": [d + "/layer.tar" for d in diff_ids]}]
    tmp = a.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, d in zip(a.layer, diff_ids):
            info = tarfile.TarInfo(d); info.type = tarfile.DIRTYPE; info.mode = 0o755; info.mtime = MTIME
            tar.addfile(info)
            info = tar.gettarinfo(path, arcname=d + "/layer.tar"); info.mtime = MTIME; info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as f:
                tar.addfile(info, f)
        add_bytes(tar, config_id + ".json", config_bytes)
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    os.replace(tmp, a.out)

main()
