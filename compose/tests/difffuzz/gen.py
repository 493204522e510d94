#!/usr/bin/env python3
"""Generates random Compose projects from the Compose JSON schema, for differential testing against Docker Compose.

Each project is a case directory (see compare.py): 1-3 files merged with -f, sometimes `extends`/`include`,
profiles, interpolation from the environment, edge values (empty, zero, negative, huge, unicode), anchors and
merge keys. The output is YAML written by hand so anchors, tags and odd scalars can appear.
"""
import json
import os
import random

SCHEMA = json.load(open(os.path.join(os.path.dirname(__file__), "../../schema/compose-spec.json")))
DEFS = SCHEMA["$defs"]

WORDS = ["a", "web", "db", "x1", "n_2", "v.3", "busybox", "alpine:3", "/data", "./rel", "80", "8080:80",
         "1m", "30s", "1.5", "true", "yes", "on", "0", "-1", "", "é", "a b", "$$HOME", "${VAR}", "${UNSET:-dflt}",
         "${VAR:?needed}", "${EMPTY-x}", "${NUM}", "tcp", "rw", "10m", "0400", "host", "none", "service:b",
         "./x:/x:ro", "v:/v", "/a:/b:rw,z", "127.0.0.1:8000-8001:80-81/udp", "9" * 30, "k=v", "K", "~/p"]
