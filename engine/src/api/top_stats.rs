//! `GET /containers/{id}/top` (host `ps` filtered to the container's cgroup) and `GET /containers/{id}/stats`
//! (cpu, memory, pids from cgroups v1 or v2, network from the container's /proc/<pid>/net/dev).

use super::{qbool, ApiResult, AppState};
use crate::error::EngineError;
use crate::state::{ContainerRecord, ContainerStatus};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/stats", get(stats))
}

fn running(rec: &ContainerRecord) -> ApiResult<()> {
    if rec.state.status != ContainerStatus::Running {
        return Err(EngineError::Conflict(format!("Container {} is not running", rec.id)).into());
    }
    Ok(())
}

async fn top(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let rec = engine.containers.resolve(&id)?;
    running(&rec)?;
    let args = q
        .get("ps_args")
        .filter(|a| !a.is_empty())
        .cloned()
        .unwrap_or_else(|| "-ef".into());
    let argv: Vec<&str> = args.split_whitespace().collect();
    let out = tokio::process::Command::new("ps")
        .args(&argv)
        .output()
        .await
        .map_err(|e| EngineError::internal("running ps", e))?;
    if !out.status.success() {
        return Err(
            EngineError::BadRequest(format!("ps {args}: {}", String::from_utf8_lossy(&out.stderr).trim())).into(),
        );
    }
    let pids: std::collections::HashSet<i32> = runtime::cgroups::pids(&runtime::cgroups::rel_path(
        &rec.id,
        rec.host_config.cgroup_parent.as_deref(),
    ))
    .into_iter()
    // The probe server is berth's, not the user's: dockerd's top never shows its exec'd probes' runner either.
    .filter(|p| !runtime::probe::is_probe_server(*p))
    .collect();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let titles: Vec<&str> = header.split_whitespace().collect();
    let pid_col = titles
        .iter()
        .position(|t| *t == "PID")
        .ok_or_else(|| EngineError::BadRequest(format!("ps {args}: its output has no PID column")))?;
    let mut procs = Vec::new();
    for l in lines {
        let fields: Vec<&str> = l.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        // The last column (command) may hold spaces: keep it whole.
        let n = titles.len();
        let mut row: Vec<String> = fields.iter().take(n.saturating_sub(1)).map(|s| s.to_string()).collect();
        row.push(
            fields
                .get(n.saturating_sub(1)..)
                .map(|r| r.join(" "))
                .unwrap_or_default(),
        );
        procs.push(row);
    }
    Ok(Json(json!({ "Titles": titles, "Processes": procs })))
}

fn read(p: PathBuf) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

fn num(p: PathBuf) -> Option<u64> {
    read(p)?.parse().ok()
}

