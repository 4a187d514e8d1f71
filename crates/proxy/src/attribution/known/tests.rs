//! The cache of processes against real ones: children of the test that exit, run `exec`,
//! or leave their pid to another process.

use std::io::Write as _;
use std::process::{Child, Command, Stdio};

use super::*;

/// A child process, killed and reaped when the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program` and returns once it runs it with its arguments in place (a child is a
/// copy of the test until its `exec`, and the kernel names the new program before it sets up
/// its command line).
fn start(program: &str, args: &[&str]) -> Running {
    let child = Running(
        Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}")),
    );
    wait_for_name(child.0.id(), program);
    wait_for_args(child.0.id(), args);
    child
}

/// Waits until the process's arguments after its `argv[0]` are `args` (its `argv[0]` may be
/// a path: a launcher such as pyenv's shim runs the program by its full name), or it is gone.
fn wait_for_args(pid: u32, args: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let wanted: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let has_args = |cmdline: &[u8]| {
        cmdline
            .iter()
            .position(|&b| b == 0)
            .is_some_and(|end| cmdline[end + 1..] == wanted[..])
    };
    while std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !has_args(&c)) {
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} never ran with {args:?}"
        );
        std::thread::yield_now();
    }
}

fn wait_for_name(pid: u32, name: &str) {
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() != name) {
        std::thread::yield_now();
    }
}

/// Waits until the process's command line is `cmdline` (its arguments, each ended by a NUL),
/// or it is gone.
fn wait_for_cmdline(pid: u32, cmdline: &[u8]) {
    while std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c != cmdline) {
        std::thread::yield_now();
    }
}

fn kept(known: &Known, pid: u32) -> Option<Arc<Seen>> {
    known.cached(pid)
}

#[test]
fn a_process_seen_before_is_answered_from_the_cache() {
    let child = start("sleep", &["30"]);
    let known = Known::new(true);
    let first = known.get(child.0.id()).expect("running");
    assert!(first.running);
    assert_eq!(
        first.argv.as_deref(),
        Some(&["sleep".to_owned(), "30".to_owned()][..])
    );
    assert!(first.exe.as_deref().is_some_and(|e| e.ends_with("sleep")));
    let again = known.get(child.0.id()).expect("running");
    assert!(
        Arc::ptr_eq(&first, &again),
        "the second answer is the kept one"
    );
}

#[test]
fn a_process_not_seen_before_is_read_and_kept() {
    let child = start("sleep", &["30"]);
    let known = Known::new(true);
    assert!(kept(&known, child.0.id()).is_none());
    let seen = known.get(child.0.id()).expect("running");
    assert!(kept(&known, child.0.id()).is_some_and(|k| Arc::ptr_eq(&k, &seen)));
    // Without the cache every answer is read afresh and nothing is kept.
    let uncached = Known::new(false);
    let a = uncached.get(child.0.id()).expect("running");
    let b = uncached.get(child.0.id()).expect("running");
    assert!(!Arc::ptr_eq(&a, &b));
    assert_eq!(
        (a.ppid, &a.argv, &a.started),
        (seen.ppid, &seen.argv, &seen.started)
    );
}

#[test]
fn a_process_that_exited_is_not_answered() {
    let mut child = start("sleep", &["30"]);
    let pid = child.0.id();
    let known = Known::new(true);
    known.get(pid).expect("running");
    child.0.kill().expect("kill");
    child.0.wait().expect("reap");
    assert!(
        known.get(pid).is_none(),
        "gone, not answered from the cache"
    );
    assert!(kept(&known, pid).is_none());
}

