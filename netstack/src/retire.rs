//! Sandboxes taken down in the background. Deleting veths and the namespace file costs the kernel
//! RCU grace periods (tens of milliseconds); a container's exit must not wait for them. What users
//! see (names, resolver, ports) goes at once in `Netstack::retire_sandbox`; the kernel objects go on
//! a task here, and whatever needs the sandbox gone (a new start, removal, cleanup) settles it first.

use std::sync::Arc;
use std::time::Duration;

use tracing::{warn, Instrument};

use crate::error::Result;
use crate::ids::ContainerId;
use crate::inflight::Inflight;
use crate::links::Netlink;
use crate::netns::NetnsDir;

/// Starts the kernel side of a container's teardown on a task (after any teardown of it still running).
pub(crate) fn begin(retiring: &Inflight, id: &ContainerId, host: Arc<Netlink>, netns: NetnsDir) {
    let key = id.clone();
    let span = tracing::info_span!("dismantle_sandbox", container = %id.short(12));
    retiring.begin(
        id,
        async move {
            if let Err(e) = dismantle(&host, &netns, &key).await {
                // Labelled objects: the next cleanup_orphans (engine start) removes what is left.
                warn!("taking the network sandbox down: {e}");
            }
        }
        .instrument(span),
    );
}

/// Removes a container's namespace file; the kernel then destroys the namespace with its interfaces (a veth's
/// host end goes with it), and returns once the host ends are gone.
///
/// Deleting each veth costs the kernel an RCU grace period under the rtnl lock, so a stack's teardown took
/// ~20 ms per container one after the other; dying namespaces are cleaned up in batches, a grace period for
/// all of them. No dump of the host's interfaces either (quadratic over a stack's stop): the host ends are
/// the inside veths' peers.
pub(crate) async fn dismantle(host: &Netlink, netns: &NetnsDir, id: &ContainerId) -> Result<()> {
    let path = netns.path(id);
    if !crate::netns::is_nsfs(&path) {
        // Gone already (or a file a crash left): interfaces of an earlier life went with their namespace.
        return netns.remove(id);
    }
    let host_ends: Vec<u32> = {
        let inside = Netlink::connect_in(&path)?;
        let links = inside.links().await?;
        links
            .iter()
            .filter(|l| l.kind.as_deref() == Some("veth"))
            .filter_map(|l| l.peer)
            .collect()
    };
    netns.remove(id)?;
    let deadline = tokio::time::Instant::now() + GONE_WITHIN;
    let mut pause = Duration::from_millis(2);
    for index in host_ends {
        while host.has_index(index).await? {
            if tokio::time::Instant::now() >= deadline {
                // Something else holds the namespace (a container sharing it still runs): delete the pair.
                host.remove_index(index).await?;
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// How long the kernel gets to destroy a dropped namespace before its veths are deleted one by one.
const GONE_WITHIN: Duration = Duration::from_secs(3);
