//! The message protocol between the rrun parent and the container's init.
//!
//! Both ends of one SOCK_SEQPACKET socketpair; each message is one JSON datagram, so
//! message boundaries need no framing and a dead peer shows up as end-of-file.
//!
//! ```text
//!  rrun (parent)                              init (child)
//!  clone() ─────────────────────────────────▶ makes its namespaces but pid (none
//!  "seal" (rrun's sealed view, an fd, and ──▶ with a user namespace: the clone made
//!  how to move onto it; only where the        them), moves onto the sealed view,
//!  init moves itself)                         mounts the config's first kernel
//!  "mountsource" × n, "mountsourcessent" ───▶ filesystems (where its namespaces are
//!  (bind sources detached in the init's       its own), takes the bind sources (with
//!  mount namespace; with a user namespace)    a user namespace), waits for "go"
//!  records, uid/gid maps, oom_score_adj,
//!  cgroups
//!  "go" (+ v1 cgroups to join itself) ──────▶ joins those cgroups, namespaces,
//!  the cgroups' limits and device rules,      hostname
//!       ◀──────────────────────────────────── "movenetdevices" (only with netDevices)
//!  the config's netDevices moved in
//!       ◀──────────────────────────────────── "mountsourcesplease" (a joined user
//!  "mountsource" × n, "mountsourcessent" ───▶  namespace, idmapped mounts)
//!  the init's loopback up
//!  "limitsset" (+ whether the loopback ─────▶ its loopback up if it is not, other
//!       is up)                                mounts, devices
//!  the cgroup mounts, detached (a v1 host)
//!  "cgrouptree" (+ those mounts, an fd) ────▶ (taken at the `cgroup` mount)
//!  state.json, pid file (a)
//!  "created" (a) ───────────────────────────▶ (read after "ready")
//!       ◀──────────────────────────────────── "mountsourceplease" (an idmapped mount
//!  its source detached in the init's mount     whose source is in the rootfs, at its
//!  namespace, idmapped                         turn; "cgrouptree" and "created" are
//!  "mountsource" (+ the tree, an fd) ───────▶  set aside meanwhile)
//!       ◀──────────────────────────────────── "runcreatehooks" (only if there are any)
//!  prestart + createRuntime hooks
//!  "hooksdone" ─────────────────────────────▶ createContainer hooks, pivot_root,
//!                                             console, protections, user, capabilities
//!       ◀──────────────────────────────────── "ready"  or  "failed" + message
//!  state.json, pid file (b)
//!  "created" (b) ───────────────────────────▶ resets the ignored signals it names; waits
//!                                             on exec.fifo for `start` (unless "start"),
//!                                             then execs
//! ```
//!
//! "created" goes at (a), while the init builds, unless the init asks for hooks on the way
//! or rrun holds the terminal itself (it takes the pty after "ready"): then at (b). If the
//! parent dies before "created", init reads end-of-file and exits, so a killed `create`
//! never leaves a half-built container waiting forever; after it, an init that gets its
//! "ready" out goes on as if rrun had returned (to wait for `start`, or to exec).

