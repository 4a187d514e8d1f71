//! Worker threads that run jobs in parallel and hand their results back in the order the
//! jobs were submitted: the analysis floor parses and digests a capture on every core while
//! what counts stays in capture order.
//!
//! One set of workers, one per core, serves every [`InOrder`] queue of the process (parsing
//! and digesting share it), started on first use. Jobs never wait for one another, so
//! sharing cannot deadlock.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

type Job = Box<dyn FnOnce() + Send>;
type Outcome<R> = thread::Result<R>;

/// Jobs whose results come back in submission order.
pub(crate) struct InOrder<R> {
    jobs: &'static Sender<Job>,
    results: VecDeque<Receiver<Outcome<R>>>,
}

/// The queue of the process's workers, started on first use: one per core, at least two (so
/// that the thread that submits and consumes never waits on a single worker).
fn workers() -> &'static Sender<Job> {
    static WORKERS: OnceLock<Sender<Job>> = OnceLock::new();
    WORKERS.get_or_init(|| {
        let workers = thread::available_parallelism().map_or(2, |n| n.get().max(2));
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..workers {
            let queue = Arc::clone(&queue);
            thread::spawn(move || work(&queue));
        }
        jobs
    })
}

impl<R: Send + 'static> InOrder<R> {
    pub(crate) fn new() -> Self {
        Self {
            jobs: workers(),
            results: VecDeque::new(),
        }
    }

    /// Queues `job`; its result comes out of [`InOrder::next`] after those of every job
    /// submitted before it.
    pub(crate) fn submit(&mut self, job: impl FnOnce() -> R + Send + 'static) {
        let (done, result) = mpsc::sync_channel(1);
        self.results.push_back(result);
        let job: Job = Box::new(move || send(&done, panic::catch_unwind(AssertUnwindSafe(job))));
        // The workers live as long as the process, so sending cannot fail.
        let _ = self.jobs.send(job);
    }

    /// Jobs submitted whose results have not been taken yet.
    pub(crate) fn pending(&self) -> usize {
        self.results.len()
    }

    /// The result of the oldest job not taken yet, waiting for it; `None` when none is
    /// pending.
    ///
    /// # Panics
    /// When the job panicked: its panic goes on in the caller's thread.
    pub(crate) fn next(&mut self) -> Option<R> {
        let result = self.results.pop_front()?;
        match result.recv().expect("a worker sends every job's outcome") {
            Ok(value) => Some(value),
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

fn send<R>(done: &SyncSender<Outcome<R>>, outcome: Outcome<R>) {
    // The pool may have been dropped with the result no longer wanted.
    let _ = done.send(outcome);
}

/// A worker: runs queued jobs.
fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let Ok(queue) = queue.lock() else {
                return;
            };
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_submission_order() {
        let mut pool = InOrder::new();
        for i in 0..50u64 {
            pool.submit(move || {
                thread::sleep(std::time::Duration::from_micros((50 - i) * 20));
                i
            });
        }
        assert_eq!(pool.pending(), 50);
        let got: Vec<u64> = std::iter::from_fn(|| pool.next()).collect();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
        assert_eq!(pool.next(), None);
    }

    #[test]
    fn a_panicking_job_panics_in_the_consumer() {
        let mut pool: InOrder<u8> = InOrder::new();
        pool.submit(|| panic!("boom"));
        let caught = panic::catch_unwind(AssertUnwindSafe(|| pool.next()));
        assert!(caught.is_err());
    }
}
