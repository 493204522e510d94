//! Waiting on engine events: one `/events` subscription per operation, container states folded from it,
//! and waits for `depends_on` conditions that wake on events instead of polling.

use super::labels;
use super::spec::Condition;
use anyhow::{bail, Context, Result};
use bollard::models::{EventMessage, EventMessageTypeEnum, HealthStatusEnum};
use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};

/// What the events told us about one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The container has been started at least once.
    pub started: bool,
    /// It is running now.
    pub running: bool,
    /// Last health status: Some(true) healthy, Some(false) unhealthy.
    pub healthy: Option<bool>,
    /// Exit code of the last exit, while it is not running.
    pub exit_code: Option<i64>,
    /// Removed.
    pub destroyed: bool,
}

/// A container event as the orchestrator uses it.
#[derive(Debug, Clone)]
pub struct ContainerEvent {
    /// Container id.
    pub id: String,
    /// Engine action (`start`, `die`, `health_status: healthy`, ...).
    pub action: String,
    /// Exit code attribute of `die`.
    pub exit_code: Option<i64>,
    /// Set on the last message when the engine's event stream failed or ended (then `id` is empty).
    pub stream_error: Option<String>,
}

/// The event subscription of one operation on one project.
pub struct EventHub {
    state: Arc<Mutex<HashMap<String, Observed>>>,
    notify: Arc<Notify>,
    failure: Arc<Mutex<Option<String>>>,
    sender: broadcast::Sender<ContainerEvent>,
    task: tokio::task::JoinHandle<()>,
    /// `--wait`'s condition per container, decided right after its start (see [`EventHub::prepare_ready`]).
    ready: Mutex<HashMap<String, Condition>>,
}