EDGE = [0, -1, 1, 2 ** 63 - 1, 2 ** 64, 1.5, -0.5, "", None, True, False, "0", "yes", "1e3", [], {}]
ENV = {"VAR": "value", "NUM": "3", "EMPTY": "", "TRUE": "true", "PNAME": "fromenv"}
SERVICE_NAMES = ["a", "b", "c"]
DURATIONS = ["30s", "1m30s", "500ms", "1h", "0s", "${NUM}s", "10"]
SIZES = ["1g", "512m", "100k", "1024", "0", "1.5g", "${NUM}m", "-1"]
INTS = ["1", "0", "${NUM}", "-1", "100"]
BOOLS = ["true", "false", "${TRUE}"]
POOLS = {
    "duration": DURATIONS, "stop_grace_period": DURATIONS, "interval": DURATIONS, "timeout": DURATIONS,
    "start_period": DURATIONS, "delay": DURATIONS, "window": DURATIONS, "monitor": DURATIONS,
    "mem_limit": SIZES, "mem_reservation": SIZES, "memswap_limit": SIZES, "shm_size": SIZES, "memory": SIZES,
    "size": SIZES, "rate": SIZES,
    "cpu_count": INTS, "cpu_shares": INTS, "cpu_quota": INTS, "cpu_period": INTS, "pids_limit": INTS,
    "replicas": INTS, "retries": INTS, "scale": INTS, "mem_swappiness": INTS, "oom_score_adj": INTS,
    "cpus": ["0.5", "1", "${NUM}", "2.25"], "cpu_percent": INTS, "weight": ["300", "10"],
    "privileged": BOOLS, "init": BOOLS, "tty": BOOLS, "read_only": BOOLS, "stdin_open": BOOLS,
    "published": ["8080", "8000-8001", "${NUM}000", ""], "target": ["/data", "80", "/run/x"],
    "ports": ["80", "8080:80", "127.0.0.1:8000:80/udp", "8000-8001:80-81", "[::1]:90:90", "${NUM}000:80"],
    "volumes": ["./x:/x:ro", "v1:/v", "/a:/b:rw,z", "/only", "~/h:/h", "${VAR}:/var"],
    "image": ["busybox", "alpine:3", "${VAR:-img}"], "network_mode": ["host", "none", "bridge", "service:a"],
    "restart": ["no", "always", "on-failure:3", "unless-stopped"], "user": ["1000", "1000:1000", "nobody"],
    "devices": ["/dev/null", "/dev/null:/dev/n:rw"], "extra_hosts": ["h=1.2.3.4", "h:1.2.3.4", "h=::1"],
    "environment": ["A=1", "B", "C=${VAR}", "D="], "labels": ["a=b", "c", "d="], "command": ["echo hi", "sh -c 'a b'"],
    "entrypoint": ["/bin/sh", "sh -c \"x y\""], "depends_on": ["a", "b"], "links": ["a", "b:alias"],
    "volumes_from": ["a", "b:ro", "container:x"], "secrets": ["s1"], "configs": ["n1"], "networks": ["n1", "default"],
    "pull_policy": ["always", "never", "missing", "build", "daily", "every_12h"],
    "mode": ["0400", "ingress", "host", "0o777"], "driver": ["bridge", "local", "overlay"],
    "subnet": ["10.0.0.0/24", "fd00::/64"], "gateway": ["10.0.0.1"], "ipv4_address": ["10.0.0.5"],
    "tmpfs": ["/run", "/tmp:size=1m"], "dns": ["8.8.8.8"], "expose": ["80", "90-91/udp"],
    "platform": ["linux/amd64", "linux/arm64"], "count": ["all", "1", "2"], "model": ["ai/smollm2"],
    "file": ["./f.txt", "/etc/hostname"], "context": [".", "./ctx"], "dockerfile": ["Dockerfile", "x.Dockerfile"],
    "hostname": ["h1", "host.example"], "container_name": ["c1", "my_c"], "working_dir": ["/app", "/"],
    "stop_signal": ["SIGTERM", "SIGKILL"], "cgroup_parent": ["/x"], "runtime": ["runc"], "ipc": ["host", "shareable"],
    "pid": ["host"], "uts": ["host"], "userns_mode": ["host"], "isolation": ["default"], "cpuset": ["0-1", "0"],
    "mac_address": ["02:42:ac:11:00:02"], "domainname": ["example.com"], "name": ["n1", "my-name", "${VAR}"],
    "aliases": ["al1", "al2"], "capabilities": ["gpu", "compute"], "device_ids": ["0", "1"],
    "test": ["CMD-SHELL true", "NONE"], "source": ["s1", "n1", "./src"], "content": ["hello"],
    "environment_var": ["VAR"], "cap_add": ["NET_ADMIN", "ALL"], "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"],
    "group_add": ["mail", "42"], "sysctls": ["net.core.somaxconn=1024"], "profiles": ["p1", "p2"],
    "annotations": ["a=b"], "dns_search": ["example.com"], "dns_opt": ["ndots:1"], "storage_opt": ["size=1G"],
}


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        # At most one edge value per document, so most documents stay valid and get compared in full.
        self.edges = 1 if self.r.random() < 0.4 else 0

    def chance(self, p):
        return self.r.random() < p

    def resolve(self, s):
        while isinstance(s, dict) and "$ref" in s:
            s = DEFS[s["$ref"].split("/")[-1]]
        return s

    def string(self, s, key=None):
        if "enum" in s:
            return self.r.choice(s["enum"])
        pool = POOLS.get(key) or POOLS.get(s.get("format"))
        if pool and self.chance(0.97):
            return self.r.choice(pool)
        return self.r.choice(WORDS)

    def value(self, s, depth=0, key=None):
        """A value meant to fit `s` (the value of `key`), sometimes an edge value that may not."""
        s = self.resolve(s)
        if (self.edges and self.chance(0.05)) or depth > 6:
            self.edges = 0
            return self.r.choice(EDGE)
        if not isinstance(s, dict):
            return self.r.choice(WORDS)
        for comb in ("oneOf", "anyOf"):
            if comb in s:
                branches = [self.resolve(b) for b in s[comb]]
                typed = [b for b in branches if isinstance(b, dict) and b.get("type") in ("boolean", "integer", "number")]
                if typed:
                    v = self.value(self.r.choice(typed), depth + 1, key)
                    # Interpolated values arrive as strings: Compose casts them back.
                    return str(v).lower() if self.chance(0.2) and not isinstance(v, str) else v
                return self.value(self.r.choice(branches), depth + 1, key)
        if "enum" in s:
            return self.r.choice(s["enum"])
        t = s.get("type")
        if isinstance(t, list):
            typed = [x for x in t if x in ("boolean", "integer", "number")]
            t = self.r.choice(typed or t)
        if t == "object" or "properties" in s:
            return self.mapping(s, depth)
        if t == "array":
            return [self.value(s.get("items", {}), depth + 1, key) for _ in range(self.r.randint(0, 3))]
        if t == "integer":
            return self.r.choice([0, 1, 2, 100, -1, 65535, 2 ** 31])
        if t == "number":
            return self.r.choice([0, 0.5, 1, 2.25, -1])
        if t == "boolean":
            return self.chance(0.5)
        if t == "null":
            return None
        return self.string(s, key)

    def mapping(self, s, depth):
        out = {}
        props = s.get("properties", {})
        keys = list(props)
        chosen = set(self.r.sample(keys, min(len(keys), self.r.randint(0, 2 if depth else 4))))
        chosen |= set(s.get("required", [])) & set(keys)
        for k in [k for k in keys if k in chosen]:
            out[k] = self.value(props[k], depth + 1, k)
        for pat, ps in s.get("patternProperties", {}).items():
            if self.chance(0.5):
                name = "x-ext" if pat.startswith("^x-") else self.r.choice(["k1", "K_2", "a.b", "lbl"])
                out[name] = self.value(ps, depth + 1)
        if self.edges and self.chance(0.03):
            self.edges = 0
            out[self.r.choice(["x-extra", "unknown_key"])] = self.r.choice(WORDS)
        return out

    def service(self):
        props = DEFS["service"]["properties"]
        svc = {}
        if self.chance(0.9):
            svc["image"] = self.r.choice(["busybox", "alpine:3", "${VAR:-img}", "img@sha256:" + "a" * 64])
        else:
            svc["build"] = self.r.choice([".", {"context": ".", "args": {"A": "${VAR}"}}])
        skip = {"extends", "env_file", "label_file", "include", "build", "image", "provider"}
        keys = [k for k in props if k not in skip]
        for k in self.r.sample(keys, self.r.randint(1, 3)):
            svc[k] = self.value(props[k], 0, k)
        if self.chance(0.1):
            svc["profiles"] = [self.r.choice(["p1", "p2"])]
        return svc

    def resources(self, kind, names):
        d = DEFS[kind]
        if kind in ("secret", "config"):
            sources = [{"file": "./f.txt"}, {"environment": "VAR"}, {"external": True}, {"name": "n-${NUM}", "file": "./f.txt"}]
            if kind == "config":
                sources.append({"content": "hello ${VAR}"})
            out = {}
            for n in names:
                r = dict(self.r.choice(sources))
                if self.chance(0.3):
                    r["labels"] = {"a": "b"}
                out[n] = r
            return out
        empty = kind in ("network", "volume") and self.chance(0.2)
        return {n: (None if empty else self.value(d)) for n in names}

    def document(self, full=True):
        doc = {"services": {}}
        for n in self.r.sample(SERVICE_NAMES, self.r.randint(1, 3)):
            doc["services"][n] = self.service()
        if full:
            for kind, key in (("network", "networks"), ("volume", "volumes"), ("secret", "secrets"),
                              ("config", "configs"), ("model", "models")):
                if self.chance(0.4):
                    doc[key] = self.resources(kind, self.r.sample(["n1", "default", "v1", "s1", "m1"], 2))
            if self.chance(0.2):
                doc["name"] = self.r.choice(["Proj", "p-1", "${PNAME}", "", "1abc"])
            if self.chance(0.1):
                doc["x-common"] = {"k": self.r.choice(WORDS)}
        return doc


