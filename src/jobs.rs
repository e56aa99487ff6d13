//! Background jobs: run work on a worker thread, stream typed events back over a channel,
//! honour a cancel flag, and always end with exactly one `Finished` event, even on panic.
//!
//! This module knows nothing of any stage. A stage's work function receives a
//! [`JobContext`], reports through it, and checks [`JobContext::is_cancelled`] often (at
//! least every 100 ms of work). The face that spawned the job (window or CLI) drains events
//! with [`JobHandle::poll`]; the `notify` callback (the window passes
//! `ctx.request_repaint()`) runs after every event so an idle UI wakes up to draw it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

/// How far a job has come.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub msg: String,
}

impl Progress {
    /// Fraction done in [0, 1]; 0 when the total is unknown.
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            (self.done as f64 / self.total as f64).clamp(0.0, 1.0) as f32
        }
    }
}

/// Why a job did not produce a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
    #[error("the job crashed: {0}")]
    Panicked(String),
}

impl JobError {
    /// A failure carrying an error's whole chain of causes as one line.
    pub fn failed(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut msg = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            msg.push_str(": ");
            msg.push_str(&cause.to_string());
            source = cause.source();
        }
        JobError::Failed(msg)
    }
}

/// One message from a job to whoever watches it.
#[derive(Debug)]
pub enum JobEvent<E, R> {
    Progress(Progress),
    /// A stage-specific event (a GAN step, a finished thumbnail, ...).
    Stage(E),
    Finished(Result<R, JobError>),
}

