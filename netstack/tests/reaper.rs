//! Objects of an instance whose state root was deleted are removed by the next instance; live ones are kept.

mod common;

use common::*;
use netstack::{Config, EndpointSpec, InstanceTag, Netstack};

#[test]
fn dead_instances_are_reaped_live_ones_kept() {
    if !require_root("dead_instances_are_reaped_live_ones_kept") {
        return;
    }
    isolated(|| async {
        let a = TestStack::new(None);
        let registry = a.dir.path().join("registry");
        let na = net_id();
        a.stack
            .create_network(&spec(&na, free_subnet(&a.stack, 70).await, false))
            .await
            .unwrap();

        // Instance B registers in the same registry, makes a network and a container, then its root vanishes.
        let b_root = tempfile::tempdir().unwrap();
        let b_tag = InstanceTag::new(&format!("b{}", &rand_hex()[..10])).unwrap();
        let mut cfg = Config::new(&b_root.path().join("netns"), b_tag.clone());
        cfg.upstream_dns = Some(vec![]);
        cfg.registry_dir = registry.clone();
        let b = Netstack::new(cfg).unwrap();
        let nb = net_id();
        let sb = spec(&nb, free_subnet(&b, 71).await, false);
        b.create_network(&sb).await.unwrap();
        let c = ctr_id();
        b.create_sandbox(&c).await.unwrap();
        b.attach(
            &c,
            &sb,
            &EndpointSpec {
                ip: Some(host(subnet_of(&sb), 2)),
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
            a.stack.reap_dead_instances().await.unwrap() == 0,
            "B's root still exists: nothing reaped"
        );
        drop(b);
        unmount_all(&b_root.path().join("netns"));
        drop(b_root);

        let removed = a.stack.reap_dead_instances().await.unwrap();
        assert!(removed >= 2 + 2, "bridge, veth and B's rules removed: {removed}");
        let links = sh("ip -d -o link");
        assert!(!links.contains(&format!("berth:{}:", b_tag.as_str())), "{links}");
        assert!(links.contains(&format!("berth:{}:", a.tag.as_str())), "A's bridge kept");
        assert!(
            !std::fs::read_dir(&registry)
                .unwrap()
                .flatten()
                .any(|e| e.file_name() == b_tag.as_str()),
            "B unregistered"
        );
        assert!(sh("nft list table ip berth").contains(a.tag.as_str()), "A's rules kept");
        assert!(a.stack.destroy().await.unwrap() >= 1);
        assert!(!sh("ip -d -o link").contains(&format!("berth:{}:", a.tag.as_str())));
    });
}
