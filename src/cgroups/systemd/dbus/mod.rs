//! The few calls of systemd's manager API (org.freedesktop.systemd1.Manager) the driver
//! makes, over the system bus, with a minimal D-Bus client of rrun's own (`wire.rs`):
//! zbus did the same for 1.3 MB of binary (docs/performance.md). Every read has a
//! deadline: a bus or a systemd that does not answer is an error naming the bus address,
//! never a hang.
//!
//! The connection is pipelined: the authentication, Hello, the match rule for JobRemoved
//! and the first call go out in one write, and replies are matched by serial, so that a
//! unit's start costs one round trip to the bus and the wait for its job's signal.

mod wire;

use super::properties::Property;
use anyhow::{Result, anyhow, bail};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use wire::{Arg, Call, Message};

const SYSTEMD: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// runc waits 30 s for systemd to run a job; so does rrun, and as long for any answer.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The system bus, unless DBUS_SYSTEM_BUS_ADDRESS names another (as every D-Bus client).
pub fn system_bus_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "unix:path=/run/dbus/system_bus_socket".to_string())
}

/// The user's bus, where its own systemd instance listens, as runc finds it:
/// DBUS_SESSION_BUS_ADDRESS, else `$XDG_RUNTIME_DIR/bus`.
pub fn user_bus_address() -> Result<String> {
    if let Some(a) = std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
    {
        return Ok(a);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        let bus = std::path::Path::new(&dir).join("bus");
        if bus.exists() {
            return Ok(format!("unix:path={}", bus.display()));
        }
    }
    bail!(
        "--systemd-cgroup as an ordinary user needs the user's systemd instance: no DBUS_SESSION_BUS_ADDRESS, and no bus in $XDG_RUNTIME_DIR (a login session, or `loginctl enable-linger`, and the dbus-user-session package give one)"
    )
}

/// An error reply: its D-Bus name and systemd's message.
#[derive(Debug)]
pub struct BusError {
    pub name: String,
    pub message: String,
}

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.name)
    }
}

impl std::error::Error for BusError {}

fn error_name(e: &anyhow::Error) -> Option<&str> {
    e.downcast_ref::<BusError>().map(|b| b.name.as_str())
}

pub fn is_unit_exists(e: &anyhow::Error) -> bool {
    error_name(e) == Some("org.freedesktop.systemd1.UnitExists")
}

pub fn is_no_such_unit(e: &anyhow::Error) -> bool {
    error_name(e) == Some("org.freedesktop.systemd1.NoSuchUnit")
}

/// The socket of a `unix:path=...` or `unix:abstract=...` address (the first of a list).
fn connect_socket(address: &str) -> std::io::Result<UnixStream> {
    let mut last = std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "no unix:path= or unix:abstract= address",
    );
    for one in address.split(';') {
        let Some(params) = one.strip_prefix("unix:") else {
            continue;
        };
        for kv in params.split(',') {
            let attempt = match kv.split_once('=') {
                Some(("path", p)) => UnixStream::connect(unescape(p)),
                Some(("abstract", name)) => {
                    use std::os::linux::net::SocketAddrExt;
                    std::os::unix::net::SocketAddr::from_abstract_name(unescape(name).as_bytes())
                        .and_then(|a| UnixStream::connect_addr(&a))
                }
                _ => continue,
            };
            match attempt {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
    }
    Err(last)
}

/// D-Bus addresses escape bytes as %XX.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct Manager {
    conn: std::cell::RefCell<Connection>,
    address: String,
}

struct Connection {
    sock: UnixStream,
    serial: u32,
    /// Bytes read but not yet parsed into a message.
    pending: Vec<u8>,
    /// JobRemoved signals seen while waiting for something else: (job path, result).
    jobs_removed: Vec<(String, String)>,
    /// Still to read: the authentication's "OK" line.
    authenticated: bool,
    /// A read ran out of time: the bus is not answering.
    stalled: bool,
}

impl Connection {
    fn next_serial(&mut self) -> u32 {
        self.serial += 1;
        self.serial
    }

    fn read_more(&mut self, deadline: Instant, address: &str) -> Result<()> {
        // A bus that let one answer time out is not waited on again (a failed create's
        // clean-up would otherwise wait as long once more).
        if self.stalled {
            bail!("systemd stopped answering on {address}");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            self.stalled = true;
            bail!(
                "systemd did not answer on {address} within {} s",
                TIMEOUT.as_secs()
            );
        }
        self.sock.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 4096];
        match self.sock.read(&mut chunk) {
            Ok(0) => bail!("the D-Bus connection to {address} was closed"),
            Ok(n) => {
                self.pending.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                self.stalled = true;
                bail!(
                    "systemd did not answer on {address} within {} s",
                    TIMEOUT.as_secs()
                )
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(e) => bail!("reading from the D-Bus connection to {address}: {e}"),
        }
    }

