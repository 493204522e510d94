//! The engine's event hub: container lifecycle events (from the container service) enriched with the actor's
//! name, image and labels, plus health, restart, oom and image events; a ring of recent events for `since`
//! and a broadcast channel for live subscribers (`GET /events`, waits), so nothing polls.

use crate::containers::{Action, Containers};
use crate::state::StateDb;
use bollard::models::{EventActor, EventMessage, EventMessageScopeEnum, EventMessageTypeEnum};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// How many past events `since` can reach.
const RING: usize = 4096;

/// One engine's event hub.
pub struct EventHub {
    tx: broadcast::Sender<EventMessage>,
    ring: Mutex<VecDeque<EventMessage>>,
    /// Last known attributes of containers, so `destroy` still names a removed container.
    actors: Mutex<HashMap<String, HashMap<String, String>>>,
    /// Containers whose next `start` is a restart: `restart` follows that `start` in the same stream.
    restarts: Mutex<std::collections::HashSet<String>>,
}

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
}

impl EventHub {
    /// An empty hub.
    pub fn new() -> Arc<Self> {
        let (tx, _) = broadcast::channel(RING);
        Arc::new(EventHub {
            tx,
            ring: Mutex::new(VecDeque::new()),
            actors: Mutex::new(HashMap::new()),
            restarts: Mutex::new(Default::default()),
        })
    }

