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

#[cfg(test)]
mod tests {
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
