//! Bounded, non-blocking reads of every file the exporter is given: keys,
//! the keys directory's files, the configuration file, the web configuration
//! and its certificates. A path can name anything, so each read opens with
//! `O_NONBLOCK` (a FIFO with no writer does not hang `open`), refuses what
//! is not a regular file (FIFO, device, directory, socket) by `fstat` on the
//! opened descriptor, checks the size there before reading a byte, and still
//! reads at most the limit (a file may grow between the two).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Largest key file: a key is one line.
pub const MAX_KEY_BYTES: u64 = 64 << 10;
/// Largest configuration file (`--config.file`): thousands of environments fit.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// Largest web configuration, certificate or key file.
pub const MAX_WEB_FILE_BYTES: u64 = 1 << 20;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path} does not exist")]
    NotFound { path: PathBuf },
    #[error("{path} is a {kind}, not a regular file")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path} is {size} bytes, more than the {limit} bytes allowed")]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FileError {
    pub fn reason(&self) -> &'static str {
        match self {
            FileError::NotFound { .. } => "not_found",
            FileError::NotRegular { .. } => "not_regular",
            FileError::TooLarge { .. } => "too_large",
            FileError::Io { .. } => "io",
        }
    }

    /// What to do about it, for the `fix:` of a configuration error.
    pub fn fix(&self) -> &'static str {
        match self {
            FileError::NotFound { .. } => "check the path",
            FileError::NotRegular { .. } => {
                "point it at a regular file (not a FIFO, device or directory)"
            }
            FileError::TooLarge { .. } => "point it at the file holding just what is asked for",
            FileError::Io { .. } => "check that the exporter's user may read it",
        }
    }
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// The bytes of the regular file at `path`, at most `limit` of them.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => FileError::NotFound { path: path.into() },
        _ => FileError::Io {
            path: path.into(),
            source,
        },
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(FileError::NotRegular {
            path: path.into(),
            kind: kind_of(meta.file_type()),
        });
    }
    let too_large = |size| FileError::TooLarge {
        path: path.into(),
        size,
        limit,
    };
    if meta.size() > limit {
        return Err(too_large(meta.size()));
    }
    let mut out = Vec::with_capacity(meta.size() as usize);
    file.take(limit + 1).read_to_end(&mut out).map_err(io)?;
    if out.len() as u64 > limit {
        return Err(too_large(out.len() as u64));
    }
    warn_if_key_readable_by_others(path, &meta, limit);
    Ok(out)
}

/// As `read_bounded`, as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, FileError> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|_| FileError::Io {
        path: path.into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })
}

/// A key file others may read is a key others may use: said once per file.
fn warn_if_key_readable_by_others(path: &Path, meta: &std::fs::Metadata, limit: u64) {
    use std::os::unix::fs::PermissionsExt;
    static WARNED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    if limit != MAX_KEY_BYTES || meta.permissions().mode() & 0o004 == 0 {
        return;
    }
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    if warned.iter().any(|p| p == path) || warned.len() >= 1024 {
        return;
    }
    warned.push(path.into());
    tracing::warn!(path = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "key file is readable by every user of this host: chmod 0600 (or 0640 for a group) it");
}

/// A key as it will go into a request header: trimmed, and refused when it
/// holds a byte no header may carry (CR, LF, NUL, other controls, non-ASCII).
/// The message names the problem and the byte's position, never the key.
pub fn check_key(text: &str) -> Result<&str, String> {
    let key = text.trim();
    if key.is_empty() {
        return Err("is empty".into());
    }
    match key.bytes().position(|b| !(0x21..=0x7e).contains(&b)) {
        None => Ok(key),
        Some(at) => {
            let what = match key.as_bytes()[at] {
                b'\r' => "a carriage return (CR)".to_string(),
                b'\n' => "a line feed (LF) inside the key".to_string(),
                0 => "a NUL byte".to_string(),
                b' ' | b'\t' => "a space or tab inside the key".to_string(),
                b if b >= 0x80 => "a non-ASCII character".to_string(),
                b => format!("the control byte 0x{b:02x}"),
            };
            Err(format!(
                "holds {what} at byte {at}, which cannot go in a request header"
            ))
        }
    }
}

/// Deepest nesting of YAML flow collections (`[`, `{`) accepted: real
/// configurations stay under 10, and a file of nested brackets would
/// otherwise cost the parser seconds.
pub const MAX_YAML_NESTING: usize = 64;

/// Refuse YAML nested deeper than `MAX_YAML_NESTING` before parsing it. A
/// cheap scan that skips comments and quoted text; indentation nesting is
/// bounded by the file size limits.
pub fn check_yaml_nesting(text: &str) -> Result<(), String> {
    let (mut depth, mut quote, mut comment) = (0usize, None::<char>, false);
    let mut prev = '\n';
    for (line, c) in text.chars().scan(1usize, |l, c| {
        let at = *l;
        *l += usize::from(c == '\n');
        Some((at, c))
    }) {
        match (quote, c) {
            _ if comment => comment = c != '\n',
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '#') if prev.is_whitespace() => comment = true,
            (None, '"' | '\'') if !prev.is_alphanumeric() => quote = Some(c),
            (None, '[' | '{') => {
                depth += 1;
                if depth > MAX_YAML_NESTING {
                    return Err(format!(
                        "line {line}: brackets nested deeper than {MAX_YAML_NESTING}"
                    ));
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        prev = c;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_directory_and_large_files_are_refused_by_kind_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_bounded(&fifo, 10).unwrap_err();
        assert_eq!(err.reason(), "not_regular", "{err}");
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert_eq!(
            read_bounded(dir.path(), 10).unwrap_err().reason(),
            "not_regular"
        );
        let big = dir.path().join("big");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let err = read_bounded(&big, 64).unwrap_err();
        assert!(err.to_string().contains("1073741824 bytes"), "{err}");
        assert_eq!(
            read_bounded(&dir.path().join("none"), 1)
                .unwrap_err()
                .reason(),
            "not_found"
        );
        assert_eq!(
            read_bounded(Path::new("/dev/zero"), 1)
                .unwrap_err()
                .reason(),
            "not_regular"
        );
    }

    #[test]
    fn deeply_nested_yaml_is_refused_before_parsing() {
        assert!(check_yaml_nesting("a: [1, {b: [2]}]\n# [[[[\nc: '[[[['\n").is_ok());
        let hostile = "[".repeat(200_000);
        let err = check_yaml_nesting(&hostile).unwrap_err();
        assert!(err.contains("line 1") && err.contains("64"), "{err}");
    }

    #[test]
    fn keys_with_header_breaking_bytes_are_refused_without_echoing_them() {
        assert_eq!(check_key("sk-ant-abc\n"), Ok("sk-ant-abc"));
        for (bad, needle) in [
            ("sk-ant\r\nX-Evil: 1", "carriage return"),
            ("sk\0ant", "NUL"),
            ("sk ant", "space"),
            ("ské", "non-ASCII"),
            ("  \n", "empty"),
        ] {
            let err = check_key(bad).unwrap_err();
            assert!(err.contains(needle), "{bad:?}: {err}");
            assert!(!err.contains("sk"), "{err}");
        }
    }
}