    /// Live events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EventMessage> {
        self.tx.subscribe()
    }

    /// Subscribes and returns the recorded events at or after `since_nanos` (no gap, no duplicate).
    pub fn replay_and_subscribe(&self, since_nanos: i64) -> (Vec<EventMessage>, broadcast::Receiver<EventMessage>) {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let past = ring
            .iter()
            .filter(|m| m.time_nano.unwrap_or(0) >= since_nanos)
            .cloned()
            .collect();
        (past, rx)
    }

    /// Publishes an event of `typ` happening now.
    pub fn publish(
        &self,
        typ: EventMessageTypeEnum,
        action: &str,
        id: &str,
        attributes: HashMap<String, String>,
        time_nano: Option<i64>,
    ) {
        let t = time_nano.unwrap_or_else(now_nanos);
        let msg = EventMessage {
            typ: Some(typ),
            action: Some(action.to_owned()),
            actor: Some(EventActor {
                id: Some(id.to_owned()),
                attributes: Some(attributes),
            }),
            scope: Some(EventMessageScopeEnum::LOCAL),
            time: Some(t / 1_000_000_000),
            time_nano: Some(t),
        };
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() >= RING {
            ring.pop_front();
        }
        ring.push_back(msg.clone());
        let _ = self.tx.send(msg);
    }

    /// Attributes of a container (name, image, labels), from its row or the last seen copy.
    pub fn container_attributes(&self, db: &StateDb, id: &str) -> HashMap<String, String> {
        let mut actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(Some(rec)) = db.container(id) {
            let mut a: HashMap<String, String> = rec.config.labels.clone().unwrap_or_default();
            a.insert("name".into(), rec.name.clone());
            a.insert("image".into(), rec.image.clone());
            actors.insert(id.to_owned(), a);
        }
        actors.get(id).cloned().unwrap_or_default()
    }

    /// Publishes a container event with the container's attributes plus `extra`.
    pub fn container_event(&self, db: &StateDb, id: &str, action: &str, extra: &[(&str, String)]) {
        let mut a = self.container_attributes(db, id);
        for (k, v) in extra {
            a.insert((*k).to_owned(), v.clone());
        }
        self.publish(EventMessageTypeEnum::CONTAINER, action, id, a, None);
        if action == "destroy" {
            self.actors.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        }
    }

    /// Announces that the container's next `start` is a restart (by its policy or `docker restart`): a
    /// `restart` event follows that `start`, in order (both go out from the hub's feed task).
    pub fn restart_on_next_start(&self, id: &str) {
        self.restarts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned());
    }

    /// Withdraws [`EventHub::restart_on_next_start`] (the start failed).
    pub fn cancel_restart(&self, id: &str) {
        self.restarts.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Publishes an image event (`pull`, `tag`, `untag`, `delete`, `load`, `push`) for `reference`.
    pub fn image_event(&self, action: &str, reference: &str) {
        let mut a = HashMap::new();
        a.insert("name".to_owned(), reference.to_owned());
        self.publish(EventMessageTypeEnum::IMAGE, action, reference, a, None);
    }

    /// Feeds the container service's lifecycle events into the hub (runs until the service goes away).
    pub fn follow_containers(
        self: &Arc<Self>,
        containers: &Arc<Containers>,
        db: Arc<StateDb>,
        execs: Arc<crate::exec::Execs>,
    ) {
        let mut rx = containers.subscribe();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        let mut extra = Vec::new();
                        if ev.action == Action::Die
                            && db.container(&ev.id).ok().flatten().is_some_and(|r| r.state.oom_killed)
                        {
                            me.container_event(&db, &ev.id, "oom", &[]);
                        }
                        if ev.action == Action::Die {
                            extra.push(("exitCode", ev.exit_code.unwrap_or(0).to_string()));
                        }
                        let mut a = me.container_attributes(&db, &ev.id);
                        for (k, v) in extra {
                            a.insert(k.to_owned(), v);
                        }
                        me.publish(
                            EventMessageTypeEnum::CONTAINER,
                            ev.action.as_str(),
                            &ev.id,
                            a,
                            Some(ev.time_nano),
                        );
                        let restarted = ev.action == Action::Start
                            && me.restarts.lock().unwrap_or_else(|p| p.into_inner()).remove(&ev.id);
                        if restarted {
                            me.container_event(&db, &ev.id, "restart", &[]);
                        }
                        if ev.action == Action::Destroy {
                            me.actors.lock().unwrap_or_else(|p| p.into_inner()).remove(&ev.id);
                            execs.forget_container(&ev.id);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("event hub lagged {n} container events")
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}

/// Starts the engine's watchers (event hub feed, restart policies, health checks); call inside the tokio
/// runtime, before crash recovery so exits found by recovery reach the restart policy.
pub fn start_watchers(engine: &Arc<crate::Engine>) {
    engine
        .events
        .follow_containers(&engine.containers, engine.db.clone(), engine.execs.clone());
    crate::health::follow(engine);
    crate::restart::follow(engine);
}

/// `GET /events` filters, parsed at the edge.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    by: HashMap<String, Vec<String>>,
}

impl EventFilter {
    /// Parses Docker's `filters` JSON (`{"type":["container"],"event":["die"]}`).
    pub fn parse(json: &str) -> crate::Result<Self> {
        let by = crate::filters::parse(json, &["type", "container", "event", "label", "image"])?;
        Ok(EventFilter { by })
    }

    /// Whether `m` passes every filter (values of one key are alternatives).
    pub fn matches(&self, m: &EventMessage) -> bool {
        let typ = m.typ.map(|t| t.to_string()).unwrap_or_default();
        let action = m.action.clone().unwrap_or_default();
        let id = m.actor.as_ref().and_then(|a| a.id.clone()).unwrap_or_default();
        let empty = HashMap::new();
        let attrs = m.actor.as_ref().and_then(|a| a.attributes.as_ref()).unwrap_or(&empty);
        let attr = |k: &str| attrs.get(k).cloned().unwrap_or_default();
        self.by.iter().all(|(k, vals)| {
            vals.iter().any(|v| match k.as_str() {
                "type" => typ == *v,
                "event" => action == *v || action.split(':').next() == Some(v.as_str()),
                "container" => typ == "container" && (id.starts_with(v.as_str()) || attr("name") == *v),
                "image" => attr("image") == *v || (typ == "image" && (id == *v || attr("name") == *v)),
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => attrs.get(lk).is_some_and(|x| x == lv),
                    None => attrs.contains_key(v.as_str()),
                },
                _ => true,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_type_event_and_label() {
        let hub = EventHub::new();
        let mut a = HashMap::new();
        a.insert("name".into(), "web".into());
        a.insert("tier".into(), "front".into());
        hub.publish(
            EventMessageTypeEnum::CONTAINER,
            "health_status: healthy",
            "abc",
            a,
            None,
        );
        let (past, _) = hub.replay_and_subscribe(0);
        let m = &past[0];
        assert!(EventFilter::parse(r#"{"event":["health_status"]}"#).unwrap().matches(m));
        assert!(EventFilter::parse(r#"{"container":["web"],"label":["tier=front"]}"#)
            .unwrap()
            .matches(m));
        assert!(!EventFilter::parse(r#"{"type":["image"]}"#).unwrap().matches(m));
        assert!(!EventFilter::parse(r#"{"label":["tier=back"]}"#).unwrap().matches(m));
        assert!(EventFilter::parse(r#"{"bogus":["x"]}"#).is_err());
    }
}
