//! The few calls of systemd's manager API (org.freedesktop.systemd1.Manager) the driver
//! makes, over the system bus with zbus's blocking client. Every call, and every wait for
//! a job's JobRemoved signal, has a bound: an answer that does not come is an error
//! naming the bus address, never a hang.

use super::properties::{Property, Value};
use anyhow::{Result, anyhow, bail};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zbus::blocking::{Connection, MessageIterator};
use zbus::zvariant::{self, OwnedObjectPath};

const DESTINATION: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// runc waits 30 s for systemd to run a job; so does rrun.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);
/// Connecting and a method call each: systemd answers in milliseconds when it can.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The system bus, unless DBUS_SYSTEM_BUS_ADDRESS names another (as every D-Bus client).
pub fn system_bus_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "unix:path=/run/dbus/system_bus_socket".to_string())
}

pub struct Manager {
    conn: Connection,
    address: String,
}

/// Runs `f` on a thread of its own and gives up waiting after `limit`: zbus's blocking
/// calls have no deadline of their own for a peer that accepts and never answers.
fn bounded<T: Send + 'static>(
    what: &str,
    address: &str,
    limit: Duration,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = mpsc::channel();
    // The thread, and those zbus starts from it, block every signal: a signal meant for
    // rrun (SIGTERM to `rrun run`, which forwards it) must never land on one of them.
    use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
    let mut old = SigSet::empty();
    let _ = pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    );
    let spawned = std::thread::Builder::new()
        .name("systemd-dbus".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    spawned.map_err(|e| anyhow!("{what}: starting the D-Bus thread: {e}"))?;
    match rx.recv_timeout(limit) {
        Ok(result) => result,
        Err(_) => bail!(
            "{what}: systemd did not answer on {address} within {} s",
            limit.as_secs()
        ),
    }
}

/// A D-Bus error as one line: systemd's own message, or the error's name.
fn describe(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, Some(msg), _) => format!("{msg} ({name})"),
        zbus::Error::MethodError(name, None, _) => name.to_string(),
        other => other.to_string(),
    }
}

fn error_name(e: &anyhow::Error) -> Option<String> {
    match e.downcast_ref::<zbus::Error>() {
        Some(zbus::Error::MethodError(name, _, _)) => Some(name.to_string()),
        _ => None,
    }
}

pub fn is_unit_exists(e: &anyhow::Error) -> bool {
    error_name(e).as_deref() == Some("org.freedesktop.systemd1.UnitExists")
}

pub fn is_no_such_unit(e: &anyhow::Error) -> bool {
    error_name(e).as_deref() == Some("org.freedesktop.systemd1.NoSuchUnit")
}

fn to_zvariant(v: &Value) -> zvariant::Value<'static> {
    match v.clone() {
        Value::Bool(b) => b.into(),
        Value::Byte(n) => n.into(),
        Value::I16(n) => n.into(),
        Value::U16(n) => n.into(),
        Value::I32(n) => n.into(),
        Value::U32(n) => n.into(),
        Value::I64(n) => n.into(),
        Value::U64(n) => n.into(),
        Value::Double(n) => n.into(),
        Value::Str(s) => s.into(),
        Value::Strings(v) => v.into(),
        Value::U32s(v) => v.into(),
        Value::Bytes(v) => v.into(),
        Value::DeviceAllow(v) => v.into(),
    }
}

fn wire(props: &[Property]) -> Vec<(String, zvariant::Value<'static>)> {
    props
        .iter()
        .map(|(n, v)| (n.clone(), to_zvariant(v)))
        .collect()
}