fn stat_key(p: PathBuf, key: &str) -> Option<u64> {
    read(p)?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// One sample of a container's counters.
fn sample(rec: &ContainerRecord) -> Value {
    let cg = PathBuf::from("/sys/fs/cgroup");
    let rel = format!("berth/{}", rec.id);
    let v1 = cg.join("memory").join(&rel).exists();
    let (cpu_total, mem_usage, mem_limit, inactive, pids_cur, pids_max);
    if v1 {
        cpu_total = num(cg.join("cpuacct").join(&rel).join("cpuacct.usage")).unwrap_or(0);
        mem_usage = num(cg.join("memory").join(&rel).join("memory.usage_in_bytes")).unwrap_or(0);
        mem_limit = num(cg.join("memory").join(&rel).join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
        inactive = stat_key(cg.join("memory").join(&rel).join("memory.stat"), "total_inactive_file").unwrap_or(0);
        pids_cur = num(cg.join("pids").join(&rel).join("pids.current")).unwrap_or(0);
        pids_max = num(cg.join("pids").join(&rel).join("pids.max"));
    } else {
        let d = cg.join(&rel);
        cpu_total = stat_key(d.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000;
        mem_usage = num(d.join("memory.current")).unwrap_or(0);
        mem_limit = num(d.join("memory.max")).unwrap_or(u64::MAX);
        inactive = stat_key(d.join("memory.stat"), "inactive_file").unwrap_or(0);
        pids_cur = num(d.join("pids.current")).unwrap_or(0);
        pids_max = num(d.join("pids.max"));
    }
    let host_mem = read(PathBuf::from("/proc/meminfo"))
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(u64::MAX);
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut doc = json!({
        "read": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "id": rec.id, "name": format!("/{}", rec.name),
        "pids_stats": { "current": pids_cur, "limit": pids_max },
        "cpu_stats": {
            "cpu_usage": { "total_usage": cpu_total, "usage_in_kernelmode": 0, "usage_in_usermode": 0 },
            "system_cpu_usage": system_cpu(), "online_cpus": ncpu,
            "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 }
        },
        "memory_stats": {
            "usage": mem_usage, "limit": mem_limit.min(host_mem),
            "stats": { "total_inactive_file": inactive, "inactive_file": inactive }
        },
        "networks": networks(rec.state.pid),
        "blkio_stats": {},
        "num_procs": 0
    });
    if v1 {
        v1_extras(&mut doc, &cg, &rel);
    }
    doc
}

/// What dockerd reports only on cgroup v1: per-CPU usage, user/kernel split, the memory high-water mark.
fn v1_extras(doc: &mut Value, cg: &std::path::Path, rel: &str) {
    let acct = cg.join("cpuacct").join(rel);
    let percpu: Vec<u64> = read(acct.join("cpuacct.usage_percpu"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    // cpuacct.stat counts USER_HZ ticks (100 per second).
    let ticks = |key| stat_key(acct.join("cpuacct.stat"), key).unwrap_or(0) * 10_000_000;
    let usage = &mut doc["cpu_stats"]["cpu_usage"];
    usage["percpu_usage"] = json!(percpu);
    usage["usage_in_usermode"] = json!(ticks("user"));
    usage["usage_in_kernelmode"] = json!(ticks("system"));
    let max = num(cg.join("memory").join(rel).join("memory.max_usage_in_bytes")).unwrap_or(0);
    doc["memory_stats"]["max_usage"] = json!(max);
}

/// Host CPU time in nanoseconds (/proc/stat's first line, in USER_HZ ticks).
fn system_cpu() -> u64 {
    let s = read(PathBuf::from("/proc/stat")).unwrap_or_default();
    let ticks: u64 = s
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    ticks * (1_000_000_000 / 100)
}

fn networks(pid: i64) -> Value {
    let mut out = serde_json::Map::new();
    if pid <= 0 {
        return Value::Object(out);
    }
    let dev = read(PathBuf::from(format!("/proc/{pid}/net/dev"))).unwrap_or_default();
    for l in dev.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let f: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        if f.len() < 16 {
            continue;
        }
        out.insert(
            name.to_owned(),
            json!({
                "rx_bytes": f[0], "rx_packets": f[1], "rx_errors": f[2], "rx_dropped": f[3],
                "tx_bytes": f[8], "tx_packets": f[9], "tx_errors": f[10], "tx_dropped": f[11]
            }),
        );
    }
    Value::Object(out)
}

fn with_pre(mut cur: Value, pre: &Value) -> Value {
    cur["precpu_stats"] = pre["cpu_stats"].clone();
    cur["preread"] = pre["read"].clone();
    cur
}

async fn stats(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let rec = engine.containers.resolve(&id)?;
    let stream = q.get("stream").is_none_or(|s| qbool(Some(s)));
    let one_shot = qbool(q.get("one-shot"));
    let zero = json!({ "cpu_stats": {}, "read": "0001-01-01T00:00:00Z" });
    if !stream {
        let first = sample(&rec);
        let v = if one_shot {
            with_pre(first, &zero)
        } else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            with_pre(sample(&rec), &first)
        };
        return Ok(Json(v).into_response());
    }
    let c = engine.containers.clone();
    let body = futures::stream::unfold((rec, zero, true), move |(rec, prev, first)| {
        let c = c.clone();
        async move {
            if !first {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let rec = c.resolve(&rec.id).ok()?;
            let cur = sample(&rec);
            let mut line = serde_json::to_vec(&with_pre(cur.clone(), &prev)).unwrap_or_default();
            line.push(b'\n');
            Some((Ok::<_, std::convert::Infallible>(Bytes::from(line)), (rec, cur, false)))
        }
    });
    Ok(([("Content-Type", "application/json")], Body::from_stream(body)).into_response())
}
