//! berth's nftables table: NAT, isolation and published-port rules, applied through `nft -j`.
//!
//! Everything lives in `table ip <name>` (default `berth`); other tables are never touched.
//! Base chains are shared by every netstack on the host; each rule carries its owner's label as
//! comment so a netstack adds and removes only its own rules (by handle).

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use ipnet::Ipv4Net;
use nftables::batch::Batch;
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix,
};
use nftables::schema::{Chain, NfListObject, Rule, Table};
use nftables::stmt::{Counter, JumpTarget, Match, NATFamily, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::error::{NetError, Result};
use crate::ids::{BridgeName, InstanceTag, Owner};

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

/// One DNAT: traffic to `host_ip` (any local address when `None`) port `host_port` goes to the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dnat {
    /// Protocol.
    pub proto: Proto,
    /// Host address, or any local one.
    pub host_ip: Option<Ipv4Addr>,
    /// Host port.
    pub host_port: u16,
    /// Container address.
    pub container_ip: Ipv4Addr,
    /// Container port.
    pub container_port: u16,
}

/// A rule of ours as found in the kernel.
#[derive(Clone, Debug)]
pub struct OwnedRule {
    /// Whose rule.
    pub owner: Owner,
    /// Chain it sits in.
    pub chain: String,
    /// Kernel handle.
    pub handle: u32,
    /// Packets counted by its counter (0 without one).
    pub packets: u64,
}

/// Network settings the rules depend on.
pub struct NetworkRules<'a> {
    /// Bridge interface.
    pub bridge: &'a BridgeName,
    /// Subnet.
    pub subnet: Ipv4Net,
    /// No traffic in or out of the bridge except between its own members.
    pub internal: bool,
}

/// Access to berth's table for one instance tag.
#[derive(Clone, Debug)]
pub struct Nft {
    table: String,
    tag: InstanceTag,
    /// Owners that have rules of ours, as last listed and since added or deleted through this value (shared by
    /// its clones); None until the first listing. Every `nft` run costs a process spawn (5–15 ms), and most
    /// containers publish nothing: their teardown need not list the table to learn that.
    owners: Arc<Mutex<Option<HashSet<Owner>>>>,
}

fn named(e: NamedExpression<'static>) -> Expression<'static> {
    Expression::Named(e)
}
fn s(v: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(v.into()))
}
fn meta(key: MetaKey) -> Expression<'static> {
    named(NamedExpression::Meta(Meta { key }))
}
fn field(protocol: &'static str, f: &'static str) -> Expression<'static> {
    named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: protocol.into(),
        field: f.into(),
    })))
}
fn matches(left: Expression<'static>, op: Operator, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}
fn prefix(net: Ipv4Net) -> Expression<'static> {
    named(NamedExpression::Prefix(Prefix {
        addr: Box::new(s(net.network().to_string())),
        len: u32::from(net.prefix_len()),
    }))
}
fn fib_daddr_local() -> Statement<'static> {
    let fib = Fib {
        result: FibResult::Type,
        flags: HashSet::from([FibFlag::Daddr]),
    };
    matches(named(NamedExpression::Fib(fib)), Operator::EQ, s("local"))
}
fn counter() -> Statement<'static> {
    Statement::Counter(Counter::Anonymous(None))
}

impl Nft {
    /// Rules of `tag` in `table ip <table>`.
    pub fn new(table: &str, tag: InstanceTag) -> Self {
        Nft {
            table: table.to_string(),
            tag,
            owners: Arc::default(),
        }
    }