/// A reused pid: the entry kept under a pid was read from a process that has exited since,
/// and the pid now names another process. The entry is never answered.
#[test]
fn a_reused_pid_is_read_afresh() {
    let known = Known::new(true);
    let mut old = start("sleep", &["30"]);
    let old_pidfd = rustix::process::pidfd_open(
        Pid::from_raw(i32::try_from(old.0.id()).expect("pid")).expect("not 0"),
        PidfdFlags::empty(),
    )
    .expect("pidfd_open");
    old.0.kill().expect("kill");
    old.0.wait().expect("reap");
    let new = start("sleep", &["31"]);
    let pid = new.0.id();
    // The stale entry: what the old process was, kept under the new one's pid.
    let comm =
        rustix::fs::open(format!("/proc/{pid}/comm"), OFlags::RDONLY, Mode::empty()).expect("comm");
    let stale = Arc::new(Seen {
        pid,
        ppid: 1,
        started: "2000-01-01T00:00:00.000Z".to_owned(),
        comm: "sleep".to_owned(),
        exe: read(&known.facts, pid, None).and_then(|s| s.exe),
        argv: Some(vec!["sleep".to_owned(), "30".to_owned()]),
        running: true,
        hold: Some(Hold {
            pidfd: old_pidfd,
            exec: ExecWatch::NameAndExe(comm),
            checked: AtomicU64::new(0),
            descriptors: Mutex::new(Descriptors::default()),
        }),
    });
    known
        .entries
        .as_ref()
        .expect("cache on")
        .lock()
        .expect("not poisoned")
        .insert(pid, stale.clone());
    let seen = known.get(pid).expect("running");
    assert!(!Arc::ptr_eq(&seen, &stale));
    assert_eq!(
        seen.argv.as_deref(),
        Some(&["sleep".to_owned(), "31".to_owned()][..])
    );
    assert_eq!(seen.ppid, std::process::id());
    assert_ne!(seen.started, stale.started);
}

#[test]
fn a_process_that_ran_another_program_is_read_afresh() {
    let mut child = start("sh", &["-c", "read line; exec sleep 30"]);
    let pid = child.0.id();
    let known = Known::new(true);
    let before = known.get(pid).expect("running");
    assert!(before.exe.as_deref().is_some_and(|e| !e.ends_with("sleep")));
    writeln!(child.0.stdin.as_mut().expect("piped")).expect("write");
    // Until the exec is done: the kernel's name changes part way through it, the command
    // line only once the new program's stack is set up.
    wait_for_name(pid, "sleep");
    wait_for_cmdline(pid, b"sleep\x0030\x00");
    let after = known.get(pid).expect("running");
    assert!(
        after.exe.as_deref().is_some_and(|e| e.ends_with("sleep")),
        "{after:?}"
    );
    assert_eq!(
        after.argv.as_deref(),
        Some(&["sleep".to_owned(), "30".to_owned()][..])
    );
    assert_eq!(after.started, before.started, "the same process");
}

/// A socket found through the kept `fd` folder, at a number it was found at before or not.
#[test]
fn sockets_are_found_through_the_kept_folder() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let known = Known::new(true);
    let me = std::process::id();
    known.get(me).expect("running");
    for _ in 0..3 {
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("bound")).expect("connect");
        let inode = rustix::fs::fstat(&client).expect("fstat").st_ino;
        let link = format!("socket:[{inode}]");
        assert!(known.holds(me, link.as_bytes()).expect("readable"));
        drop(client);
    }
    assert!(!known.holds(me, b"socket:[1]").expect("readable"));
}

fn watch(seen: &Seen) -> &'static str {
    match seen.hold.as_ref().map(|h| &h.exec) {
        Some(ExecWatch::Environ(_)) => "environ",
        Some(ExecWatch::NameAndExe(_)) => "name and exe",
        None => "not kept",
    }
}