impl Manager {
    pub fn connect(address: &str) -> Result<Manager> {
        let addr = address.to_string();
        let conn = bounded("connecting to systemd", address, CALL_TIMEOUT, move || {
            zbus::blocking::connection::Builder::address(addr.as_str())
                .and_then(|b| b.method_timeout(CALL_TIMEOUT).build())
                .map_err(|e| anyhow!("{}", describe(&e)))
        })
        .map_err(|e| anyhow!("connecting to systemd over D-Bus at {address}: {e}"))?;
        Ok(Manager {
            conn,
            address: address.to_string(),
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// A method of the manager, with its reply's body. The zbus error is kept in the chain
    /// so that callers can tell systemd's error names apart.
    fn call<B, R>(&self, method: &'static str, body: B) -> Result<R>
    where
        B: serde::Serialize + zvariant::DynamicType + Send + 'static,
        R: for<'d> serde::Deserialize<'d> + zvariant::Type + Send + 'static,
    {
        let conn = self.conn.clone();
        bounded(method, &self.address, CALL_TIMEOUT, move || {
            let reply = conn
                .call_method(Some(DESTINATION), PATH, Some(MANAGER), method, &body)
                .map_err(|e| {
                    let line = describe(&e);
                    anyhow::Error::new(e).context(line)
                })?;
            reply
                .body()
                .deserialize::<R>()
                .map_err(|e| anyhow!("{method}: unexpected reply: {e}"))
        })
    }

    /// Starts a job with `start` (which returns the job's path) and waits for systemd to
    /// say it ended; the job's result must be "done". The signal is watched for before the
    /// job is asked for, so that a job that ends at once is not missed.
    fn run_job(
        &self,
        what: &str,
        start: impl FnOnce(&Manager) -> Result<OwnedObjectPath>,
    ) -> Result<String> {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .sender(DESTINATION)?
            .path(PATH)?
            .interface(MANAGER)?
            .member("JobRemoved")?
            .build();
        let conn = self.conn.clone();
        let signals = bounded(
            "watching systemd's jobs",
            &self.address,
            CALL_TIMEOUT,
            move || {
                MessageIterator::for_match_rule(rule.to_owned(), &conn, Some(64))
                    .map_err(|e| anyhow!("{}", describe(&e)))
            },
        )?;
        let job = start(self)?;
        let deadline = Instant::now() + JOB_TIMEOUT;
        let job_name = job.to_string();
        let result = bounded(what, &self.address, JOB_TIMEOUT, move || {
            for msg in signals {
                let msg = msg.map_err(|e| anyhow!("{}", describe(&e)))?;
                let Ok((_, path, _, result)) = msg
                    .body()
                    .deserialize::<(u32, OwnedObjectPath, String, String)>()
                else {
                    continue;
                };
                if path == job {
                    return Ok(result);
                }
                if Instant::now() > deadline {
                    break;
                }
            }
            bail!("the D-Bus connection closed before job {job_name} ended")
        })?;
        Ok(result)
    }

    /// StartTransientUnit, waiting for its job. A unit of that name left over (failed) from
    /// an earlier container is reset and the start tried once more, as runc does.
    pub fn start_transient_unit(&self, unit: &str, props: &[Property]) -> Result<()> {
        let mut retried = false;
        loop {
            let body = (
                unit.to_string(),
                "replace",
                wire(props),
                Vec::<(String, Vec<(String, zvariant::Value<'static>)>)>::new(),
            );
            let outcome = self.run_job(&format!("waiting for systemd to create {unit}"), |m| {
                m.call::<_, OwnedObjectPath>("StartTransientUnit", body)
            });
            match outcome {
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
        let body = (unit.to_string(), "replace");
        match self.run_job(&format!("waiting for systemd to stop {unit}"), |m| {
            m.call::<_, OwnedObjectPath>("StopUnit", body)
        }) {
            Ok(result) if result == "done" => {}
            Ok(result) => {
                crate::logging::warn(&format!("stopping systemd unit {unit}: got `{result}`"))
            }
            Err(e) if is_no_such_unit(&e) => {}
            Err(e) => return Err(e),
        }
        // A unit that failed (its processes were killed) stays listed until reset.
        self.reset_failed(unit);
        Ok(())
    }

    /// ResetFailedUnit, best effort (a unit that did not fail, or is gone, has nothing to reset).
    pub fn reset_failed(&self, unit: &str) {
        let _ = self.call::<_, ()>("ResetFailedUnit", (unit.to_string(),));
    }

    pub fn set_unit_properties(&self, unit: &str, props: &[Property]) -> Result<()> {
        self.call::<_, ()>("SetUnitProperties", (unit.to_string(), true, wire(props)))
    }

    /// systemd's version number (252 of "252.38-1~deb12u1"); 0 if it can't be read.
    pub fn version(&self) -> u32 {
        let conn = self.conn.clone();
        let version = bounded(
            "reading systemd's version",
            &self.address,
            CALL_TIMEOUT,
            move || {
                let reply = conn
                    .call_method(
                        Some(DESTINATION),
                        PATH,
                        Some("org.freedesktop.DBus.Properties"),
                        "Get",
                        &(MANAGER, "Version"),
                    )
                    .map_err(|e| anyhow!("{}", describe(&e)))?;
                let v: zvariant::OwnedValue = reply.body().deserialize()?;
                Ok(String::try_from(v).unwrap_or_default())
            },
        )
        .unwrap_or_default();
        version
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    }
}