    /// Name of the table.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn rule(&self, chain: &str, expr: Vec<Statement<'static>>, comment: String) -> NfListObject<'static> {
        NfListObject::Rule(Rule {
            family: NfFamily::IP,
            table: Cow::Owned(self.table.clone()),
            chain: Cow::Owned(chain.to_string()),
            expr: Cow::Owned(expr),
            handle: None,
            index: None,
            comment: Some(Cow::Owned(comment)),
        })
    }

    fn chain(&self, name: &str, hook: Option<(NfChainType, NfHook, i32)>) -> NfListObject<'static> {
        NfListObject::Chain(Chain {
            family: NfFamily::IP,
            table: Cow::Owned(self.table.clone()),
            name: Cow::Owned(name.to_string()),
            _type: hook.map(|h| h.0),
            hook: hook.map(|h| h.1),
            prio: hook.map(|h| h.2),
            policy: hook.map(|_| NfChainPolicy::Accept),
            ..Chain::default()
        })
    }

    /// Creates the table, its chains and the jump rules to the ports chain, once per host.
    pub fn ensure_base(&self) -> Result<()> {
        let _lock = host_lock()?;
        if self
            .list_raw()?
            .iter()
            .any(|r| r.comment.as_deref() == Some(BASE_COMMENT))
        {
            return Ok(());
        }
        let mut b = Batch::new();
        b.add(NfListObject::Table(Table {
            family: NfFamily::IP,
            name: Cow::Owned(self.table.clone()),
            handle: None,
        }));
        b.add(self.chain("forward", Some((NfChainType::Filter, NfHook::Forward, 0))));
        b.add(self.chain("prerouting", Some((NfChainType::NAT, NfHook::Prerouting, -100))));
        b.add(self.chain("output", Some((NfChainType::NAT, NfHook::Output, -100))));
        b.add(self.chain("postrouting", Some((NfChainType::NAT, NfHook::Postrouting, 100))));
        b.add(self.chain(PORTS_CHAIN, None));
        let jump = || {
            Statement::Jump(JumpTarget {
                target: PORTS_CHAIN.into(),
            })
        };
        b.add(self.rule("prerouting", vec![fib_daddr_local(), jump()], BASE_COMMENT.into()));
        // Loopback destinations never reach DNAT usefully (martians): the userland proxy serves them.
        let not_loopback = matches(
            field("ip", "daddr"),
            Operator::NEQ,
            prefix(Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8).unwrap_or_default()),
        );
        b.add(self.rule(
            "output",
            vec![not_loopback, fib_daddr_local(), jump()],
            BASE_COMMENT.into(),
        ));
        self.apply(b)
    }

    /// Adds forwarding, isolation and masquerade rules of one network.
    pub fn add_network(&self, owner: &Owner, net: &NetworkRules<'_>) -> Result<()> {
        self.apply_adds(|| self.network_batch(owner, net))?;
        self.note_owner(owner);
        Ok(())
    }

    fn note_owner(&self, owner: &Owner) {
        if let Some(known) = self.owners.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            known.insert(owner.clone());
        }
    }

    fn network_batch(&self, owner: &Owner, net: &NetworkRules<'_>) -> Batch<'static> {
        let label = owner.label(&self.tag);
        let br = net.bridge.as_str();
        let iif = |op, v: &str| matches(meta(MetaKey::Iifname), op, s(v));
        let oif = |op, v: &str| matches(meta(MetaKey::Oifname), op, s(v));
        let mut b = Batch::new();
        b.add(self.rule(
            "forward",
            vec![iif(Operator::EQ, br), oif(Operator::EQ, br), Statement::Accept(None)],
            label.clone(),
        ));
        let other_bridges = format!("{}*", BridgeName::PREFIX);
        b.add(self.rule(
            "forward",
            vec![
                iif(Operator::EQ, br),
                oif(Operator::EQ, &other_bridges),
                Statement::Drop(None),
            ],
            label.clone(),
        ));
        if net.internal {
            b.add(self.rule(
                "forward",
                vec![iif(Operator::EQ, br), Statement::Drop(None)],
                label.clone(),
            ));
            b.add(self.rule(
                "forward",
                vec![oif(Operator::EQ, br), Statement::Drop(None)],
                label.clone(),
            ));
        } else {
            let saddr = matches(field("ip", "saddr"), Operator::EQ, prefix(net.subnet));
            b.add(self.rule(
                "postrouting",
                vec![saddr, oif(Operator::NEQ, br), Statement::Masquerade(None)],
                label,
            ));
        }
        b
    }

    /// Adds DNAT rules (with counters) for a container's published ports.
    pub fn add_dnat(&self, owner: &Owner, rules: &[Dnat]) -> Result<()> {
        self.apply_adds(|| self.dnat_batch(owner, rules))?;
        self.note_owner(owner);
        Ok(())
    }

    fn dnat_batch(&self, owner: &Owner, rules: &[Dnat]) -> Batch<'static> {
        let label = owner.label(&self.tag);
        let mut b = Batch::new();
        for r in rules {
            let mut expr = Vec::new();
            if let Some(ip) = r.host_ip {
                expr.push(matches(field("ip", "daddr"), Operator::EQ, s(ip.to_string())));
            }
            expr.push(matches(
                field(r.proto.as_str(), "dport"),
                Operator::EQ,
                Expression::Number(u32::from(r.host_port)),
            ));
            expr.push(counter());
            expr.push(Statement::DNAT(Some(NAT {
                addr: Some(s(r.container_ip.to_string())),
                family: Some(NATFamily::IP),
                port: Some(Expression::Number(u32::from(r.container_port))),
                flags: None,
            })));
            b.add(self.rule(PORTS_CHAIN, expr, label.clone()));
            // Hairpin: a container reaching itself through its published port needs its source rewritten.
            let to_self = vec![
                matches(field("ip", "saddr"), Operator::EQ, s(r.container_ip.to_string())),
                matches(field("ip", "daddr"), Operator::EQ, s(r.container_ip.to_string())),
                matches(
                    field(r.proto.as_str(), "dport"),
                    Operator::EQ,
                    Expression::Number(u32::from(r.container_port)),
                ),
                Statement::Masquerade(None),
            ];
            b.add(self.rule("postrouting", to_self, label.clone()));
        }
        b
    }

    /// Applies a batch of additions; when the table vanished (another instance's purge dropped it
    /// as unused), makes the base again and retries once.
    fn apply_adds(&self, build: impl Fn() -> Batch<'static>) -> Result<()> {
        match self.apply(build()) {
            Err(NetError::Nft(e)) if e.contains("No such file or directory") => {
                self.ensure_base()?;
                self.apply(build())
            }
            other => other,
        }
    }

    /// Deletes the whole table when it holds nothing but the shared base (no instance has rules
    /// left); returns whether it went. Serialised with `ensure_base`.
    pub fn drop_table_if_unused(&self) -> Result<bool> {
        let _lock = host_lock()?;
        let rules = self.list_raw()?;
        if rules.is_empty() && !self.table_exists()? {
            return Ok(false);
        }
        if rules.iter().any(|r| r.comment.as_deref() != Some(BASE_COMMENT)) {
            return Ok(false);
        }
        let mut b = Batch::new();
        b.delete(NfListObject::Table(Table {
            family: NfFamily::IP,
            name: Cow::Owned(self.table.clone()),
            handle: None,
        }));
        self.apply(b)?;
        Ok(true)
    }

    fn table_exists(&self) -> Result<bool> {
        match run_nft(&["list", "table", "ip", self.table.as_str()], None) {
            Ok(_) => Ok(true),
            Err(NetError::Nft(e)) if e.contains("No such file or directory") => Ok(false),
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
                family: NfFamily::IP,
                table: Cow::Owned(self.table.clone()),
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

    /// Rules labelled with this instance's tag.
    pub fn owned_rules(&self) -> Result<Vec<OwnedRule>> {
        let rules: Vec<OwnedRule> = self
            .list_raw()?
            .into_iter()
            .filter_map(|r| {
                let owner = Owner::parse_label(&self.tag, r.comment.as_deref()?)?;
                Some(OwnedRule {
                    owner,
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

    fn list_raw(&self) -> Result<Vec<RawRule>> {
        let out = match run_nft(&["-j", "list", "table", "ip", self.table.as_str()], None) {
            Ok(out) => out,
            // A missing table simply holds no rules.
            Err(NetError::Nft(e)) if e.contains("No such file or directory") => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let v: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| NetError::Nft(format!("unreadable `nft -j` output: {e}")))?;
        let items = v
            .get("nftables")
            .and_then(|n| n.as_array())
            .cloned()
            .unwrap_or_default();
        Ok(items
            .iter()
            .filter_map(|i| RawRule::from_json(i.get("rule")?))
            .collect())
    }
}

struct RawRule {
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
            chain: rule.get("chain")?.as_str()?.to_string(),
            handle: u32::try_from(rule.get("handle")?.as_u64()?).ok()?,
            comment: rule.get("comment").and_then(|c| c.as_str()).map(str::to_string),
            packets,
        })
    }
}

/// Runs `nft` with `args`, feeding `stdin`; returns stdout, or stderr as the error.
fn run_nft(args: &[&str], stdin: Option<&str>) -> Result<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::Nft(format!("cannot run nft (install nftables): {e}")))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|e| NetError::Nft(format!("write to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Nft(format!("wait for nft: {e}")))?;
    if !out.status.success() {
        return Err(NetError::Nft(format!(
            "nft {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Serialises base-table setup between netstacks on one host.
fn host_lock() -> Result<nix::fcntl::Flock<std::fs::File>> {
    file_lock("/run/berth-nft.lock")
}

/// An exclusive lock on `path` (created if missing), held until dropped.
pub(crate) fn file_lock(path: &str) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| NetError::io("open lock file", path, e))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| NetError::io("lock", path, e.into()))
}

/// Explains host firewall state berth may not change but that breaks its networks: with
/// br_netfilter calling iptables, a foreign forward chain with policy drop (left by dockerd, for
/// one) drops even traffic between containers on one bridge. Empty when nothing is in the way.
pub fn host_firewall_warnings(own_table: &str) -> Vec<String> {
    let bridged =
        std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables").is_ok_and(|v| v.trim() == "1");
    let Ok(out) = run_nft(&["-j", "list", "chains"], None) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&out) else {
        return Vec::new();
    };
    let items = v
        .get("nftables")
        .and_then(|n| n.as_array())
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|i| i.get("chain"))
        .filter(|c| {
            c.get("hook").and_then(|h| h.as_str()) == Some("forward")
                && c.get("policy").and_then(|p| p.as_str()) == Some("drop")
        })
        .filter(|c| c.get("table").and_then(|t| t.as_str()) != Some(own_table))
        .map(|c| {
            let name = |k: &str| c.get(k).and_then(|x| x.as_str()).unwrap_or("?").to_string();
            let scope = if bridged {
                "between containers and to the outside"
            } else {
                "to the outside"
            };
            format!(
                "table {} {} chain {} has policy drop on the forward hook: it drops berth's container traffic {scope}; \
                 berth does not edit other tables (allow interfaces brt-* and vb* there, or reset that policy)",
                name("family"),
                name("table"),
                name("name")
            )
        })
        .collect()
}

/// Turns on IPv4 forwarding (needed for containers on non-internal networks to reach out).
pub fn enable_ip_forward() -> Result<()> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    match std::fs::read_to_string(path) {
        Ok(v) if v.trim() == "1" => Ok(()),
        _ => std::fs::write(path, "1").map_err(|e| NetError::io("write", path, e)),
    }
}
