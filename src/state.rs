//! The state store: one directory per container under `--root`, holding `state.json`
//! (written atomically), the `exec.fifo` that `start` opens, and a lock that serialises
//! commands on one container.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// What rrun remembers about a container between commands.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ContainerRecord {
    pub id: String,
    /// Host pid of the container's init process (0 once it is known to be gone).
    pub pid: i32,
    /// The init's start time in clock ticks since boot (field 22 of /proc/PID/stat):
    /// a pid with another start time belongs to an unrelated, later process.
    pub pid_start_time: u64,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Cgroup directories the container was placed in, one per hierarchy.
    #[serde(default)]
    pub cgroup_paths: Vec<PathBuf>,
    /// Parents of those directories that create made (a `cgroupsPath` of `a/b/ctr` with no
    /// `a`): delete removes them too when they are empty, so nothing of rrun's stays behind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup_parents_created: Vec<PathBuf>,
    /// The systemd unit (scope or slice) holding the container (`--systemd-cgroup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
    #[serde(default)]
    pub oci_version: String,
    /// The hooks of config.json: poststart and poststop run after create has returned.
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// Written as soon as create has cloned the init, so that a create killed at any later
    /// step leaves a record `delete --force` can finish from (the init's pid, the cgroups it
    /// was or will be placed in); create clears it with its final write.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub creating: bool,
    /// Created with rootless cgroups: the container may be in none of its cgroups.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rootless_cgroups: bool,
    /// The container has no pid namespace of its own (the host's, or one joined by path):
    /// its init is no pid 1 whose death ends the others, so SIGKILL must reach them all.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared_pid_ns: bool,
}

/// Validates a container id as runc does: letters, digits, `_ + - .`; not `.` or `..`.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        bail!("container id cannot be empty");
    }
    if id == "." || id == ".." || id.len() > 1024 {
        bail!("invalid container id format: {id:?}");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c))
    {
        bail!("invalid container id format: {id:?}");
    }
    Ok(())
}

pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: &str) -> Self {
        Store {
            root: PathBuf::from(root),
        }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The state root, made if missing.
    /// The state root, as given (not created).
    pub fn root_path(&self) -> &Path {
        &self.root
    }

    pub fn root(&self) -> Result<&Path> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .with_context(|| format!("creating state root {}", self.root.display()))?;
        Ok(&self.root)
    }

    /// Creates the container's directory. mkdir is atomic, so of two creates with one id
    /// exactly one wins; the other is told the id is taken.
    pub fn reserve(&self, id: &str) -> Result<PathBuf> {
        validate_id(id)?;
        self.root()?;
        let dir = self.dir(id);
        // Root's are 0711 as runc's (a container's mapped root may need to pass through);
        // an ordinary user's are its own only: its init opens the exec fifo as the user.
        let mode = if crate::rootless::euid_is_rootless() {
            0o700
        } else {
            0o711
        };
        match fs::DirBuilder::new().mode(mode).create(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                bail!("container with id {id:?} already exists")
            }
            Err(e) => Err(e).with_context(|| format!("creating state directory {}", dir.display())),
        }
    }

    /// Takes the per-container lock and loads the record. Fails with runc's
    /// "does not exist" error for unknown ids.
    pub fn open(&self, id: &str) -> Result<LockedContainer> {
        validate_id(id)?;
        let dir = self.dir(id);
        let lock = match File::open(&dir) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => bail!("container {id:?} does not exist"),
            Err(e) => return Err(e).with_context(|| format!("opening {}", dir.display())),
        };
        let lock = lock_exclusive(lock)?;
        // A concurrent delete may have removed the directory while we waited for the lock.
        let record = match fs::read(dir.join(STATE_FILE)) {
            Ok(data) => serde_json::from_slice(&data)
                .with_context(|| format!("parsing {}", dir.join(STATE_FILE).display()))?,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                bail!("container {id:?} does not exist")
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading {}", dir.join(STATE_FILE).display()));
            }
        };
        Ok(LockedContainer {
            dir,
            record,
            _lock: lock,
        })
    }

    /// Ids of all containers with a state file, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.root.display())),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().join(STATE_FILE).exists() {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }
}

type Lock = nix::fcntl::Flock<File>;

fn lock_exclusive(file: File) -> Result<Lock> {
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("locking container state: {e}"))
}

/// A container's record with its lock held; the lock is released on drop.
#[derive(Debug)]
pub struct LockedContainer {
    pub dir: PathBuf,
    pub record: ContainerRecord,
    _lock: Lock,
}

impl LockedContainer {
    pub fn fifo_path(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }
}

/// Writes the record with write + rename, so readers see the old or the new state, never half.
pub fn save_record(dir: &Path, record: &ContainerRecord) -> Result<()> {
    let tmp = dir.join(".state.json.tmp");
    let data = serde_json::to_vec(record)?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(&data)
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, dir.join(STATE_FILE))
        .with_context(|| format!("renaming {} into place", tmp.display()))?;
    Ok(())
}

/// Takes a lock on a freshly reserved directory (used by create, before the record exists).
pub fn lock_dir(dir: &Path) -> Result<Lock> {
    let f = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    lock_exclusive(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc_rules() {
        for ok in ["a", "abc-1_2+3.4", "A.B", "x".repeat(64).as_str()] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ä", "../x", "a\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reserve_refuses_duplicates_and_save_is_readable() {
        let tmp = std::env::temp_dir().join(format!("rrun-state-test-{}", std::process::id()));
        let store = Store::new(tmp.to_str().unwrap());
        let dir = store.reserve("c1").unwrap();
        let err = store.reserve("c1").unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        let rec = ContainerRecord {
            id: "c1".into(),
            pid: 42,
            ..Default::default()
        };
        save_record(&dir, &rec).unwrap();
        let locked = store.open("c1").unwrap();
        assert_eq!(locked.record.pid, 42);
        drop(locked);
        assert_eq!(store.ids().unwrap(), vec!["c1".to_string()]);
        assert!(
            store
                .open("nope")
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        fs::remove_dir_all(&tmp).unwrap();
    }
}
