//! Whether this process may make the namespaces, checked before anything starts.
//!
//! root in the initial user namespace makes network and mount namespaces directly. Everyone
//! else (a normal user, or root inside a container's user namespace) first makes a user
//! namespace, which the kernel allows only where unprivileged user namespaces are enabled:
//! `user.max_user_namespaces` above 0, and on kernels with the Debian/Ubuntu patches also
//! `kernel.unprivileged_userns_clone = 1` and `kernel.apparmor_restrict_unprivileged_userns = 0`.

use std::path::Path;

/// What stops isolation on this machine, with the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivilegeError {
    /// A sysctl forbids the user namespace isolation needs.
    #[error(
        "--isolate needs a user namespace, and this machine forbids them: {sysctl} is {value}. \
         Allow them with `sysctl -w {sysctl}={fix}` (as root), or run phonehome as root"
    )]
    Sysctl {
        sysctl: &'static str,
        value: String,
        fix: &'static str,
    },
    /// No TUN driver.
    #[error(
        "--isolate needs the TUN device /dev/net/tun, which is missing here: load the driver \
         with `modprobe tun` (as root)"
    )]
    NoTun,
    #[error("--isolate works on Linux only")]
    NotLinux,
}

/// A sysctl that must have a given value for unprivileged user namespaces, read from /proc.
struct Knob {
    sysctl: &'static str,
    path: &'static str,
    /// The value that forbids them (`None`: any value not above 0).
    forbidding: Option<&'static str>,
    fix: &'static str,
}

const KNOBS: [Knob; 3] = [
    Knob {
        sysctl: "user.max_user_namespaces",
        path: "/proc/sys/user/max_user_namespaces",
        forbidding: None,
        fix: "15000",
    },
    Knob {
        sysctl: "kernel.unprivileged_userns_clone",
        path: "/proc/sys/kernel/unprivileged_userns_clone",
        forbidding: Some("0"),
        fix: "1",
    },
    Knob {
        sysctl: "kernel.apparmor_restrict_unprivileged_userns",
        path: "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        forbidding: Some("1"),
        fix: "0",
    },
];

/// Whether isolation must make a user namespace: true unless this process is root in the
/// initial user namespace (whose uid map is the identity over all 2^32 - 1 ids).
pub fn needs_user_namespace() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let initial = std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|map| map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]);
    !(root && initial)
}

/// Checks that isolation can work here, before anything is started.
///
/// # Errors
/// [`PrivilegeError::Sysctl`] naming the sysctl to change when user namespaces are needed and
/// forbidden; [`PrivilegeError::NoTun`] when `/dev/net/tun` is missing.
pub fn check() -> Result<(), PrivilegeError> {
    if !cfg!(target_os = "linux") {
        return Err(PrivilegeError::NotLinux);
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err(PrivilegeError::NoTun);
    }
    if !needs_user_namespace() {
        return Ok(());
    }
    for knob in &KNOBS {
        let Ok(value) = std::fs::read_to_string(knob.path) else {
            // Not this kernel's knob.
            continue;
        };
        let value = value.trim().to_owned();
        let forbids = match knob.forbidding {
            Some(forbidding) => value == forbidding,
            None => value.parse::<u64>().is_ok_and(|n| n == 0),
        };
        if forbids {
            return Err(PrivilegeError::Sysctl {
                sysctl: knob.sysctl,
                value,
                fix: knob.fix,
            });
        }
    }
    Ok(())
}
