//! 50 networks and 100 attachments made and removed, half of them by crash recovery: nothing of
//! ours is left, and nothing that is not ours is touched.

mod common;

use std::collections::HashSet;

use common::*;
use netstack::{Config, EndpointSpec, Keep, Netstack, PortRequest, Proto};

fn count_links(tag: &str) -> usize {
    sh("ip -o link")
        .lines()
        .filter(|l| l.contains(&format!("berth:{tag}:")))
        .count()
}

fn count_rules(tag: &str) -> usize {
    let table = if sh_ok("nft list table ip berth") {
        sh("nft list table ip berth")
    } else {
        String::new()
    };
    table.lines().filter(|l| l.contains(&format!("berth:{tag}:"))).count()
}

#[test]
fn fifty_networks_hundred_attachments_leave_nothing() {
    if !require_root("fifty_networks_hundred_attachments_leave_nothing") {
        return;
    }
    isolated(|| async {
        let t = TestStack::new(None);
        let tag = t.tag.as_str().to_string();
        let mut nets = Vec::new();
        let mut ctrs = Vec::new();
        for i in 0..50u8 {
            let n = net_id();
            let sn = spec(&n, free_subnet(&t.stack, 100 + i).await, i % 5 == 0);
            t.stack.create_network(&sn).await.unwrap();
            for k in 0..2u32 {
                let c = ctr_id();
                t.stack.create_sandbox(&c).await.unwrap();
                let ip = host(subnet_of(&sn), 2 + k);
                t.stack
                    .attach(
                        &c,
                        &sn,
                        &EndpointSpec {
                            ip: Some(ip),
                            names: vec![format!("svc{i}")],
                            default_route: true,
                            mac: None,
                            ifname: None,
                            ip6: None,
                            link_local: Vec::new(),
                        },
                    )
                    .await
                    .unwrap();
                if k == 0 && i % 10 == 0 {
                    t.stack
                        .publish(
                            &c,
                            Some(ip),
                            None,
                            &[PortRequest::parse(Proto::Tcp, "", "", 80).unwrap()],
                        )
                        .await
                        .unwrap();
                }
                ctrs.push((c, n.clone()));
            }
            nets.push(n);
        }
        assert_eq!(count_links(&tag), 50 + 100, "bridges and veths are labelled");
        assert_eq!(std::fs::read_dir(t.netns_dir()).unwrap().count(), 100);
        assert!(count_rules(&tag) >= 50);

        // Foreign objects that must survive: an unlabelled brt- bridge, another tag's rule, a stray file.
        sh("ip link add brt-foreign0 type bridge");
        sh(
            r#"nft 'add rule ip berth forward iifname "brt-foreign0" accept comment "berth:othertag:net:0123456789abcdef"'"#,
        );
        std::fs::write(t.netns_dir().join("not-a-container"), b"").unwrap();

        // First half: removed one by one, as the engine does on `down`.
        for (c, n) in &ctrs[..50] {
            t.stack.detach(c, n).await.unwrap();
            t.stack.remove_sandbox(c).await.unwrap();
        }
        for n in &nets[..25] {
            t.stack.remove_network(n).await.unwrap();
        }

        // Second half: the engine "crashes" (its netstack is gone); a new one recovers keeping one network.
        let (netns_dir, tag_value) = (t.netns_dir(), t.tag.clone());
        let registry = t.dir.path().join("registry");
        let _guard = t.dir.path().to_path_buf();
        let mut cfg = Config::new(&netns_dir, tag_value);
        cfg.upstream_dns = Some(vec![]);
        cfg.registry_dir = registry;
        drop(t.stack);
        let fresh = Netstack::new(cfg).unwrap();
        let kept_net = nets[49].clone();
        let kept: Vec<_> = ctrs
            .iter()
            .filter(|(_, n)| *n == kept_net)
            .map(|(c, _)| c.clone())
            .collect();
        let keep = Keep {
            networks: HashSet::from([kept_net.clone()]),
            containers: kept.iter().cloned().collect(),
        };
        let report = fresh.cleanup_orphans(&keep).await.unwrap();
        assert_eq!((report.bridges, report.veths, report.netns), (24, 48, 48), "{report:?}");
        assert_eq!(count_links(&tag), 3, "the kept network's bridge and two veths remain");
        assert_eq!(std::fs::read_dir(&netns_dir).unwrap().count(), 2 + 1);

        // Then everything goes.
        let report = fresh.cleanup_orphans(&Keep::default()).await.unwrap();
        assert_eq!((report.bridges, report.veths, report.netns), (1, 2, 2), "{report:?}");
        assert_eq!(count_links(&tag), 0, "ip link shows nothing of ours");
        assert_eq!(
            sh("ip -o link").lines().filter(|l| l.contains(": vb")).count(),
            0,
            "no veth left"
        );
        assert_eq!(
            std::fs::read_dir(&netns_dir).unwrap().count(),
            1,
            "only the foreign file is left"
        );
        assert_eq!(count_rules(&tag), 0, "nft list table ip berth shows nothing of ours");
        assert!(fresh.nft().owned_rules().unwrap().is_empty());

        assert!(sh("ip -o link").contains("brt-foreign0"), "foreign bridge untouched");
        assert!(
            sh("nft list table ip berth").contains("berth:othertag:"),
            "foreign rule untouched"
        );
        sh("ip link del brt-foreign0");
    });
}
