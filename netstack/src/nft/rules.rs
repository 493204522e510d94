//! The rules berth writes, per address family: base chains, a network's forwarding/isolation/masquerade
//! rules, and published-port DNAT.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use nftables::batch::Batch;
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix,
};
use nftables::schema::{Chain, NfListObject, Rule, Table};
use nftables::stmt::{Counter, JumpTarget, Match, NATFamily, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::{Nft, Proto, BASE_COMMENT, PORTS_CHAIN};

/// The chain where each network drops traffic from other bridges bound for its own.
const ISOLATION_CHAIN: &str = "isolation";
use crate::ids::{BridgeName, Owner};

/// The address family of a table of berth's: `ip` or `ip6` (same name, same chains).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// `table ip <name>`.
    V4,
    /// `table ip6 <name>`.
    V6,
}

impl Family {
    /// Both, IPv4 first.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Family {
        if ip.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    pub(super) fn nf(self) -> NfFamily {
        match self {
            Family::V4 => NfFamily::IP,
            Family::V6 => NfFamily::IP6,
        }
    }

    /// `ip` or `ip6`, as nft spells the family and the payload protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

    fn nat(self) -> NATFamily {
        match self {
            Family::V4 => NATFamily::IP,
            Family::V6 => NATFamily::IP6,
        }
    }

    fn loopback(self) -> IpNet {
        match self {
            Family::V4 => IpNet::new(IpAddr::from([127, 0, 0, 0]), 8),
            Family::V6 => IpNet::new(IpAddr::from(std::net::Ipv6Addr::LOCALHOST), 128),
        }
        .unwrap_or_default()
    }
}

/// One DNAT: traffic to `host_ip` (any local address when `None`) port `host_port` goes to the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dnat {
    /// Protocol.
    pub proto: Proto,
    /// Host address, or any local one (of the container address's family).
    pub host_ip: Option<IpAddr>,
    /// Host port.
    pub host_port: u16,
    /// Container address; its family picks the table.
    pub container_ip: IpAddr,
    /// Container port.
    pub container_port: u16,
}

/// Network settings the rules depend on.
pub struct NetworkRules<'a> {
    /// Bridge interface.
    pub bridge: &'a BridgeName,
    /// Subnets: one IPv4, and one IPv6 on dual-stack networks.
    pub subnets: Vec<IpNet>,
    /// No traffic in or out of the bridge except between its own members.
    pub internal: bool,
    /// Containers of the bridge may talk to each other (`com.docker.network.bridge.enable_icc`).
    pub icc: bool,
    /// Outgoing traffic is masqueraded (`com.docker.network.bridge.enable_ip_masquerade`).
    pub masquerade: bool,
}

fn named(e: NamedExpression<'static>) -> Expression<'static> {
    Expression::Named(e)
}
pub(super) fn s(v: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(v.into()))
}
pub(super) fn meta(key: MetaKey) -> Expression<'static> {
    named(NamedExpression::Meta(Meta { key }))
}
fn field(protocol: &'static str, f: &'static str) -> Expression<'static> {
    named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: protocol.into(),
        field: f.into(),
    })))
}
pub(super) fn matches(left: Expression<'static>, op: Operator, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}
fn prefix(net: IpNet) -> Expression<'static> {
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
pub(super) fn counter() -> Statement<'static> {
    Statement::Counter(Counter::Anonymous(None))
}
fn family_of(net: &IpNet) -> Family {
    Family::of(&net.addr())
}

