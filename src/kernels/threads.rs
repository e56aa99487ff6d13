//! Sharing the cores: with Candle's own worker threads, and among independent jobs.
//!
//! Candle runs its CPU elementwise ops (the gradient sums of every backward pass among them) on
//! a barrier pool of its own, whose workers spin 25,000 times after each op before they sleep.
//! The kernels here run on rayon's pool, on the same cores, and usually right after such an op:
//! on a 2-core machine the spinning worker takes a core from the next convolution. A spin of
//! 100 lets it sleep at once; the 32x32 training iteration ran 6% faster that way (0.356 vs
//! 0.378 s, four alternating pairs of `cargo bench --bench training -- --no-torch --row 3
//! --no-layers`, with and without `CANDLE_BARRIER_POOL_SPIN_LIMIT=100`).

/// Candle's environment variable for the spin, read when its pool starts.
const SPIN_LIMIT_VARIABLE: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
const SPIN_LIMIT: &str = "100";

/// Shortens the spin of Candle's pool workers, unless the user chose one.
///
/// # Safety
/// Sets an environment variable: call it first thing in `main`, while no other thread runs
/// (Candle reads it when its pool starts, on first use).
pub unsafe fn shorten_candle_spin() {
    if std::env::var_os(SPIN_LIMIT_VARIABLE).is_none() {
        // SAFETY: the caller guarantees no other thread reads or writes the environment.
        unsafe { std::env::set_var(SPIN_LIMIT_VARIABLE, SPIN_LIMIT) };
    }
}

/// `work` run on a thread of the current rayon pool, the caller waiting for it: the kernels
/// `work` calls then start on that thread at once. A kernel called from outside the pool waits
/// for a pool thread to wake, take it and wake the caller again, twice a layer: in the person
/// detector that was a fifth of an image's time on one core. Inside the pool `work` runs in
/// place.
pub fn on_pool_thread<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}

/// `work` on each item, the items side by side, each on one core: a worker per core pulls the
/// next item and runs it inside a rayon pool of one thread, so the kernels inside `work` do not
/// split it further. For many small, independent jobs (a batch of images through a network) this
/// spends the cores on the work rather than on handing each layer's pieces between threads.
/// One item, or one core, runs with the current pool as it is, [`on_pool_thread`]. Results come
/// back in the items' order.
pub fn each_on_one_core<T, R, F>(items: &[T], work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let workers = rayon::current_num_threads().min(items.len());
    if workers <= 1 {
        return items
            .iter()
            .map(|item| on_pool_thread(|| work(item)))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let run = |finished: &mut Vec<(usize, R)>| loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(index) else { break };
                        finished.push((index, work(item)));
                    };
                    let mut finished = Vec::new();
                    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                        Ok(pool) => pool.install(|| run(&mut finished)),
                        // Without a pool of its own the worker still runs its share.
                        Err(_) => run(&mut finished),
                    }
                    finished
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| match handle.join() {
                Ok(finished) => finished,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_in_order_each_on_a_pool_of_one() {
        let items: Vec<usize> = (0..37).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a pool of three");
        let results =
            pool.install(|| each_on_one_core(&items, |&i| (i * i, rayon::current_num_threads())));
        let squares: Vec<usize> = results.iter().map(|(square, _)| *square).collect();
        assert_eq!(squares, items.iter().map(|i| i * i).collect::<Vec<_>>());
        assert!(results.iter().all(|(_, threads)| *threads == 1));
    }

    #[test]
    fn one_item_runs_on_a_thread_of_the_pool_as_it_is() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool of two");
        let seen = pool.install(|| {
            each_on_one_core(&[()], |_| {
                (rayon::current_num_threads(), rayon::current_thread_index())
            })
        });
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, 2);
        assert!(seen[0].1.is_some(), "ran on a pool thread");
        let from_outside = each_on_one_core(&[()], |_| rayon::current_thread_index());
        assert!(
            from_outside[0].is_some(),
            "started on a pool thread from outside too"
        );
    }
}