use anyhow::{Result, anyhow};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Message {
    /// Parent → init, first, where the init moves onto a sealed view of rrun: the view
    /// itself, an fd passed with the message ([`Channel::send_with_fd`]; a sealed copy of
    /// the binary with `copy`), and how (`None`: the parent could not read it, and the init
    /// reads it itself).
    Seal {
        plan: Option<crate::selfexe::MovePlan>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        copy: bool,
    },
    /// Parent → init, after "seal" where there is one, in a user namespace of the init's
    /// own (or, in one it joins, after "mountsourcesplease"): a bind or idmapped mount's
    /// source, detached by rrun from inside the init's mount namespace, an fd passed
    /// beside the message; `index` is the mount's in the config. As many as rrun could
    /// detach, then "mountsourcessent".
    MountSource { index: usize },
    /// Init → parent, where the container joins a user namespace and has idmapped mounts:
    /// the init's mount namespace is made, in that user namespace; rrun detaches their
    /// sources there and sends them before "limitsset".
    MountSourcesPlease,
    /// Parent → init: the last of the "mountsource" messages was sent.
    MountSourcesSent,
    /// Init → parent, at an idmapped mount whose source is inside the rootfs, when its
    /// turn comes: rrun detaches it from inside the init's mount namespace, where the
    /// container's earlier mounts are, idmaps it and sends it ("mountsource", `index`).
    MountSourcePlease { index: usize },
    /// Parent → init: ids are mapped and the cgroups made (and joined, but for
    /// `join_cgroups`: v1 `tasks` files the process writes "0" to first, see
    /// `cgroups::join_self`); build the container.
    Go {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        join_cgroups: Vec<std::path::PathBuf>,
    },
    /// Parent → init, after "go": `linux.resources` are written into the container's
    /// cgroups, its device rules too. Until then the init opens, makes and mounts no
    /// device (a v1 device list is emptied before its exceptions are written, so for a
    /// moment it denies every device).
    LimitsSet {
        /// rrun brought the loopback interface of the init's new network namespace up
        /// (`namespaces::loopback_up_from_outside`); otherwise the init does.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        loopback_up: bool,
    },
    /// Parent → init, after "limitsset", where the init left its `cgroup` mount to rrun
    /// (`rootfs::cgroupfs::detached_tree`): the mount, an fd passed beside the message,
    /// or none where rrun could not build it (the init builds it then).
    CgroupTree,
    /// Init → parent, only where the config lists `linux.netDevices`: the init's network
    /// namespace is the container's now (made or joined); rrun moves the devices into it
    /// before it sends "limitsset".
    MoveNetDevices,
    /// Init → parent: the container is built; init waits for "created", then for `start`.
    Ready,
    /// Init → parent: setup failed at the step the message names.
    Failed { message: String },
    /// Parent → init: the state is saved; the container officially exists. Sent while the
    /// init builds, unless the init asks for hooks meanwhile (`RunCreateHooks`): it reads
    /// this after "ready".
    Created {
        /// Exec once built, without waiting for `start` on the exec fifo: `run` in the
        /// foreground, which would start the container at once anyway.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        start: bool,
        /// The signals rrun ignores (`signals::ignored_by_this_process`), and so the init,
        /// its clone: the only dispositions it has to reset. None: reset every one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ignored_signals: Option<u64>,
    },
    /// Init → parent: mounts are done, pivot_root is next: run prestart and createRuntime
    /// hooks now (sent only when the config has some).
    RunCreateHooks,
    /// Parent → init: those hooks succeeded.
    HooksDone,
    /// Init → parent: a log line (warning, debug) for rrun's own log, as runc's init sends
    /// its logs up a pipe: the container's stdio is the process's, not rrun's.
    Log { level: String, msg: String },
}

pub struct Channel {
    fd: OwnedFd,
    /// Messages read while waiting for a reply ([`Channel::recv_reply`]), returned first
    /// by the next reads: the init asks for a mount's source while rrun's "cgrouptree" and
    /// "created" may be on their way.
    set_aside: std::cell::RefCell<std::collections::VecDeque<(Message, Option<OwnedFd>)>>,
}

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| anyhow!("socketpair: {e}"))?;
    let channel = |fd| Channel {
        fd,
        set_aside: Default::default(),
    };
    Ok((channel(a), channel(b)))
}

impl std::os::fd::AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Channel {
    pub fn send(&self, msg: &Message) -> Result<()> {
        self.send_passing(msg, &[])
    }

    /// As [`Channel::send_unless_failed`], with `fd` passed beside the message
    /// (SCM_RIGHTS): the other end gets its own fd for the same file.
    pub fn send_with_fd(&self, msg: &Message, fd: std::os::fd::BorrowedFd) -> Result<()> {
        self.unless_failed(self.send_passing(msg, &[fd.as_raw_fd()]))
    }

    /// As [`Channel::send`], to an init that may have failed before reading it: where the
    /// peer has gone, the error is its last word (its `failed` message) if it left one.
    pub fn send_unless_failed(&self, msg: &Message) -> Result<()> {
        self.unless_failed(self.send(msg))
    }

