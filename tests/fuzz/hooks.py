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


@schemathesis.hook
def before_call(context, case, **kwargs):
    if case.body is not None and not isinstance(case.body, (bytes, str)):
        case.body = _sanitize(case.body)
    if isinstance(case.query, dict):
        # A URL to import from or build would leave the test host: the engine's namespace has no route, but keep
        # the requests on the body forms.
        for key in ("fromSrc", "remote"):
            if key in case.query and case.query[key] not in ("-", None):
                case.query[key] = "-"


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
    })


@schemathesis.hook
def after_network_error(context, case, request):
    _log({"op": f"{case.method} {case.operation.path}", "status": 0, "message": "network error or timeout"})
