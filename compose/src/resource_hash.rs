//! The `com.docker.compose.config-hash` label of networks and volumes as Docker Compose computes it: the
//! SHA-256 of the resource's JSON as Go's `encoding/json` writes compose-go's struct (fields in declaration
//! order, empty ones left out, map keys sorted, `<`, `>` and `&` escaped).

use crate::model::{Ipam, Network, StringMap, Volume};
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The hash of a project network whose engine name is `name`.
pub fn network(name: &str, n: &Network) -> String {
    let mut out = String::from("{");
    let mut w = Fields::new(&mut out);
    w.string("name", name);
    w.opt_string("driver", n.driver.as_deref());
    w.map("driver_opts", &n.driver_opts);
    w.raw("ipam", &ipam(n.ipam.as_ref()));
    w.flag("external", n.external);
    w.flag("internal", n.internal);
    w.flag("attachable", n.attachable);
    w.map("labels", &n.labels);
    w.opt_bool("enable_ipv4", n.enable_ipv4);
    w.opt_bool("enable_ipv6", n.enable_ipv6);
    out.push('}');
    digest(&out)
}

/// The hash of a project volume whose engine name is `name`.
pub fn volume(name: &str, v: &Volume) -> String {
    let mut out = String::from("{");
    let mut w = Fields::new(&mut out);
    w.string("name", name);
    // Compose hashes a volume with its driver defaulted (a network without).
    w.string(
        "driver",
        v.driver.as_deref().filter(|d| !d.is_empty()).unwrap_or("local"),
    );
    w.map("driver_opts", &v.driver_opts);
    w.flag("external", v.external);
    w.map("labels", &v.labels);
    out.push('}');
    digest(&out)
}

fn ipam(i: Option<&Ipam>) -> String {
    let mut out = String::from("{");
    if let Some(i) = i {
        let mut w = Fields::new(&mut out);
        w.opt_string("driver", i.driver.as_deref());
        if !i.config.is_empty() {
            let pools: Vec<String> = i
                .config
                .iter()
                .map(|p| {
                    let mut s = String::from("{");
                    let mut f = Fields::new(&mut s);
                    f.opt_string("subnet", p.subnet.as_deref());
                    f.opt_string("gateway", p.gateway.as_deref());
                    f.opt_string("ip_range", p.ip_range.as_deref());
                    f.map("aux_addresses", &p.aux_addresses);
                    s.push('}');
                    s
                })
                .collect();
            w.raw("config", &format!("[{}]", pools.join(",")));
        }
    }
    out.push('}');
    out
}

fn digest(json: &str) -> String {
    hex::encode(Sha256::digest(json.as_bytes()))
}

/// Writes `"key":value` pairs with the commas between them; `omitempty` fields are skipped when empty.
struct Fields<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Fields<'a> {
    fn new(out: &'a mut String) -> Self {
        Fields { out, first: true }
    }

    fn raw(&mut self, key: &str, value: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        let _ = write!(self.out, "{}:{value}", go_string(key));
    }

    fn string(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.raw(key, &go_string(value));
        }
    }

    fn opt_string(&mut self, key: &str, value: Option<&str>) {
        self.string(key, value.unwrap_or(""));
    }

    fn flag(&mut self, key: &str, on: bool) {
        if on {
            self.raw(key, "true");
        }
    }

    fn opt_bool(&mut self, key: &str, value: Option<bool>) {
        if let Some(b) = value {
            self.raw(key, if b { "true" } else { "false" });
        }
    }

    fn map(&mut self, key: &str, m: &StringMap) {
        if m.is_empty() {
            return;
        }
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        let body: Vec<String> = keys
            .into_iter()
            .map(|k| format!("{}:{}", go_string(k), go_string(&m[k])))
            .collect();
        self.raw(key, &format!("{{{}}}", body.join(",")));
    }
}

/// A JSON string as Go's encoder writes it (HTML characters and line/paragraph separators escaped).
fn go_string(s: &str) -> String {
    let plain = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    plain
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(v: serde_json::Value) -> Network {
        serde_json::from_value(v).expect("network")
    }

    #[test]
    fn hashes_match_docker_compose() {
        // Labels Docker Compose v2.40.3 put on the networks of one project.
        assert_eq!(
            network("dfp_default", &net(serde_json::json!({}))),
            "71902a1ac7ba8b354cdbf8eb1c010cb005480588fb7fbdd07da03dc7c70aeb6b"
        );
        assert_eq!(
            network("dfp_mid", &net(serde_json::json!({"internal": true}))),
            "8c6c5616435eb0c2f1c843d8ad0c515c8c11e96d3655c55eaa502e34bdb601f5"
        );
        assert_eq!(
            network(
                "dfp_zeta",
                &net(serde_json::json!({"ipam": {"config": [{"subnet": "10.124.0.0/24"}]}}))
            ),
            "8da05acad3427aa083d424b36da6b19a1ee703b9740bd6bd77af95ef65347c25"
        );
    }

    #[test]
    fn labels_options_and_volumes_hash_as_docker_compose() {
        assert_eq!(
            network("dfp_front", &net(serde_json::json!({"labels": {"n": "1"}}))),
            "c51f6524e143987517ef6ebe8e0b0c4c973687a105d868c162f7f1c5cb1eb5af"
        );
        assert_eq!(
            network(
                "dfp_back",
                &net(serde_json::json!({"internal": true, "ipam": {"config": [{"subnet": "10.123.0.0/24"}]}}))
            ),
            "46ba7c1ebfda89f2bdd77c05f494f64ca9eb6ddd17b3072624a7268b90644e71"
        );
        let vol = |v: serde_json::Value| -> Volume { serde_json::from_value(v).expect("volume") };
        assert_eq!(
            volume("dfp_data", &vol(serde_json::json!({"labels": {"v": "1"}}))),
            "da107601954f7cf40ef4be1ed847e3e824917e0e1049c95a8a38df7a174c443c"
        );
        assert_eq!(
            volume(
                "dfp_shared",
                &vol(serde_json::json!({"driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}))
            ),
            "4c72e482cb506273e3f839b52de86b5924c7531575948def361dc2deed56e52d"
        );
    }

    #[test]
    fn go_escapes_html_characters() {
        assert_eq!(go_string("a<b>&c"), "\"a\\u003cb\\u003e\\u0026c\"");
    }
}
