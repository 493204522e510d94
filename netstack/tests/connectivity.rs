//! Containers on one network reach each other; a container on another network does not.

mod common;

use common::*;
use netstack::{EndpointSpec, Keep};

#[test]
fn same_network_pings_other_network_is_isolated() {
    if !require_root("same_network_pings_other_network_is_isolated") {
        return;
    }
    isolated(|| async {
        let t = TestStack::new(None);
        let s = &t.stack;
        let (na, nb) = (net_id(), net_id());
        let sa = spec(&na, free_subnet(s, 10).await, false);
        let sb = spec(&nb, free_subnet(s, 11).await, false);
        s.create_network(&sa).await.unwrap();
        s.create_network(&sb).await.unwrap();

        let (c1, c2, c3) = (ctr_id(), ctr_id(), ctr_id());
        let ep = |n| EndpointSpec {
            ip: Some(host(subnet_of(&sa), n)),
            names: vec![],
            default_route: true,
            mac: None,
            ifname: None,
            ip6: None,
            link_local: Vec::new(),
        };
        let p1 = s.create_sandbox(&c1).await.unwrap();
        let p2 = s.create_sandbox(&c2).await.unwrap();
        let p3 = s.create_sandbox(&c3).await.unwrap();
        let a1 = s.attach(&c1, &sa, &ep(2)).await.unwrap();
        s.attach(&c2, &sa, &ep(3)).await.unwrap();
        let ep3 = EndpointSpec {
            ip: Some(host(subnet_of(&sb), 2)),
            names: vec![],
            default_route: true,
            mac: None,
            ifname: None,
            ip6: None,
            link_local: Vec::new(),
        };
        s.attach(&c3, &sb, &ep3).await.unwrap();
        assert_eq!(a1.ifname, "eth0");

        // Inside: eth0 with the address, lo up, default route via the gateway.
        let addr = sh(&format!("nsenter --net={} ip -o -4 addr show eth0", p1.display()));
        assert!(addr.contains(&format!("{}/24", host(subnet_of(&sa), 2))), "{addr}");
        let route = sh(&format!("nsenter --net={} ip route show default", p1.display()));
        assert!(route.contains(&format!("via {}", gateway_of(&sa))), "{route}");
        assert!(sh(&format!("nsenter --net={} ip -o link show lo", p1.display())).contains("UP"));

        assert!(ping(&p1, host(subnet_of(&sa), 3)), "c1 -> c2 on the same network");
        assert!(ping(&p2, host(subnet_of(&sa), 2)), "c2 -> c1 on the same network");
        assert!(ping(&p3, gateway_of(&sb)), "c3 reaches its own gateway");
        assert!(
            !ping(&p3, host(subnet_of(&sa), 2)),
            "c3 on another network must not reach c1"
        );
        assert!(
            !ping(&p1, host(subnet_of(&sb), 2)),
            "c1 must not reach c3 on another network"
        );

        // A second network on a running container appears as eth1; detach removes it.
        let a2 = s
            .attach(
                &c1,
                &sb,
                &EndpointSpec {
                    ip: Some(host(subnet_of(&sb), 9)),
                    names: vec![],
                    default_route: false,
                    mac: None,
                    ifname: None,
                    ip6: None,
                    link_local: Vec::new(),
                },
            )
            .await
            .unwrap();
        assert_eq!(a2.ifname, "eth1");
        assert!(
            ping(&p1, host(subnet_of(&sb), 2)),
            "c1 reaches c3 once on the same network"
        );
        s.detach(&c1, &nb).await.unwrap();
        s.detach(&c1, &nb).await.unwrap();
        assert!(!sh(&format!("nsenter --net={} ip -o link", p1.display())).contains("eth1"));

        for c in [&c1, &c2, &c3] {
            s.remove_sandbox(c).await.unwrap();
        }
        s.remove_network(&na).await.unwrap();
        s.remove_network(&nb).await.unwrap();
        s.remove_network(&nb).await.unwrap();
        assert_eq!(
            s.cleanup_orphans(&Keep::default()).await.unwrap(),
            Default::default(),
            "explicit removal left nothing"
        );
    });
}