    /// The next message, once the authentication's answer has been read.
    fn next_message(&mut self, deadline: Instant, address: &str) -> Result<Message> {
        while !self.authenticated {
            if let Some(end) = self.pending.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.pending[..end]).into_owned();
                self.pending.drain(..end + 2);
                if !line.starts_with("OK ") {
                    bail!("the D-Bus bus at {address} refused rrun's authentication: {line}");
                }
                self.authenticated = true;
            } else {
                self.read_more(deadline, address)?;
            }
        }
        loop {
            if self.pending.len() >= 16 {
                let head: [u8; 16] = self.pending[..16].try_into().unwrap();
                let len = wire::message_len(&head)?;
                if self.pending.len() >= len {
                    let msg = wire::parse(&self.pending[..len])?;
                    self.pending.drain(..len);
                    return Ok(msg);
                }
            }
            self.read_more(deadline, address)?;
        }
    }

    /// Waits for the reply to `serial`, keeping the JobRemoved signals that come meanwhile.
    fn reply(&mut self, serial: u32, address: &str) -> Result<Message> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let msg = self.next_message(deadline, address)?;
            match msg.kind {
                wire::SIGNAL if msg.member.as_deref() == Some("JobRemoved") => {
                    self.note_job_removed(&msg)
                }
                wire::METHOD_RETURN if msg.reply_serial == Some(serial) => return Ok(msg),
                wire::ERROR if msg.reply_serial == Some(serial) => {
                    let message = wire::Reader::new(&msg.body).string().unwrap_or_default();
                    return Err(BusError {
                        name: msg.error_name.unwrap_or_default(),
                        message,
                    }
                    .into());
                }
                _ => {}
            }
        }
    }

    fn note_job_removed(&mut self, msg: &Message) {
        let mut r = wire::Reader::new(&msg.body);
        if let (Ok(_id), Ok(job), Ok(_unit), Ok(result)) =
            (r.u32(), r.string(), r.string(), r.string())
        {
            self.jobs_removed.push((job, result));
        }
    }

    /// Waits for job `job` to end; its result ("done", "failed", ...).
    fn job_result(&mut self, job: &str, address: &str) -> Result<String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(i) = self.jobs_removed.iter().position(|(j, _)| j == job) {
                return Ok(self.jobs_removed.swap_remove(i).1);
            }
            let msg = self
                .next_message(deadline, address)
                .map_err(|e| anyhow!("waiting for systemd's job {job}: {e}"))?;
            if msg.kind == wire::SIGNAL && msg.member.as_deref() == Some("JobRemoved") {
                self.note_job_removed(&msg);
            }
        }
    }
}

