//! Parsing of mount options as they appear in config.json (`ro`, `nosuid`, `rbind`,
//! `rshared`, `size=64k`, ...) into mount(2) flags, propagation changes and fs data.

use libc::c_ulong;

#[derive(Default, Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount call itself.
    pub flags: c_ulong,
    /// Propagation changes applied with separate mount calls after the mount.
    pub propagation: Vec<c_ulong>,
    /// Options the filesystem interprets (`size=`, `mode=`, `newinstance`, ...), comma-joined.
    pub data: String,
    /// runc's `tmpcopyup`: a tmpfs starts with a copy of what the directory under it held.
    pub tmpcopyup: bool,
    /// Recursive mount attributes (`rro`, `rnosuid`, ...): MOUNT_ATTR_* bits set and cleared
    /// on the mount and every mount below it, with mount_setattr(2).
    pub recursive_set: u64,
    pub recursive_clear: u64,
}

// mount_setattr(2)'s MOUNT_ATTR_* bits (linux/mount.h).
const ATTR_RDONLY: u64 = 0x1;
const ATTR_NOSUID: u64 = 0x2;
const ATTR_NODEV: u64 = 0x4;
const ATTR_NOEXEC: u64 = 0x8;
const ATTR_NOATIME: u64 = 0x10;
const ATTR_STRICTATIME: u64 = 0x20;
/// The access-time mode (relatime is 0 in it): cleared to set any of them.
const ATTR_ATIME_MODES: u64 = 0x70;
const ATTR_NODIRATIME: u64 = 0x80;
const ATTR_NOSYMFOLLOW: u64 = 0x20_0000;

/// runc's recursive options: `r` + a flag sets the attribute on the whole tree, `r` + its
/// opposite clears it.
const RECURSIVE: &[(&str, bool, u64)] = &[
    ("rro", false, ATTR_RDONLY),
    ("rrw", true, ATTR_RDONLY),
    ("rnosuid", false, ATTR_NOSUID),
    ("rsuid", true, ATTR_NOSUID),
    ("rnodev", false, ATTR_NODEV),
    ("rdev", true, ATTR_NODEV),
    ("rnoexec", false, ATTR_NOEXEC),
    ("rexec", true, ATTR_NOEXEC),
    ("rnodiratime", false, ATTR_NODIRATIME),
    ("rdiratime", true, ATTR_NODIRATIME),
    ("rnosymfollow", false, ATTR_NOSYMFOLLOW),
    ("rsymfollow", true, ATTR_NOSYMFOLLOW),
];

/// runc's recursive access-time options: one mode for the whole tree (relatime is 0 in
/// it), and setting a mode takes clearing the whole field. `ratime` and `rnostrictatime`
/// give the kernel's default, relatime (runc sends them as half the field cleared, which
/// the kernel refuses); `rnorelatime` changes nothing, as in runc.
const RECURSIVE_ATIME: &[(&str, Option<u64>)] = &[
    ("rrelatime", Some(0)),
    ("ratime", Some(0)),
    ("rnostrictatime", Some(0)),
    ("rnoatime", Some(ATTR_NOATIME)),
    ("rstrictatime", Some(ATTR_STRICTATIME)),
    ("rnorelatime", None),
];

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags & libc::MS_BIND != 0
    }
}

/// Known option names: (name, clear?, flag).
const FLAGS: &[(&str, bool, c_ulong)] = &[
    ("async", true, libc::MS_SYNCHRONOUS),
    ("atime", true, libc::MS_NOATIME),
    ("bind", false, libc::MS_BIND),
    ("defaults", false, 0),
    ("dev", true, libc::MS_NODEV),
    ("diratime", true, libc::MS_NODIRATIME),
    ("dirsync", false, libc::MS_DIRSYNC),
    ("exec", true, libc::MS_NOEXEC),
    ("iversion", false, libc::MS_I_VERSION),
    ("lazytime", false, libc::MS_LAZYTIME),
    ("loud", true, libc::MS_SILENT),
    ("mand", false, libc::MS_MANDLOCK),
    ("noatime", false, libc::MS_NOATIME),
    ("nodev", false, libc::MS_NODEV),
    ("nodiratime", false, libc::MS_NODIRATIME),
    ("noexec", false, libc::MS_NOEXEC),
    ("noiversion", true, libc::MS_I_VERSION),
    ("nolazytime", true, libc::MS_LAZYTIME),
    ("nomand", true, libc::MS_MANDLOCK),
    ("norelatime", true, libc::MS_RELATIME),
    ("nostrictatime", true, libc::MS_STRICTATIME),
    ("nosuid", false, libc::MS_NOSUID),
    ("nosymfollow", false, libc::MS_NOSYMFOLLOW),
    ("rbind", false, libc::MS_BIND | libc::MS_REC),
    ("relatime", false, libc::MS_RELATIME),
    ("remount", false, libc::MS_REMOUNT),
    ("ro", false, libc::MS_RDONLY),
    ("rw", true, libc::MS_RDONLY),
    ("silent", false, libc::MS_SILENT),
    ("strictatime", false, libc::MS_STRICTATIME),
    ("suid", true, libc::MS_NOSUID),
    ("symfollow", true, libc::MS_NOSYMFOLLOW),
    ("sync", false, libc::MS_SYNCHRONOUS),
];