def plain_is_string(x):
    """True when `x` written unquoted still reads as this string in YAML."""
    if not x or x.startswith(("$", "-", ".", "~")) or not all(c.isalnum() or c in "._/-" for c in x):
        return False
    if x.lower() in ("true", "false", "null", "yes", "no", "on", "off", "y", "n"):
        return False
    try:
        float(x.replace("_", ""))
        return False
    except ValueError:
        return not x.lower().startswith(("0x", "0o", "0b"))


def scalar(v):
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    return json.dumps(v, ensure_ascii=False)


class Emitter:
    """YAML text, block style, with random anchors/aliases for repeated scalars and `!reset`/`!override` tags."""

    def __init__(self, g):
        self.g = g
        self.anchors = {}
        self.n = 0

    def emit(self, v, indent=0):
        pad = "  " * indent
        if isinstance(v, dict) and v:
            lines = []
            for k, x in v.items():
                key = json.dumps(k, ensure_ascii=False) if self.g.chance(0.05) else str(k)
                if not k or any(c in k for c in ":#{}[],&*!|>'\"%@` ") or k[0] in "-?":
                    key = json.dumps(k, ensure_ascii=False)
                tag = ""
                if indent > 1 and self.g.chance(0.03):
                    tag = self.g.r.choice(["!reset ", "!override "])
                if isinstance(x, (dict, list)) and x:
                    anchor = ""
                    if self.g.chance(0.05):
                        self.n += 1
                        anchor = f"&n{self.n} "
                        self.anchors[f"n{self.n}"] = x
                    lines.append(f"{pad}{key}: {tag}{anchor}".rstrip())
                    lines.append(self.emit(x, indent + 1))
                else:
                    lines.append(f"{pad}{key}: {tag}{self.inline(x)}")
            return "\n".join(lines)
        if isinstance(v, list) and v:
            lines = []
            for x in v:
                if isinstance(x, dict) and x:
                    body = self.emit(x, indent + 1).lstrip()
                    lines.append(f"{pad}- {body}")
                elif isinstance(x, list) and x:
                    lines.append(f"{pad}- {json.dumps(x, ensure_ascii=False)}")
                else:
                    lines.append(f"{pad}- {self.inline(x)}")
            return "\n".join(lines)
        return pad + self.inline(v)

    def inline(self, x):
        if isinstance(x, (dict, list)):
            if not x and self.anchors and self.g.chance(0.05):
                return "*" + self.g.r.choice(list(self.anchors))
            return json.dumps(x, ensure_ascii=False)
        if isinstance(x, str) and self.g.chance(0.3) and plain_is_string(x):
            return x
        return scalar(x)