/// The same program run again by `exec` (the same executable and name, another command
/// line): the held `environ` tells it, where the name and the executable alone do not.
#[test]
fn a_process_that_ran_the_same_program_again_is_read_afresh() {
    let mut child = start("sh", &["-c", "read line; exec sh -c 'read again' second"]);
    let pid = child.0.id();
    let known = Known::new(true);
    let before = known.get(pid).expect("running");
    assert_eq!(watch(&before), "environ");
    writeln!(child.0.stdin.as_mut().expect("piped")).expect("write");
    wait_for_cmdline(pid, b"sh\0-c\0read again\0second\0");
    let after = known.get(pid).expect("running");
    assert!(!Arc::ptr_eq(&before, &after), "read afresh");
    assert_eq!(
        after.argv.as_deref(),
        Some(&["sh", "-c", "read again", "second"].map(String::from)[..])
    );
    assert_eq!((&after.exe, &after.comm), (&before.exe, &before.comm));
}

/// A forked copy that has not run `exec` (a shell's subshell) may share its parent's memory,
/// so its `environ` would not tell its `exec`: it is watched by its name and executable.
#[test]
fn a_copy_that_has_not_run_exec_is_watched_by_name_and_executable() {
    let child = start("sh", &["-c", "(read line); read again"]);
    let pid = child.0.id();
    let children = format!("/proc/{pid}/task/{pid}/children");
    let subshell = loop {
        let listed = std::fs::read_to_string(&children).expect("children");
        if let Some(first) = listed.split_whitespace().next() {
            break first.parse::<u32>().expect("a pid");
        }
        std::thread::yield_now();
    };
    let known = Known::new(true);
    assert_eq!(watch(&known.get(pid).expect("running")), "environ");
    let copy = known.get(subshell).expect("running");
    assert_eq!(watch(&copy), "name and exe");
    let again = known.get(subshell).expect("running");
    assert!(Arc::ptr_eq(&copy, &again), "kept and confirmed");
}

/// Entries answered with their polls deferred count as running only while they run when
/// polled, after the answer.
#[test]
fn deferred_polls_tell_an_exit_after_the_answer() {
    let mut child = start("sleep", &["30"]);
    let pid = child.0.id();
    let known = Known::new(true);
    let first = known.get(pid).expect("running");
    let mut polls = Polls::deferred();
    let answered = known.get_with(pid, &mut polls).expect("kept");
    assert!(Arc::ptr_eq(&first, &answered), "answered from the cache");
    assert!(polls.running());
    child.0.kill().expect("kill");
    child.0.wait().expect("reap");
    assert!(!polls.running(), "the exit is told by the deferred poll");
    assert!(known.get_with(pid, &mut Polls::deferred()).is_none());
}

/// A client that runs `exec` keeps its sockets: the entry is read afresh, and the socket is
/// found through the new entry's folder, before and after.
#[test]
fn an_exec_keeps_the_socket_found_and_the_process_is_read_afresh() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("bound").port();
    let script = format!(
        "import os, socket, sys\n\
         s = socket.create_connection(('127.0.0.1', {port}))\n\
         s.set_inheritable(True)\n\
         sys.stdin.readline()\n\
         os.execvp('sleep', ['sleep', '30'])\n"
    );
    let mut child = start("python3", &["-c", &script]);
    let pid = child.0.id();
    let _server_side = listener.accept().expect("accept");
    let link = socket_link(pid);
    let known = Known::new(true);
    let before = known.get(pid).expect("running");
    assert!(known.holds(pid, link.as_bytes()).expect("readable"));
    writeln!(child.0.stdin.as_mut().expect("piped")).expect("write");
    // The name changes before the new program's command line is in place.
    wait_for_cmdline(pid, b"sleep\x0030\x00");
    let after = known.get(pid).expect("running");
    assert!(!Arc::ptr_eq(&before, &after), "read afresh");
    assert_eq!(
        after.argv.as_deref(),
        Some(&["sleep".to_owned(), "30".to_owned()][..])
    );
    assert!(known.holds(pid, link.as_bytes()).expect("readable"));
    assert!(!known.holds(pid, b"socket:[1]").expect("readable"));
}

