//! CPU time and memory of a process, or of some threads of this one, from `/proc`.

use std::collections::BTreeMap;
use std::path::Path;

/// Clock ticks per second of `/proc/*/stat` (`USER_HZ`): 100 on every Linux target we run.
const TICKS_PER_SECOND: f64 = 100.0;

/// A reading of a process's (or threads') usage.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Usage {
    /// User plus system CPU seconds.
    pub(crate) cpu_seconds: f64,
    /// Peak resident set (`VmHWM`), bytes; zero for thread groups.
    pub(crate) peak_rss_bytes: u64,
    /// Current resident set (`VmRSS`), bytes; zero for thread groups.
    pub(crate) rss_bytes: u64,
    /// Of the current resident set: anonymous memory (heap, stacks) and file pages (SQLite's
    /// memory-mapped database among them), bytes.
    pub(crate) rss_anon_bytes: u64,
    pub(crate) rss_file_bytes: u64,
}

/// The usage of process `pid`, or `None` when it is gone.
pub(crate) fn process(pid: u32) -> Option<Usage> {
    let base = format!("/proc/{pid}");
    let cpu_seconds = cpu_of_stat(&std::fs::read_to_string(format!("{base}/stat")).ok()?)?;
    let status = std::fs::read_to_string(format!("{base}/status")).ok()?;
    Some(Usage {
        cpu_seconds,
        peak_rss_bytes: status_kib(&status, "VmHWM:") * 1024,
        rss_bytes: status_kib(&status, "VmRSS:") * 1024,
        rss_anon_bytes: status_kib(&status, "RssAnon:") * 1024,
        rss_file_bytes: status_kib(&status, "RssFile:") * 1024,
    })
}

/// CPU seconds of this process's threads whose name starts with one of `prefixes`.
pub(crate) fn own_threads(prefixes: &[&str]) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut total = 0.0;
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if prefixes.iter().any(|prefix| name.starts_with(prefix))
            && let Some(seconds) = read_cpu(&path.join("stat"))
        {
            total += seconds;
        }
    }
    total
}

/// CPU seconds of each thread of process `pid` (or of this process, for `None`), summed by
/// thread name: where a process's time goes, without a profiler.
pub(crate) fn threads_by_name(pid: Option<u32>) -> BTreeMap<String, f64> {
    let base = match pid {
        Some(pid) => format!("/proc/{pid}/task"),
        None => "/proc/self/task".to_owned(),
    };
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(base) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if let Some(seconds) = read_cpu(&path.join("stat")) {
            *by_name.entry(name.trim().to_owned()).or_insert(0.0) += seconds;
        }
    }
    by_name
}

/// `after - before` per name, dropping names that used no time.
pub(crate) fn difference(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(name, seconds)| {
            (
                name.clone(),
                seconds - before.get(name).copied().unwrap_or(0.0),
            )
        })
        .filter(|(_, seconds)| *seconds > 0.0)
        .collect()
}

fn read_cpu(path: &Path) -> Option<f64> {
    cpu_of_stat(&std::fs::read_to_string(path).ok()?)
}

/// `utime + stime` of a `stat` line; the command name may contain spaces, so fields are
/// counted after its closing parenthesis.
fn cpu_of_stat(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the full line, utime 14 and stime 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

fn status_kib(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_with_spaces_in_the_name() {
        let line = "1234 (tokio worker 1) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 4 0";
        assert_eq!(cpu_of_stat(line), Some(3.0));
    }

    #[test]
    fn this_process_is_readable() {
        let usage = process(std::process::id()).unwrap();
        assert!(usage.peak_rss_bytes > 0);
        assert!(usage.rss_bytes > 0);
    }
}
