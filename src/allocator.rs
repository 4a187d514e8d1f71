//! mimalloc's options: phonehome asks it to give freed memory back to the system.
//!
//! With its defaults mimalloc commits its arenas eagerly and purges freed pages late (1 s, and
//! only when some thread allocates or frees again), so a proxy that served a crowd of
//! connections keeps their memory after they closed, and idle RSS is twice what it needs
//! (BENCHMARKS.md, "Crowds"). Every command commits arena memory on demand; the commands that
//! proxy (`run`, `proxy`, `demo`), which live long, also purge freed pages after a short delay
//! ([`PROXY_PURGE_DELAY_MS`]); their runtime workers collect their own heaps when they park
//! (at most every [`PARKED_COLLECT_EVERY`]), and a thread lets mimalloc purge what is due
//! once a second ([`COLLECT_EVERY`]), so memory freed just before the proxy falls idle goes
//! back too.
//! A delay of 0 (purge at once) returns the same memory but makes every buffer freed and
//! allocated again in a bulk transfer fault its page back in (BENCHMARKS.md, "mimalloc's
//! purge delay against bulk throughput"). The analysis commands keep the default purge delay:
//! they end soon, and purging early slows them. An option the environment sets
//! (`MIMALLOC_ARENA_EAGER_COMMIT`, `MIMALLOC_PURGE_DELAY`) wins: mimalloc's
//! `mi_option_set_default` leaves it alone.
//!
//! The commit mode is set before `main`, from the ELF `.init_array`: mimalloc reserves its
//! first arena at the first allocation, which Rust's runtime makes before `main`, and an arena
//! keeps the commit mode it was created with.

use std::cell::Cell;
use std::time::{Duration, Instant};

use libmimalloc_sys::{mi_collect, mi_option_set_default, mi_option_t};

/// `mi_option_arena_eager_commit` in mimalloc 3's `mimalloc.h` (libmimalloc-sys exports no
/// constant for it); 0 commits an arena's memory as it is used.
const ARENA_EAGER_COMMIT: mi_option_t = 4;

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h`: milliseconds from a page's free to
/// its purge; 0 purges at once, mimalloc's default is 1,000.
const PURGE_DELAY: mi_option_t = 15;

/// The purge delay of the commands that proxy, in milliseconds: short enough that a crowd's
/// memory goes back within a second, long enough that a buffer freed and allocated again
/// within one bulk transfer keeps its page.
const PROXY_PURGE_DELAY_MS: std::ffi::c_long = 10;

/// How often the purge thread lets mimalloc purge what is due.
const COLLECT_EVERY: Duration = Duration::from_secs(1);

/// How often, at most, a runtime worker collects its own heap when it parks.
const PARKED_COLLECT_EVERY: Duration = Duration::from_millis(100);

/// Runs [`commit_on_demand`] when the program is loaded, before Rust's runtime allocates.
// SAFETY: the loader calls each `.init_array` entry once, single-threaded, before `main`; the
// entry is an `extern "C" fn()` that takes no arguments, as the loader calls it, and cannot
// unwind (a panic in an `extern "C" fn` aborts).
#[allow(unsafe_code)]
#[used]
#[link_section = ".init_array"]
static COMMIT_ON_DEMAND_AT_LOAD: extern "C" fn() = commit_on_demand;

/// Sets mimalloc to commit arena memory as it is used, unless the environment says otherwise.
extern "C" fn commit_on_demand() {
    set_default(ARENA_EAGER_COMMIT, 0);
}

/// Sets mimalloc to purge freed pages after [`PROXY_PURGE_DELAY_MS`], unless the environment
/// says otherwise, and starts the thread that purges what is due when the process is idle.
/// Call it from `main` before any other thread exists.
///
/// # Errors
///
/// The purge thread could not be started (the option is set all the same).
pub(crate) fn purge_soon() -> std::io::Result<()> {
    set_default(PURGE_DELAY, PROXY_PURGE_DELAY_MS);
    std::thread::Builder::new()
        .name("mimalloc-purge".to_owned())
        .spawn(collect_forever)
        .map(drop)
}

/// Collects the calling thread's mimalloc heap, at most every [`PARKED_COLLECT_EVERY`]: frees
/// its pages whose blocks are all free (blocks other threads freed included) and purges what
/// is scheduled. mimalloc frees a thread's empty pages only when that thread allocates again,
/// so a runtime worker that parks once its crowd has left would keep them; tokio calls this
/// when a worker is about to park (`on_thread_park`).
pub(crate) fn collect_when_parked() {
    thread_local! {
        static LAST_COLLECT: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    let due = LAST_COLLECT.with(|last| {
        let due = last
            .get()
            .is_none_or(|at| now.duration_since(at) >= PARKED_COLLECT_EVERY);
        if due {
            last.set(Some(now));
        }
        due
    });
    if due {
        collect(true);
    }
}

/// Asks mimalloc every [`COLLECT_EVERY`] to purge the freed pages whose delay has passed.
/// mimalloc purges only when some thread allocates, frees or collects; a proxy whose crowd has
/// just left does none of these, so without this its freed memory would stay resident.
fn collect_forever() {
    loop {
        std::thread::sleep(COLLECT_EVERY);
        collect(false);
    }
}

/// `mi_collect(force)`: collects the calling thread's heap, then purges the arenas' freed
/// pages whose purge delay has passed (all scheduled ones if `force`).
fn collect(force: bool) {
    // SAFETY: `mi_collect` takes no pointer and is safe to call from any thread at any time:
    // it touches the calling thread's own heap, and the arenas under mimalloc's own guard.
    #[allow(unsafe_code)]
    unsafe {
        mi_collect(force);
    }
}

fn set_default(option: mi_option_t, value: std::ffi::c_long) {
    // SAFETY: `mi_option_set_default` writes a plain field of mimalloc's static option table
    // and is not thread-safe; its callers run before any thread exists (at load time, or at
    // the start of `main`), so nothing reads the table meanwhile. Both options are valid
    // indices in the mimalloc that libmimalloc-sys builds (v3; below `_mi_option_last`, which
    // mimalloc checks too).
    #[allow(unsafe_code)]
    unsafe {
        mi_option_set_default(option, value);
    }
}
