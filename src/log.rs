//! Where the library's messages go. By default nowhere: a library inside a game must not write to the game's
//! stderr. The host may install a sink (the C ABI's dinof_set_log_callback). Panics caught inside dinof (bugs) are
//! routed here too instead of Rust's default hook, which prints a backtrace to stderr.

use std::cell::Cell;
use std::sync::{Arc, Once, RwLock};

/// Severity; a sink receives messages at or below its maximum level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

pub type Sink = Arc<dyn Fn(Level, &str) + Send + Sync>;

static SINK: RwLock<Option<(Sink, Level)>> = RwLock::new(None);

/// Installs (or with None removes) the sink, receiving levels up to `max`.
pub fn set_sink(sink: Option<Sink>, max: Level) {
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = sink.map(|s| (s, max));
}

/// Sends a message to the sink, if one is installed and wants this level.
pub fn log(level: Level, message: &str) {
    // Clone the sink and release the lock before calling it: the sink may itself call into dinof.
    let sink = SINK
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .filter(|(_, max)| level <= *max)
        .map(|(s, _)| s.clone());
    if let Some(s) = sink {
        s(level, message);
    }
}

thread_local! {
    /// > 0 while this thread runs dinof code: inside a C entry point, or a thread dinof started.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// For threads dinof owns for their whole life.
pub fn mark_dinof_thread() {
    install_panic_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
}

/// Marks the current thread as running dinof code until dropped.
pub struct Inside(());

impl Inside {
    pub fn enter() -> Inside {
        install_panic_hook();
        DEPTH.with(|d| d.set(d.get() + 1));
        Inside(())
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Chains a panic hook, once per process: panics while dinof code runs go to the log sink (they are caught at the
/// boundary and returned as DINOF_STATUS_PANIC); any other panic goes to the hook that was there before.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.try_with(|d| d.get() > 0).unwrap_or(false) {
                log(Level::Error, &format!("panic inside dinof (a bug, please report it): {info}"));
            } else {
                previous(info);
            }
        }));
    });
}
