//! Progress of pulls and pushes, as Docker's JSON messages (`status`, `progressDetail`, `progress`, `id`).

use serde::Serialize;
use tokio::sync::mpsc;

/// One progress message, shaped like dockerd's `jsonmessage.JSONMessage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProgressMessage {
    /// What happens (`Downloading`, `Pull complete`, `Digest: ...`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Byte counts, present (maybe empty) on per-layer lines.
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub detail: Option<ProgressDetail>,
    /// A text progress bar (`[==>   ] 1.2MB/3.4MB`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub progress: String,
    /// The layer's short id, or the tag for the header line.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Push results (`{"Tag","Digest","Size"}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

/// Byte progress of one layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProgressDetail {
    /// Bytes done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    /// Bytes in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// Where progress goes; sending never fails (a gone reader just stops receiving).
#[derive(Debug, Clone)]
pub struct Progress {
    tx: Option<mpsc::UnboundedSender<ProgressMessage>>,
}

impl Progress {
    /// A sink and the stream of its messages.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<ProgressMessage>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Progress { tx: Some(tx) }, rx)
    }

    /// A sink that drops everything.
    pub fn none() -> Self {
        Progress { tx: None }
    }

    /// Sends a message.
    pub fn send(&self, m: ProgressMessage) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(m);
        }
    }

    /// A line without id (`Digest: ...`, `Status: ...`).
    pub fn status(&self, status: impl Into<String>) {
        self.send(ProgressMessage {
            status: status.into(),
            ..Default::default()
        });
    }

    /// A per-layer status line with no byte counts (`Pulling fs layer`, `Pull complete`).
    pub fn layer(&self, id: &str, status: &str) {
        self.send(ProgressMessage {
            status: status.into(),
            detail: Some(ProgressDetail::default()),
            id: id.into(),
            ..Default::default()
        });
    }

    /// A header line with an id (`Pulling from library/busybox` with id `latest`).
    pub fn header(&self, id: &str, status: impl Into<String>) {
        self.send(ProgressMessage {
            status: status.into(),
            id: id.into(),
            ..Default::default()
        });
    }

    /// A per-layer byte progress line (`Downloading`, `Extracting`, `Pushing`).
    pub fn bytes(&self, id: &str, status: &str, current: u64, total: u64) {
        self.send(ProgressMessage {
            status: status.into(),
            detail: Some(ProgressDetail {
                current: Some(current),
                total: (total > 0).then_some(total),
            }),
            progress: bar(current, total),
            id: id.into(),
            aux: None,
        });
    }
}

/// Docker's text bar: 50 columns of `=` with a `>` head, then `current/total` in human units.
pub fn bar(current: u64, total: u64) -> String {
    if total == 0 {
        return human(current);
    }
    let width = 50u64;
    let filled = (current.min(total) * width / total) as usize;
    let mut s = String::from("[");
    s.push_str(&"=".repeat(filled.saturating_sub(1)));
    if filled > 0 {
        s.push(if filled as u64 == width { '=' } else { '>' });
    }
    s.push_str(&" ".repeat(width as usize - filled));
    s.push_str(&format!("] {}/{}", human(current), human(total)));
    s
}

/// Decimal units as docker prints them (`1.2MB`).
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.3}{}", UNITS[u]).replace(".000", "")
    }
}

/// The 12-hex short form of a digest, as layer ids appear in progress lines.
pub fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex[..12.min(hex.len())].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_look_like_dockers() {
        let (p, mut rx) = Progress::channel();
        p.bytes("abc", "Downloading", 500, 1000);
        p.layer("abc", "Pull complete");
        let m = rx.try_recv().unwrap();
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(j["progressDetail"]["current"], 500);
        assert_eq!(j["id"], "abc");
        assert!(j["progress"]
            .as_str()
            .unwrap()
            .starts_with("[========================>"));
        let j = serde_json::to_value(rx.try_recv().unwrap()).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"status":"Pull complete","progressDetail":{},"id":"abc"})
        );
        assert_eq!(human(1_234_567), "1.235MB");
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
    }
}
