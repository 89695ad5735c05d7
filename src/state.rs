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
    /// The container shares the caller's mount namespace: the id of the mount its rootfs
    /// bind is stacked on, which delete detaches (`rootfs::detach_rootfs_bind`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_bind_on: Option<u64>,
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

    /// The state root, as given (not created).
    pub fn root_path(&self) -> &Path {
        &self.root
    }

    /// The state root, made if missing.
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
                bail!("container with given ID already exists: {id:?}")
            }
            Err(e) => Err(e).with_context(|| format!("creating state directory {}", dir.display())),
        }
    }

    /// Takes the per-container lock and loads the record. Fails for an unknown id with
    /// runc's words, "container does not exist" (engines and scripts look for them), and
    /// the id.
    pub fn open(&self, id: &str) -> Result<LockedContainer> {
        validate_id(id)?;
        let dir = self.dir(id);
        let lock = match File::open(&dir) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => bail!("container does not exist: {id:?}"),
            Err(e) => return Err(e).with_context(|| format!("opening {}", dir.display())),
        };
        let lock = lock_exclusive(lock)?;
        // A concurrent delete may have removed the directory while we waited for the lock.
        let record = match fs::read(dir.join(STATE_FILE)) {
            Ok(data) => serde_json::from_slice(&data)
                .with_context(|| format!("parsing {}", dir.join(STATE_FILE).display()))?,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                bail!("container does not exist: {id:?}")
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

/// The exclusive lock on a container's state directory, released on drop.
pub type Lock = nix::fcntl::Flock<File>;

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
    /// The record `create` has just written, under the lock it has held since it
    /// reserved the id: what [`Store::open`] would read back.
    pub fn holding(dir: PathBuf, record: ContainerRecord, lock: Lock) -> Self {
        LockedContainer {
            dir,
            record,
            _lock: lock,
        }
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }
}

/// Writes a new record with write + rename, so no reader (nor a `delete` after a kill)
/// finds a record half written.
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

/// Replaces the record of a container whose directory lock the caller holds, in place.
/// Every reader takes that lock first, so none sees the file between two states; the new
/// record goes in one write at offset 0 of at most a page, which the kernel copies into
/// the page cache whole (a kill comes before it or after it), padded with spaces (JSON's
/// whitespace) to the old length, so no byte of the old record is left after the new one
/// and nothing needs truncating. The old record's block is reused: replacing the file
/// by rename freed it, which costs a new inode and, on a filesystem mounted with
/// `discard` (this VM's /run), a wait for the disk (~0.1 ms; create was 5 % slower). A
/// record larger than a page, or none yet, is written by [`save_record`].
pub fn update_record(dir: &Path, record: &ContainerRecord) -> Result<()> {
    use std::os::unix::fs::FileExt;
    const PAGE: usize = 4096;
    let path = dir.join(STATE_FILE);
    let file = match fs::OpenOptions::new().write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return save_record(dir, record),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let old_len = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let mut data = serde_json::to_vec(record)?;
    if old_len > PAGE as u64 || data.len() > PAGE {
        return save_record(dir, record);
    }
    data.resize(data.len().max(old_len as usize), b' ');
    file.write_all_at(&data, 0)
        .with_context(|| format!("writing {}", path.display()))
}

/// Removes a container's state directory. By then it usually holds the record alone (the
/// exec fifo goes at `start`): that file, then the directory, two calls; whatever else is
/// there (a notify socket, CRIU's files) goes with the rest, as `remove_dir_all` takes it.
pub fn remove_dir(dir: &Path) -> Result<()> {
    let _ = fs::remove_file(dir.join(STATE_FILE));
    if fs::remove_dir(dir).is_ok() {
        return Ok(());
    }
    fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
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
    fn an_update_rewrites_the_record_in_place_and_a_large_one_by_rename() {
        use std::os::unix::fs::MetadataExt;
        let tmp = std::env::temp_dir().join(format!("rrun-update-test-{}", std::process::id()));
        let store = Store::new(tmp.to_str().unwrap());
        let dir = store.reserve("c1").unwrap();
        let path = dir.join(STATE_FILE);
        let mut rec = ContainerRecord {
            id: "c1".into(),
            pid: 42,
            creating: true,
            cgroup_paths: vec!["/sys/fs/cgroup/pids/a/long/path/c1".into()],
            ..Default::default()
        };
        // No record yet: written whole.
        update_record(&dir, &rec).unwrap();
        let inode = fs::metadata(&path).unwrap().ino();
        // A shorter record: the same file, padded, read back as the new one.
        rec.creating = false;
        rec.cgroup_paths.clear();
        update_record(&dir, &rec).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
        let locked = store.open("c1").unwrap();
        assert!(!locked.record.creating && locked.record.cgroup_paths.is_empty());
        drop(locked);
        // A longer one: the same file again.
        rec.pid = 4242;
        rec.bundle = "/a/bundle/path/longer/than/what/was/there".into();
        update_record(&dir, &rec).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(store.open("c1").unwrap().record.bundle, rec.bundle);
        // One larger than a page: replaced by rename, whole.
        rec.annotations.insert("big".into(), "x".repeat(5000));
        update_record(&dir, &rec).unwrap();
        assert_ne!(fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(
            store.open("c1").unwrap().record.annotations["big"].len(),
            5000
        );
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn a_state_directory_goes_with_whatever_it_holds() {
        let tmp = std::env::temp_dir().join(format!("rrun-state-rm-{}", std::process::id()));
        let store = Store::new(tmp.to_str().unwrap());
        // The record alone, and with more beside it (a notify directory with its socket).
        for extra in [false, true] {
            let dir = store.reserve("c1").unwrap();
            save_record(&dir, &ContainerRecord::default()).unwrap();
            if extra {
                fs::create_dir(dir.join("notify")).unwrap();
                std::os::unix::net::UnixListener::bind(dir.join("notify/notify.sock")).unwrap();
            }
            remove_dir(&dir).unwrap();
            assert!(!dir.exists());
        }
        assert!(remove_dir(&tmp.join("c1")).is_err());
        fs::remove_dir_all(&tmp).unwrap();
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