impl Nft {
    pub(super) fn rule(
        &self,
        fam: Family,
        chain: &str,
        expr: Vec<Statement<'static>>,
        comment: String,
    ) -> NfListObject<'static> {
        NfListObject::Rule(Rule {
            family: fam.nf(),
            table: Cow::Owned(self.table.clone()),
            chain: Cow::Owned(chain.to_string()),
            expr: Cow::Owned(expr),
            handle: None,
            index: None,
            comment: Some(Cow::Owned(comment)),
        })
    }

    fn chain(&self, fam: Family, name: &str, hook: Option<(NfChainType, NfHook, i32)>) -> NfListObject<'static> {
        NfListObject::Chain(Chain {
            family: fam.nf(),
            table: Cow::Owned(self.table.clone()),
            name: Cow::Owned(name.to_string()),
            _type: hook.map(|h| h.0),
            hook: hook.map(|h| h.1),
            prio: hook.map(|h| h.2),
            policy: hook.map(|_| NfChainPolicy::Accept),
            ..Chain::default()
        })
    }

    pub(super) fn table_object(&self, fam: Family) -> NfListObject<'static> {
        NfListObject::Table(Table {
            family: fam.nf(),
            name: Cow::Owned(self.table.clone()),
            handle: None,
        })
    }

    /// The table of `fam`, its chains and the jump rules to the ports chain.
    pub(super) fn base_batch(&self, fam: Family) -> Batch<'static> {
        let mut b = Batch::new();
        b.add(self.table_object(fam));
        b.add(self.chain(fam, "forward", Some((NfChainType::Filter, NfHook::Forward, 0))));
        b.add(self.chain(fam, "prerouting", Some((NfChainType::NAT, NfHook::Prerouting, -100))));
        b.add(self.chain(fam, "output", Some((NfChainType::NAT, NfHook::Output, -100))));
        b.add(self.chain(fam, "postrouting", Some((NfChainType::NAT, NfHook::Postrouting, 100))));
        b.add(self.chain(fam, PORTS_CHAIN, None));
        let jump = || {
            Statement::Jump(JumpTarget {
                target: PORTS_CHAIN.into(),
            })
        };
        b.add(self.rule(fam, "prerouting", vec![fib_daddr_local(), jump()], BASE_COMMENT.into()));
        // Loopback destinations never reach DNAT usefully (martians): the userland proxy serves them.
        let not_loopback = matches(field(fam.as_str(), "daddr"), Operator::NEQ, prefix(fam.loopback()));
        b.add(self.rule(
            fam,
            "output",
            vec![not_loopback, fib_daddr_local(), jump()],
            BASE_COMMENT.into(),
        ));
        b
    }

    /// Forwarding, isolation and masquerade rules of one network, in every family it has a subnet of.
    pub(super) fn network_batch(&self, owner: &Owner, net: &NetworkRules<'_>) -> Batch<'static> {
        let mut b = Batch::new();
        let mut families: Vec<Family> = net.subnets.iter().map(family_of).collect();
        families.dedup();
        for fam in families {
            self.network_rules(&mut b, fam, owner, net);
        }
        b
    }

    fn network_rules(&self, b: &mut Batch<'static>, fam: Family, owner: &Owner, net: &NetworkRules<'_>) {
        let label = owner.label(&self.tag);
        let br = net.bridge.as_str();
        let iif = |op, v: &str| matches(meta(MetaKey::Iifname), op, s(v));
        let oif = |op, v: &str| matches(meta(MetaKey::Oifname), op, s(v));
        // ICC off: containers of the bridge reach only the outside (and the host), not each other.
        let verdict = if net.icc {
            Statement::Accept(None)
        } else {
            Statement::Drop(None)
        };
        let rule = |expr| self.rule(fam, "forward", expr, label.clone());
        b.add(rule(vec![iif(Operator::EQ, br), oif(Operator::EQ, br), verdict]));
        // Isolation of every bridge of berth's from the others, user-named ones included (as dockerd's
        // isolation chains): what leaves this bridge goes through one shared chain where each network drops
        // what is bound for its own bridge. `add chain` leaves an existing chain alone.
        b.add(self.chain(fam, ISOLATION_CHAIN, None));
        let jump = Statement::Jump(JumpTarget {
            target: ISOLATION_CHAIN.into(),
        });
        b.add(rule(vec![iif(Operator::EQ, br), jump]));
        b.add(self.rule(
            fam,
            ISOLATION_CHAIN,
            vec![oif(Operator::EQ, br), Statement::Drop(None)],
            label.clone(),
        ));
        // Bridges of networks an older berth made have no rule in that chain until their engine restarts.
        let other_bridges = format!("{}*", BridgeName::PREFIX);
        b.add(rule(vec![
            iif(Operator::EQ, br),
            oif(Operator::EQ, &other_bridges),
            Statement::Drop(None),
        ]));
        if net.internal {
            b.add(rule(vec![iif(Operator::EQ, br), Statement::Drop(None)]));
            b.add(rule(vec![oif(Operator::EQ, br), Statement::Drop(None)]));
            return;
        }
        if !net.masquerade {
            return;
        }
        for subnet in net.subnets.iter().filter(|n| family_of(n) == fam) {
            let saddr = matches(field(fam.as_str(), "saddr"), Operator::EQ, prefix(*subnet));
            b.add(self.rule(
                fam,
                "postrouting",
                vec![saddr, oif(Operator::NEQ, br), Statement::Masquerade(None)],
                label.clone(),
            ));
        }
    }

    /// DNAT rules (with counters) for a container's published ports, each in its container address's family.
    pub(super) fn dnat_batch(&self, owner: &Owner, rules: &[Dnat]) -> Batch<'static> {
        let label = owner.label(&self.tag);
        let mut b = Batch::new();
        for r in rules {
            let fam = Family::of(&r.container_ip);
            let l3 = fam.as_str();
            let mut expr = Vec::new();
            if let Some(ip) = r.host_ip {
                expr.push(matches(field(l3, "daddr"), Operator::EQ, s(ip.to_string())));
            }
            expr.push(matches(
                field(r.proto.as_str(), "dport"),
                Operator::EQ,
                Expression::Number(u32::from(r.host_port)),
            ));
            expr.push(counter());
            expr.push(Statement::DNAT(Some(NAT {
                addr: Some(s(r.container_ip.to_string())),
                family: Some(fam.nat()),
                port: Some(Expression::Number(u32::from(r.container_port))),
                flags: None,
            })));
            b.add(self.rule(fam, PORTS_CHAIN, expr, label.clone()));
            // Hairpin: a container reaching itself through its published port needs its source rewritten.
            let to_self = vec![
                matches(field(l3, "saddr"), Operator::EQ, s(r.container_ip.to_string())),
                matches(field(l3, "daddr"), Operator::EQ, s(r.container_ip.to_string())),
                matches(
                    field(r.proto.as_str(), "dport"),
                    Operator::EQ,
                    Expression::Number(u32::from(r.container_port)),
                ),
                Statement::Masquerade(None),
            ];
            b.add(self.rule(fam, "postrouting", to_self, label.clone()));
        }
        b
    }
}