#[test]
fn internal_network_cannot_reach_out() {
    if !require_root("internal_network_cannot_reach_out") {
        return;
    }
    isolated(|| async {
        let t = TestStack::new(None);
        let s = &t.stack;
        let (ni, no) = (net_id(), net_id());
        let si = spec(&ni, free_subnet(s, 20).await, true);
        let so = spec(&no, free_subnet(s, 21).await, false);
        s.create_network(&si).await.unwrap();
        s.create_network(&so).await.unwrap();
        let (c1, c2, c3) = (ctr_id(), ctr_id(), ctr_id());
        let p1 = s.create_sandbox(&c1).await.unwrap();
        let p2 = s.create_sandbox(&c2).await.unwrap();
        let p3 = s.create_sandbox(&c3).await.unwrap();
        s.attach(
            &c1,
            &si,
            &EndpointSpec {
                ip: Some(host(subnet_of(&si), 2)),
                names: vec![],
                default_route: true,
                mac: None,
                ifname: None,
                ip6: None,
                link_local: Vec::new(),
            },
        )
        .await
        .unwrap();
        s.attach(
            &c2,
            &si,
            &EndpointSpec {
                ip: Some(host(subnet_of(&si), 3)),
                names: vec![],
                default_route: true,
                mac: None,
                ifname: None,
                ip6: None,
                link_local: Vec::new(),
            },
        )
        .await
        .unwrap();
        s.attach(
            &c3,
            &so,
            &EndpointSpec {
                ip: Some(host(subnet_of(&so), 2)),
                names: vec![],
                default_route: true,
                mac: None,
                ifname: None,
                ip6: None,
                link_local: Vec::new(),
            },
        )
        .await
        .unwrap();
        assert!(
            ping(&p1, host(subnet_of(&si), 3)),
            "members of an internal network reach each other"
        );
        let routes = sh(&format!("nsenter --net={} ip route", p1.display()));
        assert!(
            !routes.contains("default"),
            "no default route on an internal network: {routes}"
        );
        // Even with a route added by hand, the firewall stops traffic leaving the internal bridge.
        sh(&format!(
            "nsenter --net={} ip route add default via {}",
            p1.display(),
            gateway_of(&si)
        ));
        assert!(ping(&p3, gateway_of(&so)), "the other network works");
        assert!(
            !ping(&p1, host(subnet_of(&so), 2)),
            "an internal network must not reach out"
        );
        assert!(
            !ping(&p3, host(subnet_of(&si), 2)),
            "nothing reaches into an internal network"
        );
        let rules = sh("nft list chain ip berth forward");
        assert!(rules.contains(&format!("iifname \"{}\" drop", si.bridge())), "{rules}");
        let nat = sh("nft list chain ip berth postrouting");
        assert!(
            !nat.contains(&subnet_of(&si).to_string()),
            "no masquerade for internal networks: {nat}"
        );
        assert!(
            nat.contains(&subnet_of(&so).to_string()),
            "masquerade for the other: {nat}"
        );
        drop(p2);
        let report = s.cleanup_orphans(&Keep::default()).await.unwrap();
        assert_eq!((report.bridges, report.veths, report.netns), (2, 3, 3), "{report:?}");
        assert!(report.rules >= 5, "{report:?}");
        assert!(s.nft().owned_rules().unwrap().is_empty());
    });
}

