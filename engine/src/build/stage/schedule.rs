//! Stage scheduling: each needed stage starts once the stages it uses are built, independent ones at the same
//! time; their progress is forwarded in stage order.

use super::{Builder, Done, StageDef, StepResult};
use crate::build::{Out, Progress};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;

impl Builder {
    /// Builds the `needed` stages (numbering their steps from `first`), each as soon as the stages it uses are built. After a failure no new stage
    /// starts but the running ones finish (so none leaves a build container or mount behind); the first
    /// failure in stage order is the answer.
    pub(super) async fn run_stages(&self, stages: &[StageDef], needed: &[bool], first: usize) -> StepResult<Done> {
        let n = stages.len();
        let deps: Vec<Vec<usize>> = (0..n).map(|i| self.deps(stages, i)).collect();
        let (mut senders, receivers): (Vec<_>, Vec<_>) = (0..n)
            .map(|i| {
                let (tx, rx) = mpsc::unbounded_channel();
                (needed[i].then_some(tx), rx)
            })
            .unzip();
        let forward = tokio::spawn(forward(receivers, self.tx.clone()));
        let mut first_step = vec![0; n];
        let mut next = first;
        for i in (0..n).filter(|i| needed[*i]) {
            first_step[i] = next;
            next += 1 + stages[i].body.len();
        }
        let mut done: Done = vec![None; n];
        let mut failed: Option<(usize, String)> = None;
        let mut running = FuturesUnordered::new();
        loop {
            for i in 0..n {
                let ready = deps[i].iter().all(|d| done[*d].is_some());
                if failed.is_none() && ready {
                    if let Some(tx) = senders[i].take() {
                        let out = Out::new(tx, self.opts.quiet);
                        let snapshot = done.clone();
                        let first = first_step[i];
                        running.push(async move { (i, self.run_stage(stages, i, snapshot, out, first).await) });
                    }
                }
            }
            match running.next().await {
                None => break,
                Some((i, Ok(img))) => done[i] = Some(img),
                Some((i, Err(e))) => {
                    if failed.as_ref().is_none_or(|(j, _)| i < *j) {
                        failed = Some((i, e));
                    }
                }
            }
        }
        drop(senders);
        let _ = forward.await;
        match failed {
            Some((_, e)) => Err(e),
            None => Ok(done),
        }
    }
}

/// Sends each stage's progress to the client, stage after stage (a stage's lines wait for the stages before it).
async fn forward(receivers: Vec<mpsc::UnboundedReceiver<Progress>>, tx: mpsc::Sender<Progress>) {
    for mut rx in receivers {
        while let Some(p) = rx.recv().await {
            let _ = tx.send(p).await;
        }
    }
}