/// The one TCP socket `pid` holds, as its `socket:[inode]` link; waits until it is there.
fn socket_link(pid: u32) -> String {
    loop {
        let links = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("readable")
            .flatten()
            .filter_map(|entry| std::fs::read_link(entry.path()).ok())
            .map(|target| target.to_string_lossy().into_owned())
            .filter(|target| target.starts_with("socket:["))
            .collect::<Vec<_>>();
        if let [link] = &links[..] {
            return link.clone();
        }
        std::thread::yield_now();
    }
}

/// An `exec` check an hour long, for answers that must not depend on the test's speed.
const HOUR: ExecCheck = ExecCheck::Within(Duration::from_secs(3600));

/// A parent's `exec` check holds for its window: within it the program it was read running
/// is answered (the documented delay); once its last check is older, the process is checked
/// and read afresh, running its new program.
#[test]
fn a_parent_that_ran_exec_is_seen_running_its_new_program_once_its_check_is_old() {
    let mut child = start("sh", &["-c", "read line; exec sleep 30"]);
    let pid = child.0.id();
    let mut known = Known::new(true);
    let before = known
        .get_checked(pid, &mut Polls::each(), HOUR)
        .expect("running");
    writeln!(child.0.stdin.as_mut().expect("piped")).expect("write");
    wait_for_name(pid, "sleep");
    wait_for_cmdline(pid, b"sleep\x0030\x00");
    let within = known
        .get_checked(pid, &mut Polls::each(), HOUR)
        .expect("running");
    assert!(Arc::ptr_eq(&before, &within), "trusted within its window");
    // Its last check made longer ago than the window: the clock moved on.
    known.epoch = known
        .epoch
        .checked_sub(ANCESTOR_CHECK * 2)
        .expect("the machine runs longer than that");
    let after = known
        .get_checked(pid, &mut Polls::each(), ExecCheck::Within(ANCESTOR_CHECK))
        .expect("running");
    assert!(!Arc::ptr_eq(&before, &after), "read afresh");
    assert_eq!(
        after.argv.as_deref(),
        Some(&["sleep".to_owned(), "30".to_owned()][..])
    );
    // Checked now: trusted again.
    let again = known
        .get_checked(pid, &mut Polls::each(), HOUR)
        .expect("running");
    assert!(Arc::ptr_eq(&after, &again));
}

/// A pidfd on a process that has exited, and the pid of another process running now.
fn exited_pidfd_and_a_running_process() -> (OwnedFd, Running) {
    let mut old = start("sleep", &["30"]);
    let pidfd = rustix::process::pidfd_open(
        Pid::from_raw(i32::try_from(old.0.id()).expect("pid")).expect("not 0"),
        PidfdFlags::empty(),
    )
    .expect("pidfd_open");
    old.0.kill().expect("kill");
    old.0.wait().expect("reap");
    (pidfd, start("sleep", &["31"]))
}

/// Within its `exec` check's window an entry is still answered only while its process runs:
/// an entry whose process has exited, its pid now another process's, is read afresh, and a
/// deferred poll tells the exit.
#[test]
fn a_reused_pid_is_read_afresh_within_the_exec_window() {
    let known = Known::new(true);
    let (old_pidfd, new) = exited_pidfd_and_a_running_process();
    let pid = new.0.id();
    known.keep_as_checked(pid, 1, vec!["was".to_owned()], old_pidfd);
    let mut polls = Polls::deferred();
    let answered = known.get_checked(pid, &mut polls, HOUR).expect("kept");
    assert_eq!(answered.argv.as_deref(), Some(&["was".to_owned()][..]));
    assert!(!polls.running(), "the deferred poll tells the exit");
    let seen = known
        .get_checked(pid, &mut Polls::each(), HOUR)
        .expect("running");
    assert_eq!(
        seen.argv.as_deref(),
        Some(&["sleep".to_owned(), "31".to_owned()][..])
    );
    assert_eq!(seen.ppid, std::process::id());
}
