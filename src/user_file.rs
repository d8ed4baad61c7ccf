//! The one way Loupe reads text a user hands it — a CSV, a training
//! configuration, a schema, lines on standard input: a *regular file* only
//! where a file is expected (a FIFO would block forever, a device such as
//! `/dev/zero` never ends), at most a stated number of bytes (read through
//! `take`, so a larger file is never held whole), UTF-8 with a leading BOM
//! dropped; standard input line by line, each line bounded. A leaf: it
//! imports nothing of Loupe's.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// The largest JSON file (a training configuration, a schema) Loupe reads.
pub const MAX_JSON_BYTES: u64 = 16 << 20;
/// The largest credential file (`.pgpass`, a PEM certificate or key) Loupe reads.
pub const MAX_CREDENTIAL_BYTES: u64 = 1 << 20;
/// The longest line read from standard input (`label --stdin`, `grade --stdin`).
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// The longest piece of a user's text a message repeats.
pub const SHOWN_CHARS: usize = 80;

/// A user's word as a message quotes it: `"…"` (escaped as `{:?}` does),
/// cut to [`SHOWN_CHARS`] characters with the whole length said, so a
/// 60 KB "name" is not echoed back whole.
pub fn shown(text: &str) -> String {
    let chars = text.chars().count();
    if chars <= SHOWN_CHARS {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(SHOWN_CHARS).collect();
    format!("{head:?}… ({chars} characters)")
}

/// A user's word cut to [`SHOWN_CHARS`] characters (`…` where cut), unquoted.
pub fn cut(text: &str) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        return text.to_string();
    }
    text.chars().take(SHOWN_CHARS).chain(['…']).collect()
}

/// Why a user's file or line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UserFileError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is {kind}, not a regular file", path.display())]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("{} is larger than {} MiB: not a {what} Loupe reads", path.display(), limit >> 20)]
    TooLarge {
        path: PathBuf,
        limit: u64,
        what: &'static str,
    },
    #[error("{} is not UTF-8 text (byte {at} is not): save it as UTF-8", path.display())]
    NotUtf8 { path: PathBuf, at: usize },
}

/// What a non-regular file is, in words.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a folder"
    } else {
        "not a file"
    }
}

/// The text of the regular file at `path` (symbolic links followed), at
/// most `limit` bytes, as UTF-8 without a leading BOM; `what` names the
/// kind of file in the size error ("CSV", "JSON file").
pub fn read_text(path: &Path, limit: u64, what: &'static str) -> Result<String, UserFileError> {
    let io = |source| UserFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Checked before opening: opening a FIFO blocks until a writer comes.
    let metadata = std::fs::metadata(path).map_err(io)?;
    if !metadata.is_file() {
        return Err(UserFileError::NotAFile {
            path: path.to_path_buf(),
            kind: kind_of(metadata.file_type()),
        });
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(UserFileError::TooLarge {
            path: path.to_path_buf(),
            limit,
            what,
        });
    }
    let mut text = String::from_utf8(bytes).map_err(|e| UserFileError::NotUtf8 {
        path: path.to_path_buf(),
        at: e.utf8_error().valid_up_to(),
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// One line of a bounded line reader.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The line's text (without its line ending).
    Text(String),
    /// The line is not UTF-8 (it is skipped; later lines are read).
    NotUtf8,
}

/// Why reading lines stopped early.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("reading standard input: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line} is longer than {} KiB: not a line Loupe reads", limit >> 10)]
    TooLong { line: usize, limit: usize },
}

/// Reads `reader` line by line, each at most `limit` bytes: the next line
/// (1-based number and content), `None` at the end. A longer line stops the
/// reading with an error rather than being held whole (a stream without
/// line breaks, such as `/dev/zero`, has no end to skip to).
pub fn next_line(
    reader: &mut impl BufRead,
    number: &mut usize,
    limit: usize,
) -> Result<Option<Line>, LineError> {
    let mut bytes = Vec::new();
    let read = reader
        .by_ref()
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut bytes)?;
    if read == 0 {
        return Ok(None);
    }
    *number += 1;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    } else if bytes.len() > limit {
        return Err(LineError::TooLong {
            line: *number,
            limit,
        });
    }
    Ok(Some(match String::from_utf8(bytes) {
        Ok(text) => Line::Text(text),
        Err(_) => Line::NotUtf8,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_words_are_shown_cut_with_their_length() {
        assert_eq!(shown("a\tb"), "\"a\\tb\"");
        let long = "x".repeat(10_000);
        let s = shown(&long);
        assert!(s.ends_with("… (10000 characters)") && s.len() < 120, "{s}");
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.csv");
        std::fs::write(&file, "\u{feff}a,b\n").unwrap();
        assert_eq!(read_text(&file, 100, "CSV").unwrap(), "a,b\n");
        let error = read_text(&file, 4, "CSV").unwrap_err().to_string();
        assert!(error.contains("larger than 0 MiB: not a CSV"), "{error}");
        let error = read_text(dir.path(), 100, "CSV").unwrap_err().to_string();
        assert!(
            error.ends_with("is a folder, not a regular file"),
            "{error}"
        );
        #[cfg(unix)]
        {
            let error = read_text(Path::new("/dev/zero"), 100, "CSV").unwrap_err();
            assert!(error.to_string().contains("is a device"), "{error}");
            let fifo = dir.path().join("fifo");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            if made.is_ok_and(|s| s.success()) {
                // Refused at once: opening it would wait for a writer forever.
                let error = read_text(&fifo, 100, "CSV").unwrap_err().to_string();
                assert!(error.contains("a FIFO (named pipe)"), "{error}");
            }
        }
        std::fs::write(&file, [b'a', 0xff, b'b']).unwrap();
        let error = read_text(&file, 100, "CSV").unwrap_err().to_string();
        assert!(error.contains("byte 1 is not"), "{error}");
    }

    #[test]
    fn lines_are_bounded_and_a_bad_one_does_not_end_the_rest() {
        let input: &[u8] = b"one\r\n\xff\xfe\ntwo\nthree-is-long\nfour";
        let mut reader = std::io::BufReader::new(input);
        let mut number = 0;
        let mut next = || next_line(&mut reader, &mut number, 8);
        assert_eq!(next().unwrap(), Some(Line::Text("one".into())));
        assert_eq!(next().unwrap(), Some(Line::NotUtf8));
        assert_eq!(next().unwrap(), Some(Line::Text("two".into())));
        let error = next().unwrap_err().to_string();
        assert_eq!(error, "line 4 is longer than 0 KiB: not a line Loupe reads");
        // A line of exactly the limit, without a final newline, is read.
        let mut exact = std::io::BufReader::new(&b"12345678"[..]);
        let mut n = 0;
        assert_eq!(
            next_line(&mut exact, &mut n, 8).unwrap(),
            Some(Line::Text("12345678".into()))
        );
        assert_eq!(next_line(&mut exact, &mut n, 8).unwrap(), None);
        // An endless stream without line breaks stops at the limit.
        let mut zeros = std::io::BufReader::new(std::io::repeat(0));
        let mut n = 0;
        assert!(next_line(&mut zeros, &mut n, 1 << 10).is_err());
    }
}
