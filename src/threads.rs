//! Every thread dinof starts (job threads, tract's worker pools) is registered here, so that `join_all` (the C
//! ABI's dinof_shutdown) can wait for all of them before the host unloads the library.

use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

static THREADS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

fn list() -> std::sync::MutexGuard<'static, Vec<JoinHandle<()>>> {
    THREADS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps `h` until `join_all`; threads that already ended are joined now, so the list stays short.
pub fn register(h: JoinHandle<()>) {
    let finished: Vec<JoinHandle<()>> = {
        let mut l = list();
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut *l).into_iter().partition(|h| h.is_finished());
        *l = running;
        l.push(h);
        done
    };
    for h in finished {
        let _ = h.join();
    }
}

/// rayon's spawn handler: a worker thread of ours, marked as a dinof thread (panics go to the log, not stderr).
#[cfg(feature = "tract")]
pub fn spawn_pool_worker(thread: rayon::ThreadBuilder) -> std::io::Result<()> {
    let mut b = std::thread::Builder::new();
    if let Some(name) = thread.name() {
        b = b.name(name.to_string());
    }
    if let Some(size) = thread.stack_size() {
        b = b.stack_size(size);
    }
    let h = b.spawn(move || {
        crate::log::mark_dinof_thread();
        thread.run()
    })?;
    register(h);
    Ok(())
}

/// Joins every registered thread, waiting until `deadline` (None = forever). Returns false when some were still
/// running at the deadline (they stay registered).
pub fn join_all(deadline: Option<Instant>) -> bool {
    loop {
        let done: Vec<JoinHandle<()>> = {
            let mut l = list();
            let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut *l).into_iter().partition(|h| h.is_finished());
            *l = running;
            done
        };
        for h in done {
            let _ = h.join();
        }
        if list().is_empty() {
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Threads registered and not yet joined.
pub fn count() -> usize {
    list().len()
}
