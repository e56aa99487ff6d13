//! A result that follows settings as they change: once the settings (the key) have stayed put
//! for a moment, a worker works the result out; a worker whose key the settings have left is
//! cancelled; the newest result stays on screen while the next one is worked out. The Train
//! tab's run estimate and the Export tab's preview are two of these.

use std::time::{Duration, Instant};

use crate::jobs::{JobError, JobHandle};

pub struct Follow<K, R> {
    /// The last result and the key it was worked out for.
    shown: Option<(K, Result<R, String>)>,
    job: Option<(K, JobHandle<(), R>)>,
    /// A key waiting to settle, and since when.
    pending: Option<(K, Instant)>,
    settle: Duration,
}

/// How long settings must stay put before a [`Follow`] made by `default` works them out.
const SETTLE: Duration = Duration::from_millis(500);

impl<K, R> Default for Follow<K, R> {
    fn default() -> Self {
        Follow {
            shown: None,
            job: None,
            pending: None,
            settle: SETTLE,
        }
    }
}

impl<K: Clone + PartialEq, R: Send + 'static> Follow<K, R> {
    /// Works a key out once it has stayed unchanged for `settle`.
    pub fn new(settle: Duration) -> Self {
        Follow {
            shown: None,
            job: None,
            pending: None,
            settle,
        }
    }

    /// Runs every frame with the key the settings make now (`None`: nothing wanted now).
    /// Collects a finished worker, cancels one whose key was left, and calls `start` for a
    /// key that has settled and has no result yet.
    pub fn logic(
        &mut self,
        ctx: &egui::Context,
        key: Option<K>,
        start: impl FnOnce(&K) -> JobHandle<(), R>,
    ) {
        self.collect(key.as_ref());
        let Some(key) = key else {
            self.pending = None;
            return;
        };
        let done = self.shown.as_ref().is_some_and(|(k, _)| *k == key)
            || self.job.as_ref().is_some_and(|(k, _)| *k == key);
        if done {
            self.pending = None;
            return;
        }
        match &self.pending {
            Some((k, since)) if *k == key => {
                let waited = since.elapsed();
                if waited < self.settle {
                    ctx.request_repaint_after(self.settle - waited);
                } else if self.job.is_none() {
                    self.pending = None;
                    let job = start(&key);
                    self.job = Some((key, job));
                }
            }
            _ => {
                self.pending = Some((key, Instant::now()));
                ctx.request_repaint_after(self.settle);
            }
        }
    }

    fn collect(&mut self, key: Option<&K>) {
        let Some((job_key, job)) = &mut self.job else {
            return;
        };
        job.poll();
        if key != Some(&*job_key) {
            job.cancel();
        }
        let Some(outcome) = job.take_outcome() else {
            return;
        };
        let job_key = job_key.clone();
        self.job = None;
        let result = match outcome {
            Ok(result) => Ok(result),
            // Cancelled because the settings moved on: nothing to show for it.
            Err(JobError::Cancelled) if key != Some(&job_key) => return,
            Err(e) => Err(e.to_string()),
        };
        self.shown = Some((job_key, result));
    }

    /// The result for `key`, if it has been worked out.
    pub fn for_key(&self, key: &K) -> Option<&Result<R, String>> {
        let (shown, result) = self.shown.as_ref()?;
        (shown == key).then_some(result)
    }

    /// The newest result, whichever key it was for.
    pub fn latest(&self) -> Option<&Result<R, String>> {
        self.shown.as_ref().map(|(_, result)| result)
    }

    /// Whether a key is waiting to settle or being worked out.
    pub fn is_working(&self) -> bool {
        self.job.is_some() || self.pending.is_some()
    }

    /// The worker, while one runs.
    pub fn job(&self) -> Option<&JobHandle<(), R>> {
        self.job.as_ref().map(|(_, job)| job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Reporter;

    fn settle(ctx: &egui::Context, follow: &mut Follow<u32, u32>, key: Option<u32>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            follow.logic(ctx, key, |&k| {
                crate::jobs::spawn(
                    "double",
                    || {},
                    move |job| {
                        job.check_cancel()?;
                        Ok(k * 2)
                    },
                )
            });
            if !follow.is_working() || Instant::now() > deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_settled_key_is_worked_out_once_and_a_new_key_replaces_it() {
        let ctx = egui::Context::default();
        let mut follow = Follow::new(Duration::from_millis(20));
        follow.logic(&ctx, Some(3), |_| unreachable!("not settled yet"));
        assert!(follow.is_working());
        assert!(follow.for_key(&3).is_none());
        settle(&ctx, &mut follow, Some(3));
        assert_eq!(follow.for_key(&3), Some(&Ok(6)));
        // Settled: the same key starts nothing more.
        follow.logic(&ctx, Some(3), |_| panic!("worked out twice"));
        assert!(!follow.is_working());
        settle(&ctx, &mut follow, Some(5));
        assert_eq!(follow.for_key(&5), Some(&Ok(10)));
        assert_eq!(follow.for_key(&3), None);
        assert_eq!(follow.latest(), Some(&Ok(10)));
        // Nothing wanted: nothing pending, the last result kept.
        follow.logic(&ctx, None, |_| panic!("nothing wanted"));
        assert!(!follow.is_working());
        assert_eq!(follow.latest(), Some(&Ok(10)));
    }
}
