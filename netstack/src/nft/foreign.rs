//! Forward chains of other tables that drop by default, and the accept rules berth puts there for its bridges.
//!
//! dockerd sets the policy of iptables' `FORWARD` chain (`table ip filter`) to drop when it switches forwarding
//! on, and loads br_netfilter, so even traffic between two containers on one berth bridge meets that drop. A
//! drop in any table is final, so berth's own table cannot undo it: berth inserts accept rules for each of its
//! bridges where that chain's owner expects other people's rules (dockerd's `DOCKER-USER`, which dockerd keeps
//! and runs first; else the chain itself). They carry the network's label, like berth's own rules, so network
//! removal, purge and crash cleanup find and delete them; they are plain `iifname`/`oifname` matches that
//! iptables-nft reads back. berth's own table still applies its isolation, ICC and internal-network drops.

use std::borrow::Cow;

use nftables::batch::Batch;
use nftables::expr::MetaKey;
use nftables::schema::{NfCmd, NfListObject, Rule};
use nftables::stmt::{Operator, Statement};
use nftables::types::NfFamily;

use super::host::run_nft;
use super::rules::{counter, matches, meta, s};
use super::{nft_objects, Family, Nft};
use crate::error::Result;
use crate::ids::Owner;

/// The chain dockerd runs before its own rules and leaves alone across restarts.
const USER_CHAIN: &str = "DOCKER-USER";

/// A chain in some table, as nft names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainRef {
    /// Table family.
    pub family: NfFamily,
    /// Table name.
    pub table: String,
    /// Chain name.
    pub name: String,
}

impl std::fmt::Display for ChainRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "table {} {} chain {}",
            family_name(self.family),
            self.table,
            self.name
        )
    }
}

/// A foreign forward chain with policy drop, and the chain berth's accept rules for it go to.
#[derive(Clone, Debug)]
pub struct Blocking {
    /// The chain on the forward hook whose policy is drop.
    pub chain: ChainRef,
    /// Where berth inserts its accept rules (`DOCKER-USER` of the same table when it exists).
    pub target: ChainRef,
}

impl Blocking {
    /// Whether berth can let its bridges through: only the IP families see bridged traffic as forwarded.
    pub fn passable(&self) -> bool {
        matches!(self.chain.family, NfFamily::IP | NfFamily::IP6 | NfFamily::INet)
    }

    fn carries(&self, families: &[Family]) -> bool {
        match self.target.family {
            NfFamily::INet => true,
            NfFamily::IP => families.contains(&Family::V4),
            NfFamily::IP6 => families.contains(&Family::V6),
            _ => false,
        }
    }
}

/// nft's spelling of a family.
pub(super) fn family_name(f: NfFamily) -> &'static str {
    match f {
        NfFamily::IP => "ip",
        NfFamily::IP6 => "ip6",
        NfFamily::INet => "inet",
        NfFamily::ARP => "arp",
        NfFamily::Bridge => "bridge",
        NfFamily::NetDev => "netdev",
    }
}

struct Listed {
    at: ChainRef,
    forward_drop: bool,
}

fn list_chains() -> Result<Vec<Listed>> {
    let chains = nft_objects(&run_nft(&["-j", "list", "chains"], None)?, "chain")?;
    Ok(chains
        .iter()
        .filter_map(|c| {
            let text = |k: &str| c.get(k).and_then(|x| x.as_str());
            Some(Listed {
                at: ChainRef {
                    family: serde_json::from_value(c.get("family")?.clone()).ok()?,
                    table: text("table")?.to_string(),
                    name: text("name")?.to_string(),
                },
                forward_drop: text("hook") == Some("forward") && text("policy") == Some("drop"),
            })
        })
        .collect())
}

/// Forward-hook chains with policy drop in tables other than `own_table`.
pub fn blocking_chains(own_table: &str) -> Result<Vec<Blocking>> {
    let listed = list_chains()?;
    Ok(listed
        .iter()
        .filter(|l| l.forward_drop && l.at.table != own_table)
        .map(|l| {
            let user = listed
                .iter()
                .find(|u| u.at.family == l.at.family && u.at.table == l.at.table && u.at.name == USER_CHAIN);
            Blocking {
                chain: l.at.clone(),
                target: user.map_or_else(|| l.at.clone(), |u| u.at.clone()),
            }
        })
        .collect())
}

impl Nft {
    /// Lets `bridge`'s traffic (of `families`) through the foreign forward chains that drop by default; returns
    /// the chains that got accept rules (labelled for `owner`).
    pub fn pass_foreign(&self, owner: &Owner, bridge: &str, families: &[Family]) -> Result<Vec<ChainRef>> {
        let mut targets: Vec<ChainRef> = blocking_chains(&self.table)?
            .into_iter()
            .filter(|b| b.passable() && b.carries(families))
            .map(|b| b.target)
            .collect();
        targets.dedup();
        if targets.is_empty() {
            return Ok(targets);
        }
        let label = owner.label(&self.tag);
        let mut b = Batch::new();
        for t in &targets {
            for key in [MetaKey::Iifname, MetaKey::Oifname] {
                let expr = vec![
                    matches(meta(key), Operator::EQ, s(bridge)),
                    counter(),
                    Statement::Accept(None),
                ];
                // Inserted first: the chain may end in a drop or return of its owner's.
                b.add_cmd(NfCmd::Insert(NfListObject::Rule(Rule {
                    family: t.family,
                    table: Cow::Owned(t.table.clone()),
                    chain: Cow::Owned(t.name.clone()),
                    expr: Cow::Owned(expr),
                    handle: None,
                    index: None,
                    comment: Some(Cow::Owned(label.clone())),
                })));
            }
        }
        self.apply(b)?;
        self.note_owner(owner);
        Ok(targets)
    }
}
