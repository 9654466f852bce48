//! `--log-file`: a log file that is rotated by size, `PATH` then `PATH.1` … `PATH.N` (oldest
//! last), created readable by its owner only, since log lines may carry job ids and URLs.
//!
//! A small writer of its own rather than a crate: the rotation is a handful of renames, and the
//! crates that do it bring a date library the workspace does not otherwise use.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where the log file is and when it is rotated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogFileConfig {
    /// The file written to; rotated files sit beside it as `PATH.1` … `PATH.keep`.
    pub(crate) path: PathBuf,
    /// The file is rotated before a line would take it past this many bytes.
    pub(crate) max_bytes: u64,
    /// How many rotated files are kept; `0` keeps none (the file starts over).
    pub(crate) keep: usize,
}

impl LogFileConfig {
    /// The default `--log-file-max-mib`.
    pub(crate) const DEFAULT_MAX_MIB: u64 = 100;
    /// The default `--log-file-keep`.
    pub(crate) const DEFAULT_KEEP: usize = 5;
}

/// An open log file that rotates itself by size. A line is never split across two files.
#[derive(Debug)]
pub(crate) struct RotatingFile {
    config: LogFileConfig,
    file: File,
    /// The bytes in `file`.
    size: u64,
}

impl RotatingFile {
    /// Opens (or creates, mode 0600) the file for appending; the error names the path.
    pub(crate) fn open(config: LogFileConfig) -> io::Result<RotatingFile> {
        let file = open_append(&config.path)?;
        let size = file
            .metadata()
            .map_err(|error| name_path(&config.path, error))?
            .len();
        Ok(RotatingFile { config, file, size })
    }

    /// Shifts `PATH.i` to `PATH.i+1` (dropping the last), `PATH` to `PATH.1`, and starts a new
    /// `PATH`. On an error the current file is kept, and the next write tries again.
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let path = &self.config.path;
        if self.config.keep == 0 {
            remove_if_present(path)?;
        } else {
            remove_if_present(&numbered(path, self.config.keep))?;
            for index in (1..self.config.keep).rev() {
                rename_if_present(&numbered(path, index), &numbered(path, index + 1))?;
            }
            rename_if_present(path, &numbered(path, 1))?;
        }
        self.file = open_append(path)?;
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let length = buf.len() as u64;
        if self.size > 0 && self.size.saturating_add(length) > self.config.max_bytes {
            self.rotate()?;
        }
        // The whole buffer at once, so that a line is never split by a rotation.
        self.file.write_all(buf)?;
        self.size += length;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Writes every log line to standard error and to the log file. Neither stops the other: a
/// failing file's error is reported on standard error once per run of failures.
pub(crate) struct StderrAndFile {
    file: RotatingFile,
    file_failing: bool,
}

impl StderrAndFile {
    /// Writes to standard error and `file`.
    pub(crate) fn new(file: RotatingFile) -> StderrAndFile {
        StderrAndFile {
            file,
            file_failing: false,
        }
    }
}

impl Write for StderrAndFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut stderr = io::stderr().lock();
        // A closed standard error must not cost the file its lines.
        let _ = stderr.write_all(buf);
        match self.file.write_all(buf) {
            Ok(()) => self.file_failing = false,
            Err(error) if !self.file_failing => {
                self.file_failing = true;
                let _ = writeln!(
                    stderr,
                    "cannot write the log file {}: {error}",
                    self.file.config.path.display()
                );
            }
            Err(_) => {}
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // A file error has been reported by `write`.
        let _ = io::stderr().flush();
        let _ = self.file.flush();
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|error| name_path(path, error))
}

fn numbered(path: &Path, index: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{index}"));
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(name_path(path, error)),
        _ => Ok(()),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(name_path(from, error)),
        _ => Ok(()),
    }
}

fn name_path(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir, max_bytes: u64, keep: usize) -> RotatingFile {
        RotatingFile::open(LogFileConfig {
            path: dir.path().join("scheduler.log"),
            max_bytes,
            keep,
        })
        .unwrap()
    }

    fn read(dir: &tempfile::TempDir, name: &str) -> Option<String> {
        std::fs::read_to_string(dir.path().join(name)).ok()
    }

    fn write_lines(file: &mut RotatingFile, lines: &[&str]) {
        for line in lines {
            file.write_all(format!("{line}\n").as_bytes()).unwrap();
            file.flush().unwrap();
        }
    }

    #[test]
    fn rotates_by_size_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        // Each line is 7 bytes: two fit in 15, a third does not.
        let mut file = open(&dir, 15, 2);
        write_lines(
            &mut file,
            &[
                "line 1", "line 2", "line 3", "line 4", "line 5", "line 6", "line 7",
            ],
        );
        assert_eq!(read(&dir, "scheduler.log").unwrap(), "line 7\n");
        assert_eq!(read(&dir, "scheduler.log.1").unwrap(), "line 5\nline 6\n");
        assert_eq!(read(&dir, "scheduler.log.2").unwrap(), "line 3\nline 4\n");
        assert_eq!(read(&dir, "scheduler.log.3"), None);
    }

    #[test]
    fn keeping_none_starts_the_file_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = open(&dir, 10, 0);
        write_lines(&mut file, &["line 1", "line 2", "line 3"]);
        assert_eq!(read(&dir, "scheduler.log").unwrap(), "line 3\n");
        assert_eq!(read(&dir, "scheduler.log.1"), None);
    }

    #[test]
    fn a_line_longer_than_the_limit_is_written_whole_into_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = open(&dir, 4, 3);
        write_lines(&mut file, &["a long line", "next"]);
        assert_eq!(read(&dir, "scheduler.log").unwrap(), "next\n");
        assert_eq!(read(&dir, "scheduler.log.1").unwrap(), "a long line\n");
    }

    #[test]
    fn reopening_appends_and_counts_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        write_lines(&mut open(&dir, 15, 1), &["line 1"]);
        let mut file = open(&dir, 15, 1);
        write_lines(&mut file, &["line 2", "line 3"]);
        assert_eq!(read(&dir, "scheduler.log").unwrap(), "line 3\n");
        assert_eq!(read(&dir, "scheduler.log.1").unwrap(), "line 1\nline 2\n");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_created_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut file = open(&dir, 10, 1);
        write_lines(&mut file, &["line 1", "line 2"]);
        for name in ["scheduler.log", "scheduler.log.1"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("scheduler.log");
        let error = RotatingFile::open(LogFileConfig {
            path: path.clone(),
            max_bytes: 10,
            keep: 1,
        })
        .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
    }
}