/// A shared cancel flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What stage code reports through. Implemented by [`JobContext`] for the window and by
/// simple printers for the CLI, so stage code does not care who is watching.
pub trait Reporter: Sync {
    fn progress(&self, done: u64, total: u64, msg: &str);
    fn is_cancelled(&self) -> bool;
    /// `Err(JobError::Cancelled)` once cancel was asked for: `ctx.check_cancel()?`.
    fn check_cancel(&self) -> Result<(), JobError> {
        if self.is_cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// A reporter that ignores progress and is never cancelled.
pub struct Silent;

impl Reporter for Silent {
    fn progress(&self, _done: u64, _total: u64, _msg: &str) {}
    fn is_cancelled(&self) -> bool {
        false
    }
}

type Notify = Arc<dyn Fn() + Send + Sync>;

/// The worker's side of a job.
pub struct JobContext<E, R> {
    tx: Sender<JobEvent<E, R>>,
    cancel: CancelToken,
    notify: Notify,
}

impl<E, R> JobContext<E, R> {
    fn send(&self, event: JobEvent<E, R>) {
        // The watcher may have gone away (window closed); the job simply runs to its end.
        let _ = self.tx.send(event);
        (self.notify)();
    }

    /// Sends a stage-specific event.
    pub fn emit(&self, event: E) {
        self.send(JobEvent::Stage(event));
    }

    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }
}

impl<E: Send, R: Send> Reporter for JobContext<E, R> {
    fn progress(&self, done: u64, total: u64, msg: &str) {
        self.send(JobEvent::Progress(Progress {
            done,
            total,
            msg: msg.to_string(),
        }));
    }
    fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// The watcher's side of a job.
pub struct JobHandle<E, R> {
    title: String,
    rx: Receiver<JobEvent<E, R>>,
    cancel: CancelToken,
    latest: Option<Progress>,
    outcome: Option<Result<R, JobError>>,
    thread: Option<JoinHandle<()>>,
}

/// Starts `work` on a new named thread.
pub fn spawn<E, R, F>(
    title: impl Into<String>,
    notify: impl Fn() + Send + Sync + 'static,
    work: F,
) -> JobHandle<E, R>
where
    E: Send + 'static,
    R: Send + 'static,
    F: FnOnce(&JobContext<E, R>) -> Result<R, JobError> + Send + 'static,
{
    let title = title.into();
    let (tx, rx) = crossbeam_channel::unbounded();
    let cancel = CancelToken::default();
    let ctx = JobContext {
        tx,
        cancel: cancel.clone(),
        notify: Arc::new(notify),
    };
    let thread = std::thread::Builder::new()
        .name(format!("job: {title}"))
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| work(&ctx)))
                .unwrap_or_else(|payload| Err(JobError::Panicked(panic_message(&*payload))));
            ctx.send(JobEvent::Finished(result));
        });
    let (thread, outcome) = match thread {
        Ok(t) => (Some(t), None),
        Err(e) => (
            None,
            Some(Err(JobError::Failed(format!(
                "could not start a thread: {e}"
            )))),
        ),
    };
    JobHandle {
        title,
        rx,
        cancel,
        latest: None,
        outcome,
        thread,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

impl<E, R> JobHandle<E, R> {
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Asks the job to stop; it ends with `Err(JobError::Cancelled)` soon after.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn is_cancel_requested(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The most recent progress report seen by `poll`.
    pub fn progress(&self) -> Option<&Progress> {
        self.latest.as_ref()
    }

    /// Drains the events that have arrived, without blocking. Returns the stage events in
    /// order; progress is remembered in [`Self::progress`], the outcome in
    /// [`Self::take_outcome`].
    pub fn poll(&mut self) -> Vec<E> {
        let mut stage = Vec::new();
        for event in self.rx.try_iter() {
            match event {
                JobEvent::Progress(p) => self.latest = Some(p),
                JobEvent::Stage(e) => stage.push(e),
                JobEvent::Finished(r) => self.outcome = Some(r),
            }
        }
        stage
    }

    /// Blocks until the next event (for the CLI and tests); `None` once the job has ended.
    pub fn recv(&mut self) -> Option<JobEvent<E, R>> {
        if self.outcome.is_some() {
            return None;
        }
        self.rx.recv().ok()
    }

    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// The job's result once it has finished (taken once).
    pub fn take_outcome(&mut self) -> Option<Result<R, JobError>> {
        let outcome = self.outcome.take()?;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        Some(outcome)
    }

    /// Blocks until the job ends, dropping its stage events; returns its result.
    pub fn wait(mut self) -> Result<R, JobError> {
        while self.outcome.is_none() {
            match self.rx.recv() {
                Ok(JobEvent::Progress(p)) => self.latest = Some(p),
                Ok(JobEvent::Stage(_)) => {}
                Ok(JobEvent::Finished(r)) => self.outcome = Some(r),
                Err(_) => {
                    self.outcome = Some(Err(JobError::Panicked(
                        "the job ended without a result".into(),
                    )))
                }
            }
        }
        self.take_outcome()
            .unwrap_or(Err(JobError::Panicked("no outcome".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn progress_arrives_in_order_then_result() {
        let mut job = spawn::<(), u32, _>(
            "count",
            || {},
            |ctx| {
                for i in 1..=50 {
                    ctx.progress(i, 50, "counting");
                }
                Ok(7)
            },
        );
        let mut seen = Vec::new();
        let mut result = None;
        while let Some(event) = job.recv() {
            match event {
                JobEvent::Progress(p) => seen.push(p.done),
                JobEvent::Stage(()) => {}
                JobEvent::Finished(r) => {
                    result = Some(r);
                    break;
                }
            }
        }
        assert_eq!(seen, (1..=50).collect::<Vec<_>>());
        assert_eq!(result, Some(Ok(7)));
    }

    #[test]
    fn cancel_stops_within_100_ms() {
        let job = spawn::<(), (), _>(
            "spin",
            || {},
            |ctx| loop {
                ctx.check_cancel()?;
                std::thread::sleep(Duration::from_millis(5));
            },
        );
        std::thread::sleep(Duration::from_millis(50));
        let asked = Instant::now();
        job.cancel();
        let result = job.wait();
        assert_eq!(result, Err(JobError::Cancelled));
        assert!(
            asked.elapsed() < Duration::from_millis(100),
            "{:?}",
            asked.elapsed()
        );
    }

    #[test]
    fn a_panicking_job_reports_an_error() {
        let job = spawn::<(), (), _>("boom", || {}, |_ctx| panic!("tensor shapes disagree"));
        match job.wait() {
            Err(JobError::Panicked(msg)) => assert!(msg.contains("tensor shapes"), "{msg}"),
            other => panic!("expected a panic report, got {other:?}"),
        }
    }

    #[test]
    fn notify_runs_for_every_event() {
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        let job = spawn::<u8, (), _>(
            "notify",
            move || {
                seen.fetch_add(1, Ordering::SeqCst);
            },
            |ctx| {
                ctx.progress(1, 2, "half");
                ctx.emit(3);
                Ok(())
            },
        );
        job.wait().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }
}