impl Drop for EventHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventHub {
    /// Subscribes to the project's container events from now on (replayed from the current second,
    /// so nothing between subscribing and the first action is missed).
    pub fn subscribe(docker: &Docker, project: &str) -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().saturating_sub(1))
            .unwrap_or(0)
            .to_string();
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            ("label".to_owned(), vec![format!("{}={project}", labels::PROJECT)]),
        ]);
        let options = EventsOptionsBuilder::new().since(&since).filters(&filters).build();
        let mut stream = docker.events(Some(options));
        let state: Arc<Mutex<HashMap<String, Observed>>> = Arc::default();
        let notify = Arc::new(Notify::new());
        let failure: Arc<Mutex<Option<String>>> = Arc::default();
        let (sender, _) = broadcast::channel(1024);
        let (st, nt, fl, tx) = (state.clone(), notify.clone(), failure.clone(), sender.clone());
        let task = tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                match item {
                    Ok(msg) => {
                        if let Some(ev) = to_container_event(&msg) {
                            fold(&mut lock(&st), &ev);
                            let _ = tx.send(ev);
                            nt.notify_waiters();
                        }
                    }
                    Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                        *lock(&fl) = Some("the engine does not serve GET /events, which berth needs to follow containers (depends_on conditions, --wait, attached up)".to_owned());
                        break;
                    }
                    Err(err) => {
                        *lock(&fl) = Some(format!("engine event stream failed: {err}"));
                        break;
                    }
                }
            }
            let reason = lock(&fl)
                .get_or_insert_with(|| "engine event stream ended".to_owned())
                .clone();
            let _ = tx.send(ContainerEvent {
                id: String::new(),
                action: String::new(),
                exit_code: None,
                stream_error: Some(reason),
            });
            nt.notify_waiters();
        });
        Self {
            state,
            notify,
            failure,
            sender,
            task,
            ready: Mutex::default(),
        }
    }

    /// A receiver of every container event of the project from now on.
    pub fn receiver(&self) -> broadcast::Receiver<ContainerEvent> {
        self.sender.subscribe()
    }

    /// Waits until container `id` meets `condition`; `name` is used in messages.
    pub async fn wait_for(
        &self,
        docker: &Docker,
        id: &str,
        name: &str,
        condition: Condition,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let wait = async {
            let info = inspect(docker, id, name).await?;
            self.seed(id, name, condition, info)?;
            self.watch(id, name, condition).await
        };
        within(timeout, name, condition, wait).await
    }

    /// Decides `--wait`'s condition for a container just started (healthy when it runs a healthcheck, else
    /// started) and folds in its state, while other containers still start: the waits at the end then need no
    /// round trip of their own.
    pub async fn prepare_ready(&self, docker: &Docker, id: &str, name: &str) -> Result<()> {
        let condition = self.decide_ready(docker, id, name).await?;
        lock(&self.ready).insert(id.to_owned(), condition);
        Ok(())
    }

    /// One inspect both decides `--wait`'s condition and folds in the state reached before the subscription.
    async fn decide_ready(&self, docker: &Docker, id: &str, name: &str) -> Result<Condition> {
        let info = inspect(docker, id, name).await?;
        let condition = ready_condition(&info);
        self.seed(id, name, condition, info)?;
        Ok(condition)
    }

    /// Drops what [`EventHub::prepare_ready`] decided for a container that was started again since.
    pub fn forget_ready(&self, id: &str) {
        lock(&self.ready).remove(id);
    }

    /// `--wait` for one container: healthy when it runs a healthcheck, else started (decided now unless
    /// [`EventHub::prepare_ready`] did).
    pub async fn wait_ready(&self, docker: &Docker, id: &str, name: &str, timeout: Option<Duration>) -> Result<()> {
        let prepared = lock(&self.ready).get(id).copied();
        let condition = match prepared {
            Some(condition) => condition,
            None => self.decide_ready(docker, id, name).await?,
        };
        within(timeout, name, condition, self.watch(id, name, condition)).await
    }

    async fn watch(&self, id: &str, name: &str, condition: Condition) -> Result<()> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let seen = lock(&self.state).get(id).cloned().unwrap_or_default();
            if let Some(done) = check(&seen, name, condition) {
                return done;
            }
            if let Some(msg) = lock(&self.failure).clone() {
                bail!("{msg} while waiting for container {name}");
            }
            notified.await;
        }
    }

    /// Folds the container's current state (`info`) in once, so a state reached before the subscription counts.
    fn seed(
        &self,
        id: &str,
        name: &str,
        condition: Condition,
        info: bollard::models::ContainerInspectResponse,
    ) -> Result<()> {
        if condition == Condition::Healthy && !has_healthcheck(&info) {
            bail!("container {name} has no healthcheck configured, so it can never become healthy");
        }
        let Some(state) = info.state else { return Ok(()) };
        let mut map = lock(&self.state);
        let entry = map.entry(id.to_owned()).or_default();
        let running = state.running.unwrap_or(false);
        let started = running || state.started_at.as_deref().is_some_and(|t| !t.starts_with("0001-"));
        entry.started |= started;
        entry.running |= running;
        if let Some(health) = state.health.and_then(|h| h.status) {
            match health {
                HealthStatusEnum::HEALTHY => entry.healthy = Some(true),
                HealthStatusEnum::UNHEALTHY => entry.healthy = Some(false),
                _ => {}
            }
        }
        if started && !running && entry.exit_code.is_none() {
            entry.exit_code = state.exit_code;
        }
        Ok(())
    }
}

async fn inspect(docker: &Docker, id: &str, name: &str) -> Result<bollard::models::ContainerInspectResponse> {
    docker
        .inspect_container(id, None)
        .await
        .with_context(|| format!("inspecting container {name}"))
}

/// `wait` bounded by `timeout` (none: unbounded), with the message naming what was not reached.
async fn within(
    timeout: Option<Duration>,
    name: &str,
    condition: Condition,
    wait: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    match timeout {
        Some(limit) => tokio::time::timeout(limit, wait).await.with_context(|| {
            format!(
                "container {name} did not reach {} within {}s",
                condition.as_str(),
                limit.as_secs()
            )
        })?,
        None => wait.await,
    }
}