def write_case(seed, out):
    g = Gen(seed)
    os.makedirs(out, exist_ok=True)
    nfiles = g.r.choice([1, 1, 2, 3])
    files = []
    for i in range(nfiles):
        doc = g.document(full=(i == 0))
        if i == 0 and g.chance(0.15):
            open(os.path.join(out, "base.yaml"), "w").write(
                "services:\n  base:\n    image: busybox\n    environment: [B=1]\n    volumes: [./b:/b]\n")
            doc["services"]["ext"] = {"extends": {"file": "base.yaml", "service": "base"}, "ports": ["90"]}
        text = Emitter(g).emit(doc) + "\n"
        if i == 0 and g.chance(0.1):
            text = "x-base: &base\n  restart: always\n  labels: [a=b]\n" + text
            text = text.replace("services:\n  ", "services:\n  ", 1)
        name = "compose.yaml" if i == 0 else f"override{i}.yaml"
        open(os.path.join(out, name), "w").write(text)
        files.append(name)

    if g.chance(0.1):
        os.makedirs(os.path.join(out, "inc"), exist_ok=True)
        open(os.path.join(out, "inc", "compose.yaml"), "w").write("services:\n  inc:\n    image: busybox\n    env_file: [{path: ./missing.env, required: false}]\n    volumes: [./data:/d]\n")
        with open(os.path.join(out, files[0]), "a") as f:
            f.write("include:\n  - inc/compose.yaml\n" if "\ninclude:" not in open(os.path.join(out, files[0])).read() else "")
    args = []
    for f in files:
        args += ["-f", f]
    if g.chance(0.2):
        args += ["--profile", g.r.choice(["p1", "p2", "*"])]
    env = "\n".join(f"{k}={v}" for k, v in ENV.items())
    open(os.path.join(out, "cmd"), "w").write(".\n" + " ".join(args) + "\n" + env + "\n")


if __name__ == "__main__":
    import sys
    write_case(int(sys.argv[1]), sys.argv[2])
