//! mimalloc's options: phonehome asks it to give freed memory back to the system.
//!
//! With its defaults mimalloc commits its arenas eagerly and purges freed pages late (and only
//! when it allocates or frees again), so a proxy that served a crowd of connections keeps their
//! memory after they closed, and idle RSS is twice what it needs (BENCHMARKS.md, "Crowds").
//! Every command commits arena memory on demand; the commands that proxy (`run`, `proxy`,
//! `demo`), which live long, also purge freed pages at once. The analysis commands keep the
//! default purge delay: they end soon, and purging at once slows them. An option the
//! environment sets (`MIMALLOC_ARENA_EAGER_COMMIT`, `MIMALLOC_PURGE_DELAY`) wins: mimalloc's
//! `mi_option_set_default` leaves it alone.
//!
//! The commit mode is set before `main`, from the ELF `.init_array`: mimalloc reserves its
//! first arena at the first allocation, which Rust's runtime makes before `main`, and an arena
//! keeps the commit mode it was created with.

use libmimalloc_sys::{mi_option_set_default, mi_option_t};

/// `mi_option_arena_eager_commit` in mimalloc 3's `mimalloc.h` (libmimalloc-sys exports no
/// constant for it); 0 commits an arena's memory as it is used.
const ARENA_EAGER_COMMIT: mi_option_t = 4;

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h`; 0 purges freed pages at once.
const PURGE_DELAY: mi_option_t = 15;

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

/// Sets mimalloc to purge freed pages at once, unless the environment says otherwise. Call it
/// from `main` before any thread exists.
pub(crate) fn purge_at_once() {
    set_default(PURGE_DELAY, 0);
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
