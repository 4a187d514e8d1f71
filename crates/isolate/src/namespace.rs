//! The helper's side: make the namespaces, the TUN device and its routes, lay the DNS
//! configuration and the CA bundle over `/etc`, hand the TUN device to the parent, run the
//! command.
//!
//! Runs in a fresh process with one thread (user namespaces cannot be entered otherwise),
//! before any async runtime exists; netlink is spoken from a current-thread runtime that is
//! gone before the command is executed.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt as _;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::handoff;

/// What the helper is asked to do.
#[derive(Debug, Clone)]
pub struct HelperSpec {
    /// The parent's Unix socket.
    pub socket: PathBuf,
    /// The file laid over `/etc/resolv.conf`.
    pub resolv: PathBuf,
    /// The CA bundle (system roots plus phonehome's CA) laid over the system bundles.
    pub bundle: PathBuf,
    /// The command and its arguments.
    pub command: Vec<OsString>,
}

/// Where distributions keep the system CA bundle that OpenSSL, GnuTLS and others read when
/// the environment names none.
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// Exit code when the namespaces could not be set up (phonehome's own failure).
pub const SETUP_FAILED: i32 = 125;
/// Exit code when the command could not be started.
pub const NOT_STARTED: i32 = 127;

/// Sets up isolation and executes the command; returns only with the exit code to use when
/// that failed (the parent has been told why, or the command's start failed and was printed).
pub fn enter(spec: &HelperSpec) -> i32 {
    let socket = match UnixStream::connect(&spec.socket) {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!(
                "phonehome: error: cannot reach phonehome at {}: {e}",
                spec.socket.display()
            );
            return SETUP_FAILED;
        }
    };
    let device = match set_up(spec) {
        Ok(device) => device,
        Err(message) => {
            handoff::send_error(&socket, &message);
            return SETUP_FAILED;
        }
    };
    // phonehome started this helper with a parent-death signal; entering a user namespace
    // changes the credentials, which may clear it. Set it again before waiting for the go,
    // which fails if phonehome died meanwhile: the command never outlives phonehome.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        handoff::send_error(
            &socket,
            &format!("cannot tie the command to phonehome: {e}"),
        );
        return SETUP_FAILED;
    }
    if let Err(e) = handoff::send_device(&socket, &device) {
        handoff::send_error(&socket, &format!("cannot pass the TUN device on: {e}"));
        return SETUP_FAILED;
    }
    drop(device);
    if !handoff::wait_for_go(&socket) {
        return SETUP_FAILED;
    }
    drop(socket);
    let Some((program, args)) = spec.command.split_first() else {
        eprintln!("phonehome: error: no command to run");
        return NOT_STARTED;
    };
    let e = std::process::Command::new(program).args(args).exec();
    eprintln!("phonehome: error: cannot start {program:?}: {e}");
    NOT_STARTED
}

/// Everything before the command runs; the TUN device on success, why not otherwise.
fn set_up(spec: &HelperSpec) -> Result<OwnedFd, String> {
    let user = crate::privilege::needs_user_namespace();
    let mut flags = CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS;
    if user {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    unshare(flags).map_err(|e| {
        format!(
            "cannot make the namespaces (unshare {}): {e}",
            if user {
                "user, network and mount"
            } else {
                "network and mount"
            }
        )
    })?;
    if user {
        // The same ids inside as outside: the command keeps its user, and loses the
        // namespace's capabilities when it is executed (it is not root inside).
        write("/proc/self/setgroups", "deny")?;
        write("/proc/self/uid_map", &format!("{uid} {uid} 1"))?;
        write("/proc/self/gid_map", &format!("{gid} {gid} 1"))?;
    }
    // Mounts made here must never show outside.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("cannot make the mount namespace private: {e}"))?;
    lay_over(&spec.resolv, Path::new("/etc/resolv.conf"))?;
    for bundle in SYSTEM_BUNDLES {
        if Path::new(bundle).is_file() {
            lay_over(&spec.bundle, Path::new(bundle))?;
        }
    }
    let device = tun_rs::DeviceBuilder::new()
        .name(crate::DEVICE)
        .mtu(crate::MTU)
        .build_sync()
        .map_err(|e| format!("cannot create the TUN device {}: {e}", crate::DEVICE))?;
    // The address is usable at once: nothing else is on this link.
    write(
        &format!("/proc/sys/net/ipv6/conf/{}/accept_dad", crate::DEVICE),
        "0",
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the netlink runtime: {e}"))?;
    runtime
        .block_on(configure_links())
        .map_err(|e| format!("cannot configure the namespace's network: {e}"))?;
    drop(runtime);
    let fd = std::os::fd::AsFd::as_fd(&device)
        .try_clone_to_owned()
        .map_err(|e| format!("cannot duplicate the TUN device: {e}"))?;
    Ok(fd)
}

fn write(path: &str, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))
}

/// Bind-mounts `file` over `target`, inside this mount namespace only.
fn lay_over(file: &Path, target: &Path) -> Result<(), String> {
    if !target.exists() {
        return Ok(());
    }
    mount(
        Some(file),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        format!(
            "cannot lay {} over {}: {e}",
            file.display(),
            target.display()
        )
    })
}

/// lo up; the TUN device up with its addresses; default routes through it, v4 and v6.
async fn configure_links() -> Result<(), String> {
    let (connection, handle, _) =
        rtnetlink::new_connection().map_err(|e| format!("netlink socket: {e}"))?;
    let connection = tokio::spawn(connection);
    let configured = configure(&handle).await.map_err(|e| e.to_string());
    connection.abort();
    configured
}

async fn configure(handle: &rtnetlink::Handle) -> Result<(), rtnetlink::Error> {
    let lo = link_index(handle, "lo").await?;
    handle
        .link()
        .set(rtnetlink::LinkUnspec::new_with_index(lo).up().build())
        .execute()
        .await?;
    let tun = link_index(handle, crate::DEVICE).await?;
    handle
        .address()
        .add(tun, IpAddr::V4(crate::NAMESPACE_V4), crate::PREFIX_V4)
        .execute()
        .await?;
    handle
        .address()
        .add(tun, IpAddr::V6(crate::NAMESPACE_V6), crate::PREFIX_V6)
        .execute()
        .await?;
    handle
        .link()
        .set(rtnetlink::LinkUnspec::new_with_index(tun).up().build())
        .execute()
        .await?;
    handle
        .route()
        .add(
            rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new()
                .output_interface(tun)
                .build(),
        )
        .execute()
        .await?;
    handle
        .route()
        .add(
            rtnetlink::RouteMessageBuilder::<Ipv6Addr>::new()
                .output_interface(tun)
                .build(),
        )
        .execute()
        .await?;
    Ok(())
}

async fn link_index(handle: &rtnetlink::Handle, name: &str) -> Result<u32, rtnetlink::Error> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    match links.try_next().await? {
        Some(link) => Ok(link.header.index),
        None => Err(rtnetlink::Error::RequestFailed),
    }
}
