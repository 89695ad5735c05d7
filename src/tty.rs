//! Terminals: the pty init creates inside the container, the master sent over the
//! `--console-socket` with SCM_RIGHTS (what containerd and Podman expect), and the copy
//! loop `rrun run` uses when it holds the master itself.

use anyhow::{Result, anyhow};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// The sockets a pty master travels over: the caller's `--console-socket` (containerd,
/// Podman), or, when rrun holds the terminal itself (`run`/`exec` in the foreground), a pair
/// whose other end rrun keeps. Returns (the end the container side uses, rrun's end).
pub fn console_sockets(
    console_socket: Option<&std::path::Path>,
    terminal: bool,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    match (console_socket, terminal) {
        (Some(path), true) => {
            let stream = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| anyhow!("connecting to console socket {}: {e}", path.display()))?;
            Ok((Some(OwnedFd::from(stream)), None))
        }
        (None, true) => {
            let (a, b) = socketpair(
                AddressFamily::Unix,
                SockType::Stream,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .map_err(|e| anyhow!("socketpair: {e}"))?;
            Ok((Some(a), Some(b)))
        }
        _ => Ok((None, None)),
    }
}

/// Sends `fd` with `name` as the payload, as runc's utils.SendFd does.
pub fn send_fd(sock: RawFd, fd: RawFd, name: &str) -> Result<()> {
    let fds = [fd];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(
        sock,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| anyhow!("sendmsg: {e}"))?;
    Ok(())
}

pub fn recv_fd(sock: RawFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| anyhow!("receiving console fd: {e}"))?;
    for c in msg
        .cmsgs()
        .map_err(|e| anyhow!("receiving console fd: {e}"))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c
            && let Some(&fd) = fds.first()
        {
            return Ok(crate::syscalls::own_fd(fd));
        }
    }
    Err(anyhow!("receiving console fd: no fd in message"))
}

/// Init side, after pivot_root: a new pty from the container's devpts, its slave on
/// /dev/console and as stdio and controlling terminal, its master sent to the runtime user.
pub fn setup_console(
    console_socket: RawFd,
    size: Option<(u16, u16)>,
    bind_dev_console: bool,
) -> Result<()> {
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| anyhow!("opening /dev/ptmx: {e}"))?;
    nix::pty::unlockpt(&master).map_err(|e| anyhow!("unlockpt: {e}"))?;
    let slave_name = nix::pty::ptsname_r(&master).map_err(|e| anyhow!("ptsname: {e}"))?;
    if let Some((rows, cols)) = size {
        set_window_size(master.as_raw_fd(), rows, cols)?;
    }
    let slave = nix::fcntl::open(
        slave_name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| anyhow!("opening {slave_name}: {e}"))?;
    // /dev/console is the pty too, as in runc (init only, and only in the container's own
    // mount namespace); a missing /dev (no tmpfs) just skips it.
    if bind_dev_console
        && let Ok(root) = crate::rootfs::secure::RootDir::open(std::path::Path::new("/"))
        && let Ok(target) = root.create_file(std::path::Path::new("/dev/console"), 0o666)
    {
        let _ = nix::mount::mount(
            Some(slave_name.as_str()),
            &crate::rootfs::secure::fd_path(&target),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        );
    }
    send_fd(console_socket, master.as_raw_fd(), &slave_name)
        .map_err(|e| anyhow!("sending console fd: {e:#}"))?;
    drop(master);
    nix::unistd::setsid().map_err(|e| anyhow!("setsid: {e}"))?;
    // TIOCSCTTY makes the slave our controlling terminal.
    tiocsctty(slave.as_raw_fd())?;
    nix::unistd::dup2_stdin(&slave).map_err(|e| anyhow!("dup2 console: {e}"))?;
    nix::unistd::dup2_stdout(&slave).map_err(|e| anyhow!("dup2 console: {e}"))?;
    nix::unistd::dup2_stderr(&slave).map_err(|e| anyhow!("dup2 console: {e}"))?;
    Ok(())
}

nix::ioctl_write_int_bad!(ioctl_tiocsctty, libc::TIOCSCTTY);
nix::ioctl_write_ptr_bad!(ioctl_tiocswinsz, libc::TIOCSWINSZ, libc::winsize);
nix::ioctl_read_bad!(ioctl_tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);

fn tiocsctty(fd: RawFd) -> Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument; fd is an open tty.
    unsafe { ioctl_tiocsctty(fd, 0) }.map_err(|e| anyhow!("TIOCSCTTY: {e}"))?;
    Ok(())
}

pub fn set_window_size(fd: RawFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid winsize that outlives the call.
    unsafe { ioctl_tiocswinsz(fd, &ws) }.map_err(|e| anyhow!("TIOCSWINSZ: {e}"))?;
    Ok(())
}

pub fn window_size(fd: RawFd) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid, writable winsize that outlives the call.
    unsafe { ioctl_tiocgwinsz(fd, &mut ws) }
        .ok()
        .map(|_| (ws.ws_row, ws.ws_col))
}

/// The pty master of a process whose terminal rrun holds itself (`run` and `exec` in the
/// foreground), set up as runc sets it (see [`clear_onlcr`]).
pub fn recv_console(sock: RawFd) -> Result<OwnedFd> {
    let master = recv_fd(sock)?;
    clear_onlcr(&master)?;
    Ok(master)
}

/// Stops the pty turning "\n" into "\r\n", as runc does for the terminal it holds, so
/// the container's output reaches a pipe or file as the process wrote it.
fn clear_onlcr(master: &OwnedFd) -> Result<()> {
    use nix::sys::termios::{OutputFlags, SetArg, tcgetattr, tcsetattr};
    let mut t = tcgetattr(master).map_err(|e| anyhow!("reading the pty's settings: {e}"))?;
    t.output_flags.remove(OutputFlags::ONLCR);
    tcsetattr(master, SetArg::TCSANOW, &t).map_err(|e| anyhow!("clearing ONLCR on the pty: {e}"))
}

/// Puts the caller's terminal in raw mode while the container owns it; restored on drop.
pub struct RawMode {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawMode {
    pub fn enter() -> Self {
        let stdin = std::io::stdin();
        let Ok(saved) = nix::sys::termios::tcgetattr(&stdin) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}
