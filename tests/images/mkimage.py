#!/usr/bin/env python3
"""Writes a docker-archive (`docker save`) tarball of a one-layer busybox image.

The layer is deterministic (fixed mtimes, sorted entries), so its digest is
stable across machines and runs.
"""
import argparse, hashlib, io, json, os, subprocess, tarfile

MTIME = 1700000000

def add_dir(tar, path, mode=0o755):
    info = tarfile.TarInfo(path); info.type = tarfile.DIRTYPE; info.mode = mode; info.mtime = MTIME
    tar.addfile(info)

def add_file(tar, path, data, mode=0o644):
    info = tarfile.TarInfo(path); info.size = len(data); info.mode = mode; info.mtime = MTIME
    tar.addfile(info, io.BytesIO(data))

def add_link(tar, path, target):
    info = tarfile.TarInfo(path); info.type = tarfile.SYMTYPE; info.linkname = target; info.mtime = MTIME
    tar.addfile(info)

def busybox_layer(busybox):
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for d in ["bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "usr/bin", "usr/sbin", "sbin", "var", "var/www", "var/spool", "var/spool/cron", "var/spool/cron/crontabs"]:
            add_dir(tar, d, 0o1777 if d == "tmp" else (0o700 if d == "root" else 0o755))
        add_file(tar, "bin/busybox", open(busybox, "rb").read(), 0o755)
        for a in sorted(set(applets)):
            a = a.lstrip("/")
            if a == "bin/busybox" or a.count("/") == 0:
                continue
            depth = a.count("/")
            add_link(tar, a, "../" * depth + "bin/busybox")
        add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\n")
        add_file(tar, "etc/group", b"root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nnogroup:x:65534:\n")
        add_file(tar, "etc/shadow", b"root:*:19000:0:99999:7:::\n", 0o600)
    return buf.getvalue()

def write_archive(out, tag, layer, cmd):
    diff_id = hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": cmd},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "berth tests/images/mkimage.py: busybox-static"}],
    }
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    config_id = hashlib.sha256(config_bytes).hexdigest()
    manifest = [{"Config": config_id + ".json", "RepoTags": [tag], "Layers": [diff_id + "/layer.tar"]}]
    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.GNU_FORMAT) as tar:
        add_dir(tar, diff_id)
        add_file(tar, diff_id + "/layer.tar", layer)
        add_file(tar, config_id + ".json", config_bytes)
        add_file(tar, "manifest.json", json.dumps(manifest).encode())
    os.replace(tmp, out)

def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["busybox"])
    p.add_argument("--busybox", default="/bin/busybox")
    p.add_argument("--out", required=True)
    p.add_argument("--tag", default="busybox:latest")
    a = p.parse_args()
    write_archive(a.out, a.tag, busybox_layer(a.busybox), ["sh"])

main()
