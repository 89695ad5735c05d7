//! Small files of /proc, read in one go.

/// Reads a small file of /proc in one read (and one more that finds its end). /proc shows
/// these files with size 0, so `std::fs::read_to_string` asks for the size and position
/// first and then starts with 32 bytes, doubling its buffer, one read each time: eight
/// syscalls for a /proc/<pid>/stat where this makes four.
pub fn read(path: &str) -> std::io::Result<String> {
    read_growing_from(path, 4096)
}

fn read_growing_from(path: &str, first: usize) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; first.max(1)];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(2 * len, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// What rrun reads of a line of /proc/self/mountinfo.
pub struct Mount {
    pub id: u64,
    pub parent: u64,
    pub mount_point: std::path::PathBuf,
}

/// The mounts of this process's mount namespace, in mountinfo's order (a mount after the
/// one it is stacked on).
pub fn mounts() -> std::io::Result<Vec<Mount>> {
    Ok(parse_mounts(&read("/proc/self/mountinfo")?))
}

fn parse_mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let id = fields.next()?.parse().ok()?;
            let parent = fields.next()?.parse().ok()?;
            let mount_point = fields.nth(2)?;
            Some(Mount {
                id,
                parent,
                mount_point: unescape_mount_field(mount_point).into(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
pub fn unescape_mount_field(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_gives_ids_parents_and_unescaped_mount_points() {
        let mounts = super::parse_mounts(
            "23 1 254:0 / / rw - ext4 /dev/vda rw\n\
             99 23 254:0 /srv/a\\040b /srv/a\\040b rw - ext4 /dev/vda rw\n",
        );
        let got: Vec<_> = mounts
            .iter()
            .map(|m| (m.id, m.parent, m.mount_point.to_str().unwrap()))
            .collect();
        assert_eq!(got, [(23, 1, "/"), (99, 23, "/srv/a b")]);
    }

    #[test]
    fn a_proc_file_is_read_whole() {
        let expected = String::from_utf8(std::fs::read("/proc/self/cmdline").unwrap()).unwrap();
        assert!(expected.len() > 32, "{expected:?}");
        assert_eq!(super::read("/proc/self/cmdline").unwrap(), expected);
    }

    #[test]
    fn a_file_larger_than_the_first_buffer_is_read_whole() {
        let expected = String::from_utf8(std::fs::read("/proc/self/cmdline").unwrap()).unwrap();
        assert_eq!(
            super::read_growing_from("/proc/self/cmdline", 5).unwrap(),
            expected
        );
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let err = super::read("/proc/self/no-such-file").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