    /// One message, with `fds` beside it where there are any (a plain send otherwise:
    /// the tests that kill a create at its n-th `sendto` count on it).
    fn send_passing(&self, msg: &Message, fds: &[RawFd]) -> Result<()> {
        use nix::sys::socket::{ControlMessage, MsgFlags, send, sendmsg};
        let data = serde_json::to_vec(msg)?;
        let fd = self.fd.as_raw_fd();
        let sent = if fds.is_empty() {
            send(fd, &data, MsgFlags::MSG_NOSIGNAL)
        } else {
            let iov = [std::io::IoSlice::new(&data)];
            let rights = [ControlMessage::ScmRights(fds)];
            sendmsg::<()>(fd, &iov, &rights, MsgFlags::MSG_NOSIGNAL, None)
        };
        sent.map_err(|e| anyhow!("sending {msg:?}: {e}"))?;
        Ok(())
    }

    /// A send's error, or, where it failed because the peer has closed its end, the
    /// peer's `failed` message: what it sent before is still queued, and end-of-file
    /// follows it, so this read cannot block.
    fn unless_failed(&self, sent: Result<()>) -> Result<()> {
        let Err(e) = sent else {
            return Ok(());
        };
        match self.recv() {
            Ok(Some(Message::Failed { message })) => Err(anyhow!("{message}")),
            _ => Err(e),
        }
    }

    /// Sends this process's log lines to the other end from now on (init and exec's child).
    pub fn relay_logs(&self) {
        let fd = self.fd.as_raw_fd();
        crate::logging::relay_through(move |level, msg| {
            let data = serde_json::to_vec(&Message::Log {
                level: level.to_string(),
                msg: msg.to_string(),
            })
            .unwrap_or_default();
            nix::sys::socket::send(fd, &data, nix::sys::socket::MsgFlags::MSG_NOSIGNAL).is_ok()
        });
    }

    /// As [`Channel::recv`], but every second without a message asks `stalled` whether
    /// the peer can still make progress; its error ends the wait (a frozen init never
    /// answers, and nothing else would end the wait for it).
    pub fn recv_watching(&self, stalled: impl Fn() -> Result<()>) -> Result<Option<Message>> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        if !self.set_aside.borrow().is_empty() {
            return self.recv();
        }
        loop {
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(1000u16)) {
                Ok(0) => stalled()?,
                Err(nix::errno::Errno::EINTR) => {}
                _ => return self.recv(),
            }
        }
    }

    /// The next message, or None when the peer has gone. Log lines are written to rrun's
    /// log as they come, never returned.
    pub fn recv(&self) -> Result<Option<Message>> {
        self.recv_with_fd().map(|(msg, _)| msg)
    }

    /// As [`Channel::recv`], with the fd passed beside the message, if one was (the first:
    /// any more are closed).
    pub fn recv_with_fd(&self) -> Result<(Option<Message>, Option<OwnedFd>)> {
        if let Some((msg, fd)) = self.set_aside.borrow_mut().pop_front() {
            return Ok((Some(msg), fd));
        }
        self.recv_from_socket()
    }

    /// The first message `is_reply` accepts, with its fd, or None when the peer has gone;
    /// what comes before it is set aside, in order, for the next reads.
    pub fn recv_reply(
        &self,
        is_reply: impl Fn(&Message) -> bool,
    ) -> Result<(Option<Message>, Option<OwnedFd>)> {
        loop {
            match self.recv_from_socket()? {
                (Some(msg), fd) if !is_reply(&msg) => {
                    self.set_aside.borrow_mut().push_back((msg, fd));
                }
                reply => return Ok(reply),
            }
        }
    }

    fn recv_from_socket(&self) -> Result<(Option<Message>, Option<OwnedFd>)> {
        loop {
            match self.recv_any()? {
                (Some(Message::Log { level, msg }), _) => crate::logging::relayed(&level, &msg),
                other => return Ok(other),
            }
        }
    }

    fn recv_any(&self) -> Result<(Option<Message>, Option<OwnedFd>)> {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, recv, recvmsg};
        let fd = self.fd.as_raw_fd();
        // The message's length first (a peek with MSG_TRUNC tells it without taking the
        // message, nor any fd with it), then a buffer of that size: a fixed 64 KiB one,
        // zeroed at each message, cost the parent and the init ~20 page faults per container.
        let len = retrying(|| recv(fd, &mut [], MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC))?;
        if len == 0 {
            return Ok((None, None));
        }
        let mut buf = vec![0u8; len];
        let mut passed = None;
        let n = retrying(|| {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let mut space = nix::cmsg_space!([RawFd; 1]);
            let msg = recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
            for c in msg.cmsgs()? {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for fd in fds {
                        // Any fd after the first is closed here.
                        passed.get_or_insert(crate::syscalls::own_fd(fd));
                    }
                }
            }
            Ok(msg.bytes)
        })?;
        serde_json::from_slice(&buf[..n])
            .map(|msg| (Some(msg), passed))
            .map_err(|e| anyhow!("bad handshake message: {e}"))
    }
}