impl Manager {
    /// Connects and authenticates as the caller's uid; Hello and the match rule for
    /// JobRemoved are sent at once, their answers read with the first call's.
    pub fn connect(address: &str) -> Result<Manager> {
        let fail = |e: &dyn std::fmt::Display| {
            anyhow!("connecting to systemd over D-Bus at {address}: {e}")
        };
        let sock = connect_socket(address).map_err(|e| fail(&e))?;
        sock.set_write_timeout(Some(TIMEOUT))
            .map_err(|e| fail(&e))?;
        // The uid the bus sees through the socket: root in a user namespace (rootless
        // Podman's) is its user's uid on the host.
        let uid = crate::rootless::host_uid().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let mut conn = Connection {
            sock,
            serial: 0,
            pending: Vec::new(),
            jobs_removed: Vec::new(),
            authenticated: false,
            stalled: false,
        };
        let mut out = format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").into_bytes();
        let bus = Call {
            destination: "org.freedesktop.DBus",
            path: "/org/freedesktop/DBus",
            interface: "org.freedesktop.DBus",
            member: "Hello",
        };
        let serial = conn.next_serial();
        out.extend(wire::method_call(
            serial,
            wire::NO_REPLY_EXPECTED,
            &bus,
            &[],
        ));
        let rule = format!(
            "type='signal',sender='{SYSTEMD}',path='{PATH}',interface='{MANAGER}',member='JobRemoved'"
        );
        let serial = conn.next_serial();
        out.extend(wire::method_call(
            serial,
            wire::NO_REPLY_EXPECTED,
            &Call {
                member: "AddMatch",
                ..bus
            },
            &[Arg::Str(&rule)],
        ));
        conn.sock.write_all(&out).map_err(|e| fail(&e))?;
        Ok(Manager {
            conn: std::cell::RefCell::new(conn),
            address: address.to_string(),
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// A method of the manager; the reply's message.
    fn call(&self, member: &str, args: &[Arg]) -> Result<Message> {
        self.call_interface(MANAGER, member, args)
    }

    /// A method of `interface` on systemd's manager object.
    fn call_interface(&self, interface: &str, member: &str, args: &[Arg]) -> Result<Message> {
        let mut conn = self.conn.borrow_mut();
        let serial = conn.next_serial();
        let call = Call {
            destination: SYSTEMD,
            path: PATH,
            interface,
            member,
        };
        conn.sock
            .write_all(&wire::method_call(serial, 0, &call, args))
            .map_err(|e| {
                anyhow!(
                    "{member}: writing to the D-Bus connection to {}: {e}",
                    self.address
                )
            })?;
        conn.reply(serial, &self.address)
    }

    /// A call that starts a job; waits for the job's end and returns its result.
    fn run_job(&self, member: &str, args: &[Arg]) -> Result<String> {
        let reply = self.call(member, args)?;
        let job = wire::Reader::new(&reply.body).string()?;
        self.conn.borrow_mut().job_result(&job, &self.address)
    }

    /// StartTransientUnit, waiting for its job. A unit of that name left over (failed) from
    /// an earlier container is reset and the start tried once more, as runc does.
    pub fn start_transient_unit(&self, unit: &str, props: &[Property]) -> Result<()> {
        let mut retried = false;
        loop {
            let args = [
                Arg::Str(unit),
                Arg::Str("replace"),
                Arg::Properties(props),
                Arg::NoAuxUnits,
            ];
            match self.run_job("StartTransientUnit", &args) {
                Ok(result) if result == "done" => return Ok(()),
                Ok(result) => {
                    self.reset_failed(unit);
                    bail!("error creating systemd unit `{unit}`: got `{result}`");
                }
                Err(e) if is_unit_exists(&e) && !retried => {
                    retried = true;
                    self.reset_failed(unit);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// StopUnit, waiting for its job; a unit that is gone already is stopped.
    pub fn stop_unit(&self, unit: &str) -> Result<()> {
        match self.run_job("StopUnit", &[Arg::Str(unit), Arg::Str("replace")]) {
            Ok(result) if result == "done" => {}
            Ok(result) => {
                crate::logging::warn(&format!("stopping systemd unit {unit}: got `{result}`"))
            }
            Err(e) if is_no_such_unit(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
        // A unit that failed (its processes were killed) stays listed until reset.
        self.reset_failed(unit);
        Ok(())
    }

    /// ResetFailedUnit, best effort (a unit that did not fail, or is gone, has nothing to reset).
    pub fn reset_failed(&self, unit: &str) {
        let _ = self.call("ResetFailedUnit", &[Arg::Str(unit)]);
    }

    pub fn set_unit_properties(&self, unit: &str, props: &[Property]) -> Result<()> {
        self.call(
            "SetUnitProperties",
            &[Arg::Str(unit), Arg::Bool(true), Arg::Properties(props)],
        )
        .map(drop)
    }

    /// A string property of the manager.
    fn property(&self, name: &str) -> Result<String> {
        self.call_interface(
            "org.freedesktop.DBus.Properties",
            "Get",
            &[Arg::Str(MANAGER), Arg::Str(name)],
        )
        .and_then(|m| wire::Reader::new(&m.body).variant_string())
    }

    /// The manager's own cgroup: a user instance's is where its units go below.
    pub fn control_group(&self) -> Result<String> {
        self.property("ControlGroup").map_err(|e| {
            e.context(format!(
                "reading systemd's ControlGroup on {}",
                self.address
            ))
        })
    }

    /// systemd's version number (252 of "252.38-1~deb12u1"); 0 if it can't be read.
    pub fn version(&self) -> u32 {
        let version = self.property("Version").unwrap_or_default();
        version
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_unescape_and_unknown_transports_are_errors() {
        assert_eq!(unescape("/run/a%2db"), "/run/a-b");
        assert_eq!(unescape("/plain"), "/plain");
        assert!(connect_socket("tcp:host=localhost,port=1").is_err());
        let e = connect_socket("unix:path=/run/rrun-no-such-bus").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}