/// What a bind remount (`MS_BIND | MS_REMOUNT`) with `flags` makes of a mount's own
/// attributes, as mount_setattr(2) bits to set and to clear, so that one call can do it
/// (for a whole tree of binds, or without a path to look up). Such a remount sets exactly
/// the per-mount flags it names. Its access-time mode, as in the kernel's path_mount: kept
/// as it was where `flags` names none of noatime, nodiratime, relatime, strictatime;
/// otherwise strictatime over noatime over relatime. The other flags are the superblock's,
/// which it leaves alone.
pub fn bind_remount_attrs(flags: c_ulong) -> (u64, u64) {
    let per_mount = [
        (libc::MS_RDONLY, ATTR_RDONLY),
        (libc::MS_NOSUID, ATTR_NOSUID),
        (libc::MS_NODEV, ATTR_NODEV),
        (libc::MS_NOEXEC, ATTR_NOEXEC),
        (libc::MS_NODIRATIME, ATTR_NODIRATIME),
        (libc::MS_NOSYMFOLLOW, ATTR_NOSYMFOLLOW),
    ];
    let mut set = 0;
    for (ms, attr) in per_mount {
        if flags & ms != 0 {
            set |= attr;
        }
    }
    let all = per_mount.iter().fold(0, |all, (_, attr)| all | attr);
    let atime_named =
        libc::MS_NOATIME | libc::MS_NODIRATIME | libc::MS_RELATIME | libc::MS_STRICTATIME;
    if flags & atime_named == 0 {
        return (set, all & !set);
    }
    if flags & libc::MS_STRICTATIME != 0 {
        set |= ATTR_STRICTATIME;
    } else if flags & libc::MS_NOATIME != 0 {
        set |= ATTR_NOATIME;
    }
    (set, all & !set | ATTR_ATIME_MODES)
}

/// Every option name rrun understands (for `rrun features`).
pub fn known_option_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = FLAGS.iter().map(|(n, _, _)| *n).collect();
    names.extend([
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "unbindable",
        "runbindable",
        "tmpcopyup",
        "idmap",
        "ridmap",
    ]);
    names.extend(RECURSIVE.iter().map(|(n, _, _)| *n));
    names.extend(RECURSIVE_ATIME.iter().map(|(n, _)| *n));
    names.sort();
    names
}

pub fn propagation_flag(name: &str) -> Option<c_ulong> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

