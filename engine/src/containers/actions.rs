//! What happens to a container (Docker's event actions) and the event the container service broadcasts.

/// What happened to a container (Docker's event actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Created.
    Create,
    /// Started.
    Start,
    /// Its process ended.
    Die,
    /// Stopped by a user.
    Stop,
    /// Signalled.
    Kill,
    /// Paused.
    Pause,
    /// Unpaused.
    Unpause,
    /// Renamed.
    Rename,
    /// Resources or restart policy changed.
    Update,
    /// Removed.
    Destroy,
}

impl Action {
    /// Docker's action name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Start => "start",
            Action::Die => "die",
            Action::Stop => "stop",
            Action::Kill => "kill",
            Action::Pause => "pause",
            Action::Unpause => "unpause",
            Action::Rename => "rename",
            Action::Update => "update",
            Action::Destroy => "destroy",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// Container id.
    pub id: String,
    /// What happened.
    pub action: Action,
    /// Exit code for `Die`.
    pub exit_code: Option<i64>,
    /// Unix time in nanoseconds.
    pub time_nano: i64,
}

impl ContainerEvent {
    /// An event happening now.
    pub fn new(id: &str, action: Action, exit_code: Option<i64>) -> Self {
        let time_nano = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        ContainerEvent {
            id: id.to_owned(),
            action,
            exit_code,
            time_nano,
        }
    }
}