/// `read` again while it fails with EINTR or ECONNRESET. ECONNRESET: the peer closed with a
/// message of ours unread (a process that failed before reading "go"), which the kernel
/// reports once, ahead of what the peer sent before it went (its `failed` message); the
/// next read finds that, or the end.
fn retrying(mut read: impl FnMut() -> nix::Result<usize>) -> Result<usize> {
    loop {
        match read() {
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::ECONNRESET) => continue,
            Err(e) => return Err(anyhow!("receiving handshake message: {e}")),
            Ok(n) => return Ok(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_left_our_message_unread_is_still_heard() {
        let (parent, child) = pair().unwrap();
        child
            .send(&Message::Failed {
                message: "setting the initial CPU affinity: EINVAL".into(),
            })
            .unwrap();
        parent
            .send(&Message::Created {
                start: false,
                ignored_signals: None,
            })
            .unwrap();
        drop(child); // with "created" unread: the parent's next read is told ECONNRESET
        match parent.recv().unwrap() {
            Some(Message::Failed { message }) => assert!(message.contains("EINVAL")),
            other => panic!("{other:?}"),
        }
        assert!(parent.recv().unwrap().is_none());
    }

    #[test]
    fn messages_round_trip_and_eof_is_none() {
        let (a, b) = pair().unwrap();
        let join_cgroups = vec![std::path::PathBuf::from("/sys/fs/cgroup/pids/c/tasks")];
        a.send(&Message::Go {
            join_cgroups: join_cgroups.clone(),
        })
        .unwrap();
        a.send(&Message::LimitsSet { loopback_up: true }).unwrap();
        let created = |start, ignored_signals| Message::Created {
            start,
            ignored_signals,
        };
        a.send(&created(true, Some(1 << 12))).unwrap();
        a.send(&created(false, None)).unwrap();
        a.send(&Message::Failed {
            message: "mounting \"proc\": EPERM".into(),
        })
        .unwrap();
        assert_eq!(b.recv().unwrap(), Some(Message::Go { join_cgroups }));
        assert_eq!(
            b.recv().unwrap(),
            Some(Message::LimitsSet { loopback_up: true })
        );
        assert_eq!(b.recv().unwrap(), Some(created(true, Some(1 << 12))));
        assert_eq!(b.recv().unwrap(), Some(created(false, None)));
        assert_eq!(
            b.recv().unwrap(),
            Some(Message::Failed {
                message: "mounting \"proc\": EPERM".into()
            })
        );
        a.send(&Message::Log {
            level: "debug".into(),
            msg: "relayed, not returned".into(),
        })
        .unwrap();
        a.send(&Message::Ready).unwrap();
        assert_eq!(b.recv().unwrap(), Some(Message::Ready));
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }

    #[test]
    fn an_fd_passed_with_a_message_is_the_same_file() {
        let (a, b) = pair().unwrap();
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        use std::os::fd::AsFd;
        let seal = Message::Seal {
            plan: None,
            copy: true,
        };
        a.send_with_fd(&seal, file.as_fd()).unwrap();
        let (got, fd) = b.recv_with_fd().unwrap();
        assert_eq!(got, Some(seal));
        let fd = fd.expect("an fd came with the message");
        assert_ne!(fd.as_raw_fd(), file.as_raw_fd());
        let same = |f: &std::fs::File| {
            use std::os::unix::fs::MetadataExt;
            let m = f.metadata().unwrap();
            (m.dev(), m.ino())
        };
        assert_eq!(same(&std::fs::File::from(fd)), same(&file));
        // A message without one.
        a.send(&Message::Ready).unwrap();
        let (got, fd) = b.recv_with_fd().unwrap();
        assert_eq!(got, Some(Message::Ready));
        assert!(fd.is_none());
        drop(a);
        assert!(matches!(b.recv_with_fd().unwrap(), (None, None)));
    }

    #[test]
    fn what_comes_before_a_reply_is_read_after_it_in_order() {
        let (rrun, init) = pair().unwrap();
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        use std::os::fd::AsFd;
        rrun.send_with_fd(&Message::CgroupTree, file.as_fd())
            .unwrap();
        let created = Message::Created {
            start: false,
            ignored_signals: None,
        };
        rrun.send(&created).unwrap();
        rrun.send_with_fd(&Message::MountSource { index: 3 }, file.as_fd())
            .unwrap();
        rrun.send(&Message::HooksDone).unwrap();
        let is_reply = |m: &Message| matches!(m, Message::MountSource { index: 3 });
        let (reply, tree) = init.recv_reply(is_reply).unwrap();
        assert_eq!(reply, Some(Message::MountSource { index: 3 }));
        assert!(tree.is_some());
        // The two set aside, with the fd that came with the first, then the socket's.
        let (first, fd) = init.recv_with_fd().unwrap();
        assert_eq!((first, fd.is_some()), (Some(Message::CgroupTree), true));
        assert_eq!(init.recv_watching(|| Ok(())).unwrap(), Some(created));
        assert_eq!(init.recv().unwrap(), Some(Message::HooksDone));
        // A peer gone before the reply: none, and what came before it is kept.
        rrun.send(&Message::HooksDone).unwrap();
        drop(rrun);
        let (reply, fd) = init.recv_reply(is_reply).unwrap();
        assert!(reply.is_none() && fd.is_none());
        assert_eq!(init.recv().unwrap(), Some(Message::HooksDone));
        assert_eq!(init.recv().unwrap(), None);
    }

    #[test]
    fn a_send_to_an_init_that_failed_reports_its_message() {
        let (parent, init) = pair().unwrap();
        init.send(&Message::Failed {
            message: "making the container's namespaces: ENOSPC".into(),
        })
        .unwrap();
        drop(init);
        let go = Message::Go {
            join_cgroups: Vec::new(),
        };
        let err = parent.send_unless_failed(&go).unwrap_err().to_string();
        assert_eq!(err, "making the container's namespaces: ENOSPC");
        // An init that ended without a word: the send's own error.
        let (parent, init) = pair().unwrap();
        drop(init);
        let err = parent.send_unless_failed(&go).unwrap_err().to_string();
        assert!(err.starts_with("sending Go"), "{err}");
        // An init that is alive: sent as usual.
        let (parent, init) = pair().unwrap();
        parent.send_unless_failed(&go).unwrap();
        assert_eq!(init.recv().unwrap(), Some(go));
    }

    #[test]
    fn a_message_arrives_whole_whatever_its_size() {
        // An init's error can quote a long path or a hook's output: the receiving buffer
        // is sized by the message, not fixed.
        let (a, b) = pair().unwrap();
        for len in [1, 4095, 4096, 70_000] {
            let message = "x".repeat(len);
            a.send(&Message::Failed {
                message: message.clone(),
            })
            .unwrap();
            assert_eq!(b.recv().unwrap(), Some(Message::Failed { message }));
        }
    }
}
