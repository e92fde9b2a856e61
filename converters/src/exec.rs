//! The one way faxhub runs an external program.
//!
//! argv only (never a shell string); stdin closed; inside the converters' sandbox (`sandbox`: no
//! network, only the system's files and the work directory, memory and CPU ceilings, nice 10, an
//! unprivileged user); its own process group, working directory and `TMPDIR` (a private scratch
//! directory, the only one it may write); a hard timeout after which the whole process group is
//! killed; stdout and stderr read concurrently and capped so a chatty tool can neither block nor
//! exhaust memory. Fails with `ExecError` naming the tool.

use crate::sandbox::Sandbox;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
/// Bytes kept of each of stdout and stderr.
pub const OUTPUT_CAP: usize = 64 * 1024;

#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{tool} is not installed")]
    NotFound { tool: String },
    #[error("{tool} did not finish within {after:?}")]
    Timeout { tool: String, after: Duration },
    #[error("could not run {tool}: {source}")]
    Io {
        tool: String,
        source: std::io::Error,
    },
}

/// Runs `program args…` in `workdir` (the one directory it may write) inside `sandbox` with a
/// hard `timeout`.
pub async fn run<I, S>(
    sandbox: &Sandbox,
    program: &str,
    args: I,
    workdir: &Path,
    timeout: Duration,
) -> Result<Output, ExecError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    if !crate::sandbox::installed(program) {
        return Err(ExecError::NotFound {
            tool: program.to_string(),
        });
    }
    sandbox.hand_over(workdir).map_err(|source| ExecError::Io {
        tool: program.to_string(),
        source,
    })?;
    let mut child = sandbox
        .command(program, args, workdir, &[])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ExecError::NotFound {
                tool: program.to_string(),
            },
            _ => ExecError::Io {
                tool: program.to_string(),
                source,
            },
        })?;
    let pid = child.id();
    let stdout = tokio::spawn(read_capped(child.stdout.take()));
    let stderr = tokio::spawn(read_capped(child.stderr.take()));
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status.map_err(|source| ExecError::Io {
            tool: program.to_string(),
            source,
        })?,
        Err(_) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            let _ = child.wait().await;
            return Err(ExecError::Timeout {
                tool: program.to_string(),
                after: timeout,
            });
        }
    };
    // The tool may have left children holding the pipes open: don't wait for them forever.
    if let Some(pid) = pid {
        kill_group(pid);
    }
    Ok(Output {
        status,
        stdout: stdout.await.unwrap_or_default(),
        stderr: stderr.await.unwrap_or_default(),
    })
}

/// Kills a process group started with `process_group(0)` (its id is the leader's pid).
pub(crate) fn kill_group(pid: u32) {
    // SAFETY: killpg sends a signal; it touches no memory of ours. The group id is the child's
    // pid because it was started with process_group(0).
    unsafe {
        libc::killpg(pid as libc::pid_t, libc::SIGKILL);
    }
}

async fn read_capped<R: AsyncRead + Unpin>(pipe: Option<R>) -> Vec<u8> {
    let Some(mut pipe) = pipe else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_CAP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn runs_and_captures() {
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            &Sandbox::default(),
            "sh",
            ["-c", "echo hello; echo oops >&2; exit 3"],
            dir.path(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(out.stdout, b"hello\n");
        assert_eq!(out.stderr, b"oops\n");
        assert_eq!(out.status.code(), Some(3));
    }

    #[tokio::test]
    async fn kills_the_whole_group_on_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let start = Instant::now();
        // The grandchild would keep the pipes open for 30 s if it were not killed with its group.
        let err = run(
            &Sandbox::default(),
            "sh",
            ["-c", "sleep 30 & sleep 30"],
            dir.path(),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ExecError::Timeout { .. }), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn caps_output_and_reports_missing_tools() {
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            &Sandbox::default(),
            "sh",
            ["-c", "head -c 1000000 /dev/zero"],
            dir.path(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(out.stdout.len(), OUTPUT_CAP);
        let err = run(
            &Sandbox::default(),
            "no-such-tool-faxhub",
            ["x"],
            dir.path(),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ExecError::NotFound { .. }));
        let stdin_closed = run(
            &Sandbox::default(),
            "cat",
            Vec::<&str>::new(),
            dir.path(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert!(stdin_closed.status.success());
    }
}
