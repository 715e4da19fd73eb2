//! Reading local files: regular files only.
//!
//! Every file mooring reads from a path a user gave (manifests, the config,
//! policies, extra schemas, token and secret files) is opened here, so that
//! a FIFO, socket or device named `x.yaml` is refused with a message that
//! says what it is, instead of a read that blocks forever or never ends.
//! The file is opened non-blocking and checked again after opening, so a
//! file swapped for a FIFO between the check and the open cannot hang
//! either.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// What a non-regular file is, in words; `None` for a regular file or a
/// directory (directories are told apart by the callers that walk them).
pub fn special_kind(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() || t.is_dir() {
        None
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else {
        Some("not a regular file")
    }
}

fn refuse(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file; mooring reads only regular files"),
    )
}

/// Opens `path` (following symlinks) for reading if it is a regular file.
///
/// # Errors
/// The open's own error, or `InvalidInput` naming what the path is when it
/// is not a regular file.
pub fn open(path: &Path) -> io::Result<(File, Metadata)> {
    let before = std::fs::metadata(path)?;
    if let Some(what) = special_kind(&before) {
        return Err(refuse(what));
    }
    if before.is_dir() {
        return Err(refuse("a directory"));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refuse(special_kind(&meta).unwrap_or("a directory")));
    }
    Ok((file, meta))
}

/// Reads a regular file whole.
///
/// # Errors
/// As [`open`], and the read's own error.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let (mut file, meta) = open(path)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads a regular file whole as UTF-8 text.
///
/// # Errors
/// As [`read`], and `InvalidData` when the file is not UTF-8.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    String::from_utf8(read(path)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_sockets_and_devices_are_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("x.yaml");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&fifo).expect_err("a FIFO is refused");
        assert_eq!(
            e.to_string(),
            "it is a FIFO (named pipe), not a regular file; mooring reads only regular files"
        );
        let sock = dir.path().join("s.yaml");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("socket");
        assert!(
            read(&sock)
                .expect_err("socket")
                .to_string()
                .contains("a socket")
        );
        let dev = read(Path::new("/dev/null")).expect_err("device");
        assert!(dev.to_string().contains("a character device"), "{dev}");
        assert!(
            read(dir.path())
                .expect_err("dir")
                .to_string()
                .contains("a directory")
        );
        std::fs::write(dir.path().join("ok.yaml"), "a: 1\n").expect("write");
        assert_eq!(read(&dir.path().join("ok.yaml")).expect("read"), b"a: 1\n");
    }
}
