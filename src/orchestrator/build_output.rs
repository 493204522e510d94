//! A classic-builder progress stream (`Step 2/5 : COPY ...`, ` ---> Using cache`, RUN output) rendered as
//! `docker compose build --progress plain` shows steps: one line per step, its output, `CACHED` or `DONE <time>`;
//! and, when the build fails, an error that names the service, the Dockerfile line and the last output lines.

use std::collections::VecDeque;
use std::time::Instant;

/// How much of a build is shown (`--progress`, `-q`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// Every step, its output and its time.
    #[default]
    Plain,
    /// Nothing but errors.
    Quiet,
}

impl std::str::FromStr for ProgressMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            // berth has no live build view: "auto" and "tty" are the plain one.
            "auto" | "tty" | "plain" => Ok(Self::Plain),
            "quiet" => Ok(Self::Quiet),
            other => Err(format!("--progress {other:?}: expected auto, tty, plain or quiet")),
        }
    }
}

/// Lines of output kept for a failure's message.
const TAIL: usize = 6;

struct Step {
    number: usize,
    label: String,
    text: String,
    started: Instant,
    cached: bool,
}

/// The state of one build's rendering.
pub struct StepLog {
    service: String,
    mode: ProgressMode,
    dockerfile_name: String,
    dockerfile: Vec<String>,
    /// Index in `dockerfile` after the last step found there (steps come in file order).
    cursor: usize,
    step: Option<Step>,
    /// Line of the current step in the Dockerfile (1-based), when found.
    step_line: Option<usize>,
    count: usize,
    cached: usize,
    partial: String,
    tail: VecDeque<String>,
    started: Instant,
}

impl StepLog {
    /// A log for `service`'s build of `dockerfile_text` (shown as `dockerfile_name` in errors).
    pub fn new(service: &str, mode: ProgressMode, dockerfile_name: &str, dockerfile_text: &str) -> Self {
        StepLog {
            service: service.to_owned(),
            mode,
            dockerfile_name: dockerfile_name.to_owned(),
            dockerfile: logical_lines(dockerfile_text),
            cursor: 0,
            step: None,
            step_line: None,
            count: 0,
            cached: 0,
            partial: String::new(),
            tail: VecDeque::new(),
            started: Instant::now(),
        }
    }

    fn print(&self, line: &str) {
        if self.mode == ProgressMode::Plain {
            eprintln!("{line}");
        }
    }

    /// Takes a `stream` chunk (may hold several lines, or part of one).
    pub fn feed(&mut self, chunk: &str) {
        self.partial.push_str(chunk);
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            self.line(line.trim_end_matches(['\n', '\r']));
        }
    }

    fn line(&mut self, line: &str) {
        if let Some((label, text)) = step_header(line) {
            self.end_step();
            self.count += 1;
            self.step_line = self.locate(text);
            self.print(&format!("#{} [{} {label}] {text}", self.count, self.service));
            self.step = Some(Step {
                number: self.count,
                label: label.to_owned(),
                text: text.to_owned(),
                started: Instant::now(),
                cached: false,
            });
            self.tail.clear();
            return;
        }
        let trimmed = line.trim();
        if trimmed == "---> Using cache" {
            if let Some(step) = &mut self.step {
                step.cached = true;
            }
            return;
        }
        if is_builder_chatter(trimmed) {
            return;
        }
        let (number, since) = match &self.step {
            Some(s) => (s.number, s.started.elapsed().as_secs_f64()),
            None => (0, self.started.elapsed().as_secs_f64()),
        };
        self.print(&format!("#{number} {since:.3} {line}"));
        self.tail.push_back(line.to_owned());
        if self.tail.len() > TAIL {
            self.tail.pop_front();
        }
    }

    fn end_step(&mut self) {
        if let Some(step) = self.step.take() {
            if step.cached {
                self.cached += 1;
                self.print(&format!("#{} CACHED", step.number));
            } else {
                self.print(&format!(
                    "#{} DONE {:.1}s",
                    step.number,
                    step.started.elapsed().as_secs_f64()
                ));
            }
        }
    }

    /// The build succeeded: closes the last step and prints the summary line.
    pub fn finish(&mut self, images: &[String]) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.line(&rest);
        }
        self.end_step();
        self.print(&format!(
            " ✔ Service {}  Built {:.1}s ({} steps, {} cached) → {}",
            self.service,
            self.started.elapsed().as_secs_f64(),
            self.count,
            self.cached,
            images.join(", ")
        ));
    }

    /// The engine's error, completed with the service, the step's Dockerfile line and the last output lines.
    pub fn failure(&mut self, engine_message: &str) -> anyhow::Error {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.line(&rest);
        }
        let mut msg = format!("service {:?}: building its image failed", self.service);
        // berth's engine names the line itself (`Dockerfile:7: RUN ...`); dockerd's classic builder does not.
        let located =
            engine_message.contains(&format!("{}:", self.dockerfile_name)) || engine_message.contains("Dockerfile:");
        if let (Some(step), false) = (&self.step, located) {
            match self.step_line {
                Some(n) => msg.push_str(&format!(
                    " at {}:{n} (step {}: {})",
                    self.dockerfile_name, step.label, step.text
                )),
                None => msg.push_str(&format!(" at step {} ({})", step.label, step.text)),
            }
        }
        msg.push_str(&format!(": {}", engine_message.trim()));
        if !self.tail.is_empty() && !engine_message.contains("last output") {
            msg.push_str("\nlast output:");
            for l in &self.tail {
                msg.push_str(&format!("\n  {l}"));
            }
        }
        anyhow::anyhow!(msg)
    }

    /// The 1-based line of the first instruction at or after the cursor whose text is `text`.
    fn locate(&mut self, text: &str) -> Option<usize> {
        let want = squash(text);
        let found = (self.cursor..self.dockerfile.len()).find(|&i| {
            let have = squash(&self.dockerfile[i]);
            !have.is_empty() && (have == want || (have.len() > 8 && want.starts_with(&have)))
        })?;
        self.cursor = found + 1;
        Some(found + 1)
    }
}

