"""schemathesis hooks of berth's API fuzz run: every generated request is made safe for the host before it is
sent (bind sources inside the run's temp dir, nothing privileged, no host namespaces, devices or volume
driver options), and every response is logged (one JSON line each) for the run's figures."""

import json
import os
import threading

import schemathesis

TMP = os.environ["FUZZ_TMP"]
LOG = os.environ["FUZZ_LOG"]
_lock = threading.Lock()

# Host-facing HostConfig fields dropped from every request (the engine's defaults apply).
DROP = {
    "Devices", "DeviceRequests", "DeviceCgroupRules", "CapAdd", "SecurityOpt", "CgroupParent", "Cgroup",
    "Sysctls", "Runtime", "MaskedPaths", "ReadonlyPaths", "VolumeDriver", "VolumesFrom", "Links",
}
NAMESPACES = {"PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode", "NetworkMode"}


def _inside_tmp(source):
    """A bind source moved under the run's temp dir (its shape kept, so parsing is still exercised)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in str(source))[:60] or "x"
    path = os.path.join(TMP, "binds", safe)
    os.makedirs(path, exist_ok=True)
    return path


def _binds(binds):
    out = []
    for b in binds if isinstance(binds, list) else []:
        if not isinstance(b, str):
            continue
        parts = b.split(":")
        if parts and parts[0].startswith("/"):
            parts[0] = _inside_tmp(parts[0])
        elif len(parts) < 2:
            continue
        out.append(":".join(parts))
    return out


def _mounts(mounts):
    out = []
    for m in mounts if isinstance(mounts, list) else []:
        if not isinstance(m, dict):
            continue
        m = dict(m)
        if m.get("Type") == "bind" or str(m.get("Source", "")).startswith("/"):
            m["Source"] = _inside_tmp(m.get("Source", ""))
        m.pop("VolumeOptions", None)
        m.pop("BindOptions", None)
        out.append(m)
    return out


def _sanitize(value):
    """Walks a request body and makes it host-safe."""
    if isinstance(value, list):
        return [_sanitize(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        if k in DROP:
            continue
        if k == "Privileged":
            out[k] = False
        elif k == "Binds":
            out[k] = _binds(v)
        elif k == "Mounts":
            out[k] = _mounts(v)
        elif k in ("DriverOpts", "Options") and isinstance(v, dict):
            out[k] = {}
        elif k in NAMESPACES:
            s = str(v)
            out[k] = "none" if k == "NetworkMode" and ("host" in s or s.startswith("container")) else (
                "" if ("host" in s or s.startswith("container")) else v
            )
        else:
            out[k] = _sanitize(v)
    return out


# Every request that would make the engine contact a registry, a git host or a download URL is pinned to a closed
# port on the loopback (127.0.0.1:1), whatever the generator chose: the engine's answer to an unreachable remote is
# still exercised, and nothing leaves the test's namespaces even if the engine ran with a route out.
PINNED = "127.0.0.1:1"
# Build contexts by URL, one per form the engine tells apart (git over git://, https with ref:dir, a download).
REMOTES = ("git://127.0.0.1:1/ctx.git", "https://127.0.0.1:1/ctx.git#main:sub", "http://127.0.0.1:1/ctx.tar")
# Query parameters holding an image or plugin reference, per operation path.
REF_QUERY = {
    "/images/create": ("fromImage",),
    "/plugins/pull": ("remote",),
    "/plugins/privileges": ("remote",),
    "/plugins/{name}/upgrade": ("remote",),
    "/images/search": ("term",),
}
# Path parameters that name a reference the engine resolves against its registry.
REF_PATH = {"/images/{name}/push", "/distribution/{name}/json", "/plugins/{name}/push"}


def _pinned_ref(value):
    """A reference on the pinned registry: its repository part kept, so reference parsing is still exercised."""
    return f"{PINNED}/{str(value).lstrip('/')}"


def _pin(case):
    path = case.operation.path
    query = case.query if isinstance(case.query, dict) else None
    if query is not None:
        for key in REF_QUERY.get(path, ()):
            if query.get(key) not in (None, ""):
                query[key] = _pinned_ref(query[key])
        if path == "/images/create" and query.get("fromSrc") not in (None, "-"):
            query["fromSrc"] = "http://127.0.0.1:1/image.tar"
        if path == "/build":
            query.pop("cachefrom", None)
            if query.get("remote"):
                query["remote"] = REMOTES[len(str(query["remote"])) % len(REMOTES)]
    if path in REF_PATH and isinstance(case.path_parameters, dict) and "name" in case.path_parameters:
        case.path_parameters["name"] = _pinned_ref(case.path_parameters["name"])
    if path == "/auth":
        # An absent address means Docker Hub; a body that is not an object is replaced, as it could name one too.
        case.body = dict(case.body) if isinstance(case.body, dict) else {}
        case.body["serveraddress"] = PINNED


@schemathesis.hook
def before_call(context, case, **kwargs):
    if case.body is not None and not isinstance(case.body, (bytes, str)):
        case.body = _sanitize(case.body)
    _pin(case)


def _log(entry):
    with _lock, open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")


@schemathesis.hook
def after_call(context, case, response):
    message = ""
    if response.status_code >= 500:
        try:
            message = json.loads(response.content).get("message", "")
        except Exception:
            message = response.content[:200].decode("utf-8", "replace")
    _log({
        "op": f"{case.method} {case.operation.path}",
        "path": case.formatted_path if hasattr(case, "formatted_path") else case.path,
        "status": response.status_code,
        "message": message,
        # What was asked, shortened: enough to replay the requests that left something behind.
        "query": case.query if isinstance(case.query, dict) else None,
        "body": json.dumps(case.body, default=repr)[:400] if case.body is not None else None,
    })


@schemathesis.hook
def after_network_error(context, case, request):
    _log({"op": f"{case.method} {case.operation.path}", "status": 0, "message": "network error or timeout"})