fn ready_condition(info: &bollard::models::ContainerInspectResponse) -> Condition {
    if has_healthcheck(info) {
        Condition::Healthy
    } else {
        Condition::Started
    }
}

/// True when the container runs a healthcheck (its own or its image's).
pub fn has_healthcheck(info: &bollard::models::ContainerInspectResponse) -> bool {
    let test = info
        .config
        .as_ref()
        .and_then(|c| c.healthcheck.as_ref())
        .and_then(|h| h.test.as_ref());
    matches!(test, Some(t) if !t.is_empty() && t[0] != "NONE")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Some(outcome) once the condition is decided, None while still pending.
fn check(seen: &Observed, name: &str, condition: Condition) -> Option<Result<()>> {
    match condition {
        Condition::Started if seen.started => Some(Ok(())),
        Condition::Healthy if seen.healthy == Some(true) => Some(Ok(())),
        Condition::Healthy if seen.healthy == Some(false) => Some(Err(anyhow::anyhow!(
            "dependency failed to start: container {name} is unhealthy"
        ))),
        Condition::Healthy if seen.started && !seen.running && seen.exit_code.is_some() => Some(Err(anyhow::anyhow!(
            "dependency failed to start: container {name} exited ({}) before it was healthy",
            seen.exit_code.unwrap_or(-1)
        ))),
        Condition::CompletedSuccessfully => match seen.exit_code {
            Some(0) if !seen.running => Some(Ok(())),
            Some(code) if !seen.running => Some(Err(anyhow::anyhow!(
                "service {name} didn't complete successfully: exit {code}"
            ))),
            _ => None,
        },
        _ if seen.destroyed => Some(Err(anyhow::anyhow!(
            "container {name} was removed while waiting for it"
        ))),
        _ => None,
    }
}

fn to_container_event(msg: &EventMessage) -> Option<ContainerEvent> {
    if msg.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return None;
    }
    let actor = msg.actor.as_ref()?;
    let attrs = actor.attributes.clone();
    Some(ContainerEvent {
        id: actor.id.clone()?,
        action: msg.action.clone()?,
        exit_code: labels::get(&attrs, "exitCode").and_then(|c| c.parse().ok()),
        stream_error: None,
    })
}

/// Applies one event to the folded state.
fn fold(map: &mut HashMap<String, Observed>, ev: &ContainerEvent) {
    let entry = map.entry(ev.id.clone()).or_default();
    let action = ev.action.as_str();
    match action {
        "start" | "restart" | "unpause" => {
            entry.started = true;
            entry.running = true;
            entry.exit_code = None;
        }
        "die" => {
            entry.running = false;
            entry.exit_code = Some(ev.exit_code.unwrap_or(-1));
        }
        "destroy" => entry.destroyed = true,
        _ if action.starts_with("health_status") => {
            if action.ends_with("unhealthy") {
                entry.healthy = Some(false);
            } else if action.ends_with("healthy") {
                entry.healthy = Some(true);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str, code: Option<i64>) -> ContainerEvent {
        ContainerEvent {
            id: "c1".into(),
            action: action.into(),
            exit_code: code,
            stream_error: None,
        }
    }

    #[test]
    fn folding_and_conditions() {
        let mut map = HashMap::new();
        fold(&mut map, &ev("start", None));
        let seen = map["c1"].clone();
        assert!(check(&seen, "c", Condition::Started).unwrap().is_ok());
        assert!(check(&seen, "c", Condition::Healthy).is_none());
        fold(&mut map, &ev("health_status: healthy", None));
        assert!(check(&map["c1"], "c", Condition::Healthy).unwrap().is_ok());
        fold(&mut map, &ev("die", Some(3)));
        let err = check(&map["c1"], "c", Condition::CompletedSuccessfully)
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("exit 3"));
        fold(&mut map, &ev("health_status: unhealthy", None));
        assert!(check(&map["c1"], "c", Condition::Healthy).unwrap().is_err());
    }
}