/// `Step 2/5 : COPY a b` → (`2/5`, `COPY a b`).
fn step_header(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("Step ")?;
    let (label, text) = rest.split_once(" : ")?;
    label
        .split_once('/')
        .filter(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())?;
    Some((label, text))
}

/// Lines the classic builder prints about its own bookkeeping, which the plain view leaves out.
fn is_builder_chatter(line: &str) -> bool {
    line.starts_with("---> ")
        || line.starts_with("Removing intermediate container")
        || line.starts_with("Successfully built")
        || line.starts_with("Successfully tagged")
        || line.is_empty()
}

/// Whitespace collapsed and the instruction keyword upper-cased, to compare a step with a Dockerfile line.
fn squash(s: &str) -> String {
    let mut words = s.split_whitespace();
    let first = words.next().unwrap_or_default().to_ascii_uppercase();
    std::iter::once(first.as_str())
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One entry per physical line (so indexes are line numbers - 1); a continued instruction is joined onto its
/// first line and its other lines are left empty.
fn logical_lines(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = vec![String::new(); lines.len()];
    let mut start: Option<usize> = None;
    for (i, l) in lines.iter().enumerate() {
        let trimmed = l.trim_end();
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (trimmed, false),
        };
        let at = *start.get_or_insert(i);
        if !out[at].is_empty() {
            out[at].push(' ');
        }
        out[at].push_str(body.trim());
        if !continues {
            start = None;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DF: &str = "FROM busybox\nARG X=1\nCOPY a \\\n  /a\nRUN echo one && \\\n    false\n";

    #[test]
    fn steps_are_found_on_their_lines() {
        let mut log = StepLog::new("web", ProgressMode::Quiet, "Dockerfile", DF);
        log.feed("Step 1/4 : FROM busybox\n ---> 1234567890ab\nStep 2/4 : ARG X=1\n ---> Using cache\n");
        assert_eq!(log.step_line, Some(2));
        log.feed("Step 3/4 : COPY a   /a\nStep 4/4 : RUN echo one &&     false\n ---> Running in abc\non");
        log.feed("e\n");
        assert_eq!(log.step_line, Some(5));
        assert_eq!(log.cached, 1);
        let err = log
            .failure("The command '/bin/sh -c echo one && false' returned a non-zero code: 1")
            .to_string();
        assert!(err.contains("service \"web\""), "{err}");
        assert!(err.contains("Dockerfile:5"), "{err}");
        assert!(err.contains("non-zero code: 1"), "{err}");
        assert!(err.ends_with("last output:\n  one"), "{err}");
    }

    #[test]
    fn an_engine_that_names_the_line_is_not_repeated() {
        let mut log = StepLog::new("api", ProgressMode::Quiet, "Dockerfile", DF);
        log.feed("Step 1/1 : FROM busybox\n");
        let err = log
            .failure("Dockerfile:1: FROM busybox: pull access denied")
            .to_string();
        assert_eq!(
            err,
            "service \"api\": building its image failed: Dockerfile:1: FROM busybox: pull access denied"
        );
    }

    #[test]
    fn progress_modes() {
        assert_eq!("auto".parse::<ProgressMode>().unwrap(), ProgressMode::Plain);
        assert_eq!("quiet".parse::<ProgressMode>().unwrap(), ProgressMode::Quiet);
        assert!("rainbow".parse::<ProgressMode>().is_err());
    }
}
