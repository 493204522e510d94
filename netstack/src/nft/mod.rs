//! berth's nftables tables: NAT, isolation and published-port rules, applied through `nft -j`.
//!
//! Everything lives in `table ip <name>` and, for IPv6, `table ip6 <name>` (default `berth`); other tables are
//! never touched. Base chains are shared by every netstack on the host; each rule carries its owner's label as
//! comment so a netstack adds and removes only its own rules (by handle). The IPv6 table is made with the
//! first IPv6 rule, so hosts without IPv6 never need it. The one exception to "other tables are never
//! touched": labelled accept rules for berth's bridges in foreign forward chains that drop (`foreign`).

mod foreign;
mod host;
mod rules;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use nftables::batch::Batch;
use nftables::schema::{NfListObject, Rule};
use nftables::types::NfFamily;

use crate::error::{NetError, Result};
use crate::ids::{InstanceTag, Owner};

pub use foreign::{blocking_chains, Blocking, ChainRef};
pub(crate) use host::file_lock;
pub use host::{enable_ip_forward, enable_ipv6_forward, host_firewall_warnings};
use host::{host_lock, run_nft};
pub use rules::{Dnat, Family, NetworkRules};

const BASE_COMMENT: &str = "berth:base";
const PORTS_CHAIN: &str = "ports";

/// Transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A rule of ours as found in the kernel.
#[derive(Clone, Debug)]
pub struct OwnedRule {
    /// Whose rule.
    pub owner: Owner,
    /// Family of the table it sits in.
    pub family: NfFamily,
    /// Table it sits in: berth's, or a foreign one it passes its bridges through.
    pub table: String,
    /// Chain it sits in.
    pub chain: String,
    /// Kernel handle.
    pub handle: u32,
    /// Packets counted by its counter (0 without one).
    pub packets: u64,
}

/// Access to berth's tables for one instance tag.
#[derive(Clone, Debug)]
pub struct Nft {
    table: String,
    tag: InstanceTag,
    /// Owners that have rules of ours, as last listed and since added or deleted through this value (shared by
    /// its clones); None until the first listing. Every `nft` run costs a process spawn (5–15 ms), and most
    /// containers publish nothing: their teardown need not list the table to learn that.
    owners: Arc<Mutex<Option<HashSet<Owner>>>>,
}

fn missing(e: &NetError) -> bool {
    matches!(e, NetError::Nft(m) if m.contains("No such file or directory"))
}

impl Nft {
    /// Rules of `tag` in the tables `ip <table>` and `ip6 <table>`.
    pub fn new(table: &str, tag: InstanceTag) -> Self {
        Nft {
            table: table.to_string(),
            tag,
            owners: Arc::default(),
        }
    }

    /// Name of the tables.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the IPv4 table, its chains and the jump rules to the ports chain, once per host.
    pub fn ensure_base(&self) -> Result<()> {
        self.ensure_base_of(Family::V4)
    }

    /// Creates the table of `fam` with its base chains, once per host.
    pub fn ensure_base_of(&self, fam: Family) -> Result<()> {
        let _lock = host_lock()?;
        if self
            .list_family(fam)?
            .iter()
            .any(|r| r.comment.as_deref() == Some(BASE_COMMENT))
        {
            return Ok(());
        }
        self.apply(self.base_batch(fam))
    }

    /// Adds forwarding, isolation and masquerade rules of one network (each subnet's family).
    pub fn add_network(&self, owner: &Owner, net: &NetworkRules<'_>) -> Result<()> {
        if net.subnets.iter().any(|s| s.addr().is_ipv6()) {
            self.ensure_base_of(Family::V6)?;
        }
        self.apply_adds(|| self.network_batch(owner, net))?;
        self.note_owner(owner);
        Ok(())
    }

    /// Adds DNAT rules (with counters) for a container's published ports.
    pub fn add_dnat(&self, owner: &Owner, rules: &[Dnat]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        if rules.iter().any(|r| r.container_ip.is_ipv6()) {
            self.ensure_base_of(Family::V6)?;
        }
        self.apply_adds(|| self.dnat_batch(owner, rules))?;
        self.note_owner(owner);
        Ok(())
    }