/// Two sandboxes on a fresh network of `s`, at .2 and .3; returns the network and their namespace paths.
async fn pair_on_new_network(
    s: &netstack::Netstack,
    third_octet: u8,
) -> (netstack::NetworkSpec, [std::path::PathBuf; 2]) {
    let n = net_id();
    let sp = spec(&n, free_subnet(s, third_octet).await, false);
    s.create_network(&sp).await.unwrap();
    let mut paths = Vec::new();
    for i in [2, 3] {
        let c = ctr_id();
        paths.push(s.create_sandbox(&c).await.unwrap());
        let ep = EndpointSpec {
            ip: Some(host(subnet_of(&sp), i)),
            names: vec![],
            default_route: true,
            mac: None,
            ifname: None,
            ip6: None,
            link_local: Vec::new(),
        };
        s.attach(&c, &sp, &ep).await.unwrap();
    }
    let [a, b]: [std::path::PathBuf; 2] = paths.try_into().unwrap();
    (sp, [a, b])
}

#[test]
fn bridges_pass_a_foreign_forward_drop_policy_and_leave_no_rule_behind() {
    if !require_root("bridges_pass_a_foreign_forward_drop_policy_and_leave_no_rule_behind") {
        return;
    }
    isolated(|| async {
        let t = TestStack::new(None);
        let s = &t.stack;
        // What dockerd leaves: br_netfilter on, iptables' FORWARD dropping, DOCKER-USER jumped to first.
        sh("echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables");
        sh("nft 'add table ip filter; add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }'");
        sh("nft 'add chain ip filter DOCKER-USER; add rule ip filter FORWARD jump DOCKER-USER; add rule ip filter DOCKER-USER return'");
        assert!(s.firewall_warnings().is_empty(), "berth passes ip tables itself");

        let (sp, [p1, p2]) = pair_on_new_network(s, 60).await;
        assert!(
            ping(&p1, host(subnet_of(&sp), 3)),
            "same bridge through a FORWARD drop policy"
        );
        assert!(ping(&p2, gateway_of(&sp)), "the gateway");
        let user = sh("nft list chain ip filter DOCKER-USER");
        let bridge = sp.bridge();
        for dir in ["iifname", "oifname"] {
            assert!(user.contains(&format!("{dir} \"{bridge}\"")), "{user}");
        }
        assert!(
            !sh("nft list chain ip filter FORWARD").contains(bridge.as_str()),
            "rules go to DOCKER-USER"
        );
        assert!(
            sh("nft list chain ip filter FORWARD").contains("policy drop"),
            "the policy is not berth's to change"
        );

        s.remove_network(&sp.id).await.unwrap();
        assert!(
            !sh("nft list chain ip filter DOCKER-USER").contains(bridge.as_str()),
            "removed with the network"
        );

        // Without DOCKER-USER the rules go to the dropping chain; a crashed engine's are found by cleanup.
        sh("nft 'flush chain ip filter FORWARD; delete chain ip filter DOCKER-USER'");
        let (sp, [p1, _p2]) = pair_on_new_network(s, 61).await;
        assert!(ping(&p1, host(subnet_of(&sp), 3)), "same bridge, rules in FORWARD");
        assert!(sh("nft list chain ip filter FORWARD").contains(sp.bridge().as_str()));
        let report = s.cleanup_orphans(&Keep::default()).await.unwrap();
        assert!(report.rules >= 2, "{report:?}");
        let left = sh("nft list table ip filter");
        assert!(
            !left.contains("berth:"),
            "no labelled rule left in the foreign table: {left}"
        );
        assert!(s.nft().owned_rules().unwrap().is_empty());
    });
}

#[test]
fn a_bridge_family_drop_policy_is_reported() {
    if !require_root("a_bridge_family_drop_policy_is_reported") {
        return;
    }
    isolated(|| async {
        let t = TestStack::new(None);
        assert!(
            t.stack.firewall_warnings().is_empty(),
            "a fresh namespace has no foreign firewall"
        );
        sh("nft 'add table bridge f; add chain bridge f fw { type filter hook forward priority 0; policy drop; }'");
        let warnings = t.stack.firewall_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("table bridge f chain fw has policy drop"),
            "{}",
            warnings[0]
        );
    });
}