pub fn parse(options: &[String]) -> MountOptions {
    let mut out = MountOptions::default();
    let mut data = Vec::new();
    for opt in options {
        if let Some(&(_, clear, flag)) = FLAGS.iter().find(|(n, _, _)| n == opt) {
            if clear {
                out.flags &= !flag;
            } else {
                out.flags |= flag;
            }
        } else if let Some(p) = propagation_flag(opt) {
            out.propagation.push(p);
        } else if let Some(&(_, clear, attr)) = RECURSIVE.iter().find(|(n, _, _)| n == opt) {
            if clear {
                out.recursive_set &= !attr;
                out.recursive_clear |= attr;
            } else {
                out.recursive_clear &= !attr;
                out.recursive_set |= attr;
            }
        } else if let Some(&(_, mode)) = RECURSIVE_ATIME.iter().find(|(n, _)| n == opt) {
            if let Some(mode) = mode {
                out.recursive_set = (out.recursive_set & !ATTR_ATIME_MODES) | mode;
                out.recursive_clear |= ATTR_ATIME_MODES;
            }
        } else if opt == "tmpcopyup" {
            out.tmpcopyup = true;
        } else if opt == "idmap" || opt == "ridmap" {
            // Idmapped mounts (see idmap.rs); never passed to the kernel as data.
        } else {
            data.push(opt.as_str());
        }
    }
    out.data = data.join(",");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    /// `features` lists what the parser takes as an option (none of it is passed on as a
    /// filesystem's data), and that is runc's list (`specconv.KnownMountOptions`, runc 1.4).
    #[test]
    fn the_known_options_are_runc_s_and_none_is_passed_on_as_data() {
        let runc = "async atime bind defaults dev diratime dirsync exec idmap iversion lazytime \
            loud mand noatime nodev nodiratime noexec noiversion nolazytime nomand norelatime \
            nostrictatime nosuid nosymfollow private ratime rbind rdev rdiratime relatime \
            remount rexec ridmap rnoatime rnodev rnodiratime rnoexec rnorelatime \
            rnostrictatime rnosuid rnosymfollow ro rprivate rrelatime rro rrw rshared rslave \
            rstrictatime rsuid rsymfollow runbindable rw shared silent slave strictatime suid \
            symfollow sync tmpcopyup unbindable";
        assert_eq!(known_option_names().join(" "), runc);
        for name in known_option_names() {
            assert_eq!(parse(&s(&[name])).data, "", "{name}");
        }
        assert_eq!(parse(&s(&["nosymfollow"])).flags, libc::MS_NOSYMFOLLOW);
        assert_eq!(parse(&s(&["nosymfollow", "symfollow"])).flags, 0);
    }

    #[test]
    fn splits_flags_propagation_and_data() {
        let o = parse(&s(&[
            "nosuid",
            "rbind",
            "ro",
            "rslave",
            "mode=755",
            "size=65536k",
        ]));
        assert_eq!(
            o.flags,
            libc::MS_NOSUID | libc::MS_BIND | libc::MS_REC | libc::MS_RDONLY
        );
        assert_eq!(o.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(o.is_bind());
    }

    #[test]
    fn a_bind_remount_as_mount_attributes() {
        // runc's cgroup mount: ro, nosuid, nodev, noexec, relatime.
        let o = parse(&s(&["nosuid", "noexec", "nodev", "relatime", "ro"]));
        assert_eq!(bind_remount_attrs(o.flags), (0xf, 0x20_0080 | 0x70));
        // Named flags only: what is not named is cleared; with no access-time flag named
        // the access-time mode stays as it was (the atime bits neither set nor cleared).
        assert_eq!(bind_remount_attrs(libc::MS_NOSUID), (0x2, 0x20_008d));
        assert_eq!(bind_remount_attrs(libc::MS_RDONLY), (0x1, 0x20_008e));
        assert_eq!(
            bind_remount_attrs(libc::MS_NOATIME | libc::MS_NODIRATIME),
            (0x90, 0x20_000f | 0x70)
        );
        // nodiratime alone names an access-time flag: relatime, the kernel's default.
        assert_eq!(
            bind_remount_attrs(libc::MS_RDONLY | libc::MS_NODIRATIME),
            (0x81, 0x20_000e | 0x70)
        );
        // strictatime wins over noatime; superblock flags play no part.
        assert_eq!(
            bind_remount_attrs(libc::MS_NOATIME | libc::MS_STRICTATIME | libc::MS_SYNCHRONOUS),
            (0x20, 0x20_008f | 0x70)
        );
    }

    #[test]
    fn recursive_access_time_modes_clear_the_whole_field() {
        let rec = |o: &[&str]| {
            let p = parse(&s(o));
            (p.recursive_set, p.recursive_clear, p.data)
        };
        assert_eq!(rec(&["rbind", "rnoatime"]), (0x10, 0x70, String::new()));
        assert_eq!(rec(&["rstrictatime"]), (0x20, 0x70, String::new()));
        assert_eq!(rec(&["rnoatime", "rrelatime"]), (0, 0x70, String::new()));
        assert_eq!(rec(&["rnoatime", "ratime"]), (0, 0x70, String::new()));
        assert_eq!(rec(&["rnorelatime"]), (0, 0, String::new()));
        assert_eq!(rec(&["rro", "rnosymfollow"]), (0x20_0001, 0, String::new()));
        assert_eq!(
            rec(&["rnosymfollow", "rsymfollow"]),
            (0, 0x20_0000, String::new())
        );
    }

    #[test]
    fn later_options_override_earlier() {
        assert_eq!(parse(&s(&["ro", "rw"])).flags, 0);
        assert_eq!(parse(&s(&["rw", "ro"])).flags, libc::MS_RDONLY);
    }
}