    fn note_owner(&self, owner: &Owner) {
        if let Some(known) = self.owners.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            known.insert(owner.clone());
        }
    }

    /// Applies a batch of additions; when a table vanished (another instance's purge dropped it
    /// as unused), makes the bases again and retries once.
    fn apply_adds(&self, build: impl Fn() -> Batch<'static>) -> Result<()> {
        match self.apply(build()) {
            Err(e) if missing(&e) => {
                self.ensure_base_of(Family::V4)?;
                if self.table_exists(Family::V6)? || self.batch_has_v6(&build()) {
                    self.ensure_base_of(Family::V6)?;
                }
                self.apply(build())
            }
            other => other,
        }
    }

    fn batch_has_v6(&self, b: &Batch<'static>) -> bool {
        serde_json::to_string(&b.clone().to_nftables()).is_ok_and(|j| j.contains("\"ip6\""))
    }

    /// Deletes each table that holds nothing but the shared base (no instance has rules left);
    /// returns whether the IPv4 one went. Serialised with `ensure_base`.
    pub fn drop_table_if_unused(&self) -> Result<bool> {
        let _lock = host_lock()?;
        let mut dropped_v4 = false;
        for fam in Family::ALL {
            let rules = self.list_family(fam)?;
            if rules.is_empty() && !self.table_exists(fam)? {
                continue;
            }
            if rules.iter().any(|r| r.comment.as_deref() != Some(BASE_COMMENT)) {
                continue;
            }
            let mut b = Batch::new();
            b.delete(self.table_object(fam));
            self.apply(b)?;
            dropped_v4 |= fam == Family::V4;
        }
        Ok(dropped_v4)
    }

    fn table_exists(&self, fam: Family) -> Result<bool> {
        match run_nft(&["list", "table", fam.as_str(), self.table.as_str()], None) {
            Ok(_) => Ok(true),
            Err(e) if missing(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes every rule of ours whose owner `remove` selects; returns how many.
    pub fn delete_where(&self, remove: impl Fn(&Owner) -> bool) -> Result<usize> {
        let known_none = self
            .owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|known| !known.iter().any(&remove));
        if known_none {
            return Ok(0);
        }
        let doomed: Vec<OwnedRule> = self.owned_rules()?.into_iter().filter(|r| remove(&r.owner)).collect();
        if doomed.is_empty() {
            return Ok(0);
        }
        let mut b = Batch::new();
        for r in &doomed {
            b.delete(NfListObject::Rule(Rule {
                family: r.family,
                table: Cow::Owned(r.table.clone()),
                chain: Cow::Owned(r.chain.clone()),
                expr: Cow::Owned(Vec::new()),
                handle: Some(r.handle),
                index: None,
                comment: None,
            }));
        }
        self.apply(b)?;
        if let Some(known) = self.owners.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            known.retain(|o| !remove(o));
        }
        Ok(doomed.len())
    }

    /// Rules labelled with this instance's tag: in both tables of berth's, and in foreign chains.
    pub fn owned_rules(&self) -> Result<Vec<OwnedRule>> {
        // One listing of the whole ruleset finds them all, wherever they sit.
        let rules: Vec<OwnedRule> = parse_rules(&run_nft(&["-j", "list", "ruleset"], None)?)?
            .into_iter()
            .filter_map(|r| {
                Some(OwnedRule {
                    owner: Owner::parse_label(&self.tag, r.comment.as_deref()?)?,
                    family: r.family,
                    table: r.table,
                    chain: r.chain,
                    handle: r.handle,
                    packets: r.packets,
                })
            })
            .collect();
        *self.owners.lock().unwrap_or_else(|p| p.into_inner()) = Some(rules.iter().map(|r| r.owner.clone()).collect());
        Ok(rules)
    }

    fn apply(&self, batch: Batch<'static>) -> Result<()> {
        let json =
            serde_json::to_string(&batch.to_nftables()).map_err(|e| NetError::Nft(format!("encode rules: {e}")))?;
        run_nft(&["-j", "-f", "-"], Some(&json)).map(|_| ())
    }

    fn list_family(&self, fam: Family) -> Result<Vec<RawRule>> {
        let out = match run_nft(&["-j", "list", "table", fam.as_str(), self.table.as_str()], None) {
            Ok(out) => out,
            // A missing table simply holds no rules.
            Err(e) if missing(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        parse_rules(&out)
    }
}

/// The objects of one kind (`rule`, `chain`) in `nft -j list` output.
fn nft_objects(out: &str, kind: &str) -> Result<Vec<serde_json::Value>> {
    let mut v: serde_json::Value =
        serde_json::from_str(out).map_err(|e| NetError::Nft(format!("unreadable `nft -j` output: {e}")))?;
    let items = match v.get_mut("nftables").map(serde_json::Value::take) {
        Some(serde_json::Value::Array(items)) => items,
        _ => Vec::new(),
    };
    Ok(items
        .into_iter()
        .filter_map(|mut i| i.get_mut(kind).map(serde_json::Value::take))
        .collect())
}

/// The rules in `nft -j list` output.
fn parse_rules(out: &str) -> Result<Vec<RawRule>> {
    Ok(nft_objects(out, "rule")?
        .iter()
        .filter_map(RawRule::from_json)
        .collect())
}

struct RawRule {
    family: NfFamily,
    table: String,
    chain: String,
    handle: u32,
    comment: Option<String>,
    packets: u64,
}

impl RawRule {
    fn from_json(rule: &serde_json::Value) -> Option<RawRule> {
        let packets = rule
            .get("expr")
            .and_then(|e| e.as_array())
            .into_iter()
            .flatten()
            .filter_map(|st| st.get("counter")?.get("packets")?.as_u64())
            .sum();
        Some(RawRule {
            family: serde_json::from_value(rule.get("family")?.clone()).ok()?,
            table: rule.get("table")?.as_str()?.to_string(),
            chain: rule.get("chain")?.as_str()?.to_string(),
            handle: u32::try_from(rule.get("handle")?.as_u64()?).ok()?,
            comment: rule.get("comment").and_then(|c| c.as_str()).map(str::to_string),
            packets,
        })
    }
}
