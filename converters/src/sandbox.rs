//! The converters' sandbox: every external program that reads a document (LibreOffice and its
//! Python worker, Ghostscript, qpdf, libtiff's tools) runs inside it.
//!
//! In: a program, its arguments and the one directory it may write (its work directory, which
//! holds its input). Out: a `tokio::process::Command` that runs it under Debian's bubblewrap
//! (`bwrap`) with:
//! - no network (a network namespace of its own, loopback only), its own PID, IPC, UTS and
//!   cgroup namespaces, a new session, killed when faxhub dies;
//! - a file system holding only the system's read-only program, library and font directories
//!   (`/usr`, and the few `/etc` and `/var` entries LibreOffice, fontconfig, Ghostscript and
//!   Python read, each listed in `SYSTEM`), a `passwd`/`group` naming only root and the sandbox
//!   user, an empty private `/tmp` of bounded size, and the work directory: never `data_dir`,
//!   the configuration, keys, agents' folders or `/home`;
//! - no new privileges; as an unprivileged user (`[convert.sandbox] user`, `nobody` by default)
//!   when faxhub runs as root (bwrap builds the namespaces as root, then `setpriv` drops to the
//!   user with no capabilities), or in a user namespace as faxhub's own user otherwise;
//! - ceilings set with `setrlimit` before `bwrap` starts, so every process inside inherits them:
//!   address space (`memory`), CPU time (`cpu`), file size (`file_size`), no core dumps; and a
//!   lower CPU priority (nice 10) and the lowest best-effort disk priority, so that conversion
//!   slows down intake as little as it can;
//! - an empty environment but for `PATH`, `HOME`, `TMPDIR` and `LANG`.
//!
//! `mode = "off"` (the administrator's explicit choice) runs the programs as they are, with the
//! same ceilings. `probe` tells whether the sandbox works on this machine (`faxhub check-config`
//! and `faxhub serve` ask before any conversion). Nothing here survives a crash but the support
//! directory (`passwd`, `group`), which is made again.

use serde::{Deserialize, Serialize};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// bubblewrap, from Debian's package of that name.
pub const BWRAP: &str = "bwrap";
const NOT_INSTALLED: &str = "bubblewrap (bwrap) is not installed (Debian: apt install bubblewrap)";
/// util-linux's setpriv, which drops to the sandbox user inside the namespaces.
const SETPRIV: &str = "/usr/bin/setpriv";
/// External tools run at this lower CPU priority.
const TOOL_NICENESS: libc::c_int = 10;
/// ioprio_set(2): the calling process.
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
/// The tools' disk priority: best effort (class 2), its lowest level (7), below the daemon's
/// fsyncs of mail being accepted.
const TOOL_IO_PRIORITY: libc::c_int = (2 << 13) | 7;
/// Where programs are looked for inside.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// The private `/tmp` inside the sandbox holds at most this much.
const TMP_SIZE: u64 = 256 << 20;
/// Paths what runs inside may read (read-only, each only if it exists): programs and libraries,
/// LibreOffice's registry and `sofficerc`, fonts and their caches, Ghostscript's resources,
/// Python's site customisation, paper size and time zone.
const SYSTEM: [&str; 11] = [
    "/usr",
    "/etc/libreoffice",
    "/etc/fonts",
    "/var/cache/fontconfig",
    "/etc/ghostscript",
    "/var/lib/ghostscript",
    "/etc/ld.so.cache",
    "/etc/python3",
    "/etc/python3.11",
    "/etc/papersize",
    "/etc/localtime",
];

/// Default ceilings.
pub const DEFAULT_MEMORY: u64 = 3_000_000_000;
pub const DEFAULT_CPU: Duration = Duration::from_secs(600);
pub const DEFAULT_FILE_SIZE: u64 = 1 << 30;

/// The `[convert.sandbox]` section of the configuration.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// `bwrap` (the default) or `off`: converters unsandboxed, which faxhub does only when the
    /// administrator writes it.
    pub mode: SandboxMode,
    /// The unprivileged user converters run as when faxhub runs as root.
    pub user: String,
    /// Address-space ceiling of each process (LibreOffice maps ~1 GB before it reads a byte).
    #[serde(with = "faxhub_queue::units::serde_size")]
    pub memory: u64,
    /// CPU-time ceiling of each process (a warm LibreOffice instance that reaches it is replaced
    /// and its document tried on another).
    #[serde(with = "faxhub_queue::units::serde_duration")]
    pub cpu: Duration,
    /// Largest file a converter may write.
    #[serde(with = "faxhub_queue::units::serde_size")]
    pub file_size: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            mode: SandboxMode::Bwrap,
            user: "nobody".into(),
            memory: DEFAULT_MEMORY,
            cpu: DEFAULT_CPU,
            file_size: DEFAULT_FILE_SIZE,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    #[default]
    Bwrap,
    Off,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox user {0:?} does not exist (set [convert.sandbox] user)")]
    NoSuchUser(String),
    #[error("the sandbox's support files could not be written: {0}")]
    Io(#[from] std::io::Error),
}

/// Who the programs run as inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

/// A sandbox ready to wrap commands.
#[derive(Debug)]
pub struct Sandbox {
    config: SandboxConfig,
    /// bwrap as found in faxhub's own `PATH` when the sandbox was made.
    bwrap: Option<PathBuf>,
    /// The user to drop to (faxhub runs as root), else `None`.
    drop_to: Option<Account>,
    /// `passwd` and `group` shown inside.
    etc: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Sandbox {
    /// A sandbox whose support files live in a new directory under `scratch`.
    pub fn new(config: &SandboxConfig, scratch: &Path) -> Result<Sandbox, SandboxError> {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let drop_to = match root {
            true => Some(
                account(&config.user)
                    .ok_or_else(|| SandboxError::NoSuchUser(config.user.clone()))?,
            ),
            false => None,
        };
        let dir = tempfile::Builder::new()
            .prefix("sandbox-")
            .tempdir_in(scratch)?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let (name, id) = match drop_to {
            Some(a) => (config.user.as_str(), a),
            // SAFETY: getuid/getgid have no preconditions.
            None => ("faxhub", unsafe {
                Account {
                    uid: libc::getuid(),
                    gid: libc::getgid(),
                }
            }),
        };
        let etc = dir.path().join("etc");
        std::fs::create_dir(&etc)?;
        std::fs::write(
            etc.join("passwd"),
            format!(
                "root:x:0:0:root:/root:/usr/sbin/nologin\n{name}:x:{}:{}:{name}:/tmp:/usr/sbin/nologin\n",
                id.uid, id.gid
            ),
        )?;
        std::fs::write(
            etc.join("group"),
            format!("root:x:0:\n{name}:x:{}:\n", id.gid),
        )?;
        std::fs::write(
            etc.join("nsswitch.conf"),
            "passwd: files\ngroup: files\nhosts: files\n",
        )?;
        for f in ["passwd", "group", "nsswitch.conf"] {
            std::fs::set_permissions(etc.join(f), std::fs::Permissions::from_mode(0o644))?;
        }
        std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755))?;
        Ok(Sandbox {
            config: config.clone(),
            bwrap: find_in_path(BWRAP),
            drop_to,
            etc,
            _dir: Some(dir),
        })
    }

    pub fn mode(&self) -> SandboxMode {
        self.config.mode
    }

    /// The user programs run as, when faxhub drops to one.
    pub fn account(&self) -> Option<Account> {
        self.drop_to
    }

    /// Gives `dir` (and what is in it, not following links) to the sandbox user, so that a
    /// program running as that user can read its input and write beside it. Nothing to do when
    /// faxhub is not root.
    pub fn hand_over(&self, dir: &Path) -> std::io::Result<()> {
        let (Some(a), SandboxMode::Bwrap) = (self.drop_to, self.config.mode) else {
            return Ok(());
        };
        chown_tree(dir, a, 0)
    }

    /// `program args…` to run inside the sandbox, writing only in `workdir` (also its working
    /// directory, `HOME` and `TMPDIR`); `read_only` paths are shown too, at the same place.
    /// Stdin, stdout and stderr are the caller's to set.
    pub fn command<I, S>(
        &self,
        program: &str,
        args: I,
        workdir: &Path,
        read_only: &[&Path],
    ) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = match self.config.mode {
            SandboxMode::Off => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
            SandboxMode::Bwrap => {
                // a name alone would be looked up in the PATH given to the child; without bwrap
                // the probe fails first and nothing is run
                let mut c = Command::new(self.bwrap.as_deref().unwrap_or(Path::new(BWRAP)));
                c.args(self.bwrap_args(workdir, read_only));
                if self.drop_to.is_some() {
                    c.args(self.setpriv_args());
                }
                c.arg(program).args(args);
                c
            }
        };
        command
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", workdir)
            .env("TMPDIR", workdir)
            .env("LANG", "C.UTF-8")
            .current_dir(workdir)
            .process_group(0)
            .kill_on_drop(true);
        let limits = Limits::from(&self.config);
        // SAFETY: the closure runs in the child between fork and exec and only calls nice(2)
        // and setrlimit(2), which are async-signal-safe, on values computed before the fork.
        unsafe {
            command.pre_exec(move || limits.apply());
        }
        command
    }

    fn bwrap_args(&self, workdir: &Path, read_only: &[&Path]) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |items: &[&OsStr]| a.extend(items.iter().map(|s| s.to_os_string()));
        let tmp_size = TMP_SIZE.to_string();
        push(&[
            "--proc".as_ref(),
            "/proc".as_ref(),
            "--dev".as_ref(),
            "/dev".as_ref(),
            "--perms".as_ref(),
            "1777".as_ref(),
            "--size".as_ref(),
            tmp_size.as_ref(),
            "--tmpfs".as_ref(),
            "/tmp".as_ref(),
        ]);
        // bwrap makes the directories leading to a bind 0700, or with their modes outside (a
        // 0700 temporary directory of root's): either shuts the sandbox user out (of `/etc`
        // first of all), so they are made 0755 beforehand
        let leading = leading_dirs(
            SYSTEM
                .iter()
                .map(Path::new)
                .chain([Path::new("/etc/passwd")])
                .chain(read_only.iter().copied())
                .chain([workdir]),
        );
        for dir in &leading {
            push(&[
                "--perms".as_ref(),
                "0755".as_ref(),
                "--dir".as_ref(),
                dir.as_os_str(),
            ]);
        }
        for path in SYSTEM {
            push(&["--ro-bind-try".as_ref(), path.as_ref(), path.as_ref()]);
        }
        for link in ["bin", "lib", "lib64", "sbin"] {
            let target = format!("usr/{link}");
            let at = format!("/{link}");
            push(&["--symlink".as_ref(), target.as_ref(), at.as_ref()]);
        }
        for file in ["passwd", "group", "nsswitch.conf"] {
            let src = self.etc.join(file);
            let dst = format!("/etc/{file}");
            push(&["--ro-bind".as_ref(), src.as_os_str(), dst.as_ref()]);
        }
        for path in read_only {
            push(&["--ro-bind".as_ref(), path.as_os_str(), path.as_os_str()]);
        }
        push(&[
            "--bind".as_ref(),
            workdir.as_os_str(),
            workdir.as_os_str(),
            "--chdir".as_ref(),
            workdir.as_os_str(),
        ]);
        // As root, no user namespace: setpriv drops to the sandbox user afterwards. Otherwise a
        // user namespace (bwrap is not setuid on Debian) mapping faxhub's own user.
        if self.drop_to.is_none() {
            push(&["--unshare-user".as_ref()]);
        }
        for ns in ["pid", "net", "ipc", "uts", "cgroup"] {
            let flag = format!("--unshare-{ns}");
            push(&[flag.as_ref()]);
        }
        push(&[
            "--die-with-parent".as_ref(),
            "--new-session".as_ref(),
            "--".as_ref(),
        ]);
        a
    }

    fn setpriv_args(&self) -> Vec<OsString> {
        let Some(a) = self.drop_to else {
            return Vec::new();
        };
        [
            SETPRIV.to_string(),
            format!("--reuid={}", a.uid),
            format!("--regid={}", a.gid),
            "--clear-groups".into(),
            "--inh-caps=-all".into(),
            "--bounding-set=-all".into(),
            "--no-new-privs".into(),
            "--".into(),
        ]
        .into_iter()
        .map(OsString::from)
        .collect()
    }

    /// Whether the sandbox works here: a shell inside must run as the expected user, see no
    /// network interface but loopback, and see neither a file made beside its work directory
    /// nor any of `outside` (files faxhub keeps to itself: the configuration, `data_dir`'s
    /// store). `Err` says what failed.
    pub async fn probe(&self, scratch: &Path, outside: &[&Path]) -> Result<(), String> {
        if self.config.mode == SandboxMode::Off {
            return Ok(());
        }
        if self.bwrap.is_none() {
            return Err(NOT_INSTALLED.into());
        }
        let dir = tempfile::Builder::new()
            .prefix("probe-")
            .tempdir_in(scratch)
            .map_err(|e| format!("no scratch directory: {e}"))?;
        let work = dir.path().join("work");
        let canary = dir.path().join("canary");
        std::fs::create_dir(&work)
            .and_then(|()| std::fs::write(&canary, b"outside"))
            .and_then(|()| self.hand_over(&work))
            .map_err(|e| format!("could not prepare the probe: {e}"))?;
        let script = "id -u; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' '; \
                      echo; for f in \"$@\"; do test -e \"$f\" && echo \"visible: $f\"; done; \
                      echo end";
        let mut args: Vec<&OsStr> = vec!["-c".as_ref(), script.as_ref(), "probe".as_ref()];
        args.push(canary.as_os_str());
        args.extend(outside.iter().map(|p| p.as_os_str()));
        let out = self
            .command("/bin/sh", args, &work, &[])
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => NOT_INSTALLED.to_string(),
                _ => format!("bwrap could not start: {e}"),
            })?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        if !out.status.success() || lines.last() != Some(&"end") || lines.len() < 3 {
            return Err(format!(
                "bwrap failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        // SAFETY: getuid has no preconditions.
        let want = self.drop_to.map_or(unsafe { libc::getuid() }, |a| a.uid);
        if lines[0].trim() != want.to_string() {
            return Err(format!(
                "programs ran as uid {}, not {want}",
                lines[0].trim()
            ));
        }
        let interfaces = lines[1].trim();
        if !interfaces.is_empty() && interfaces != "lo" {
            return Err(format!("the network is visible inside ({interfaces})"));
        }
        if let Some(seen) = lines[2..].iter().find(|l| l.starts_with("visible: ")) {
            return Err(format!("{} inside", seen.trim_start_matches("visible: ")));
        }
        Ok(())
    }

    /// A line for `check-config` and the start-up log.
    pub fn describe(&self) -> String {
        match (self.config.mode, self.drop_to) {
            (SandboxMode::Off, _) => "off (converters run unsandboxed)".into(),
            (SandboxMode::Bwrap, user) => format!(
                "bubblewrap, as {}, memory {} MB, CPU {} s, no network",
                match user {
                    Some(a) => format!("{} (uid {})", self.config.user, a.uid),
                    None => "faxhub's user in a user namespace".into(),
                },
                self.config.memory >> 20,
                self.config.cpu.as_secs()
            ),
        }
    }
}

impl Default for Sandbox {
    /// The sandbox turned off, with the default ceilings (for tests of what is not a converter).
    fn default() -> Self {
        Sandbox {
            config: SandboxConfig {
                mode: SandboxMode::Off,
                ..SandboxConfig::default()
            },
            bwrap: None,
            drop_to: None,
            etc: PathBuf::new(),
            _dir: None,
        }
    }
}

/// The ceilings, computed before the fork.
#[derive(Clone, Copy)]
struct Limits {
    memory: libc::rlim_t,
    cpu: libc::rlim_t,
    file_size: libc::rlim_t,
}

impl From<&SandboxConfig> for Limits {
    fn from(c: &SandboxConfig) -> Self {
        Limits {
            memory: c.memory as libc::rlim_t,
            cpu: c.cpu.as_secs().max(1) as libc::rlim_t,
            file_size: c.file_size as libc::rlim_t,
        }
    }
}

impl Limits {
    fn apply(self) -> std::io::Result<()> {
        let set = |resource, value: libc::rlim_t| {
            let limit = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            // SAFETY: setrlimit reads the struct we pass; it is async-signal-safe.
            match unsafe { libc::setrlimit(resource, &limit) } {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        };
        // SAFETY: nice(2) and ioprio_set(2) are system calls, async-signal-safe; a refusal of
        // either leaves the tool at the daemon's priority, which is no reason not to run it.
        unsafe {
            libc::nice(TOOL_NICENESS);
            libc::syscall(
                libc::SYS_ioprio_set,
                IOPRIO_WHO_PROCESS,
                0,
                TOOL_IO_PRIORITY,
            );
        }
        set(libc::RLIMIT_AS, self.memory)?;
        set(libc::RLIMIT_CPU, self.cpu)?;
        set(libc::RLIMIT_FSIZE, self.file_size)?;
        set(libc::RLIMIT_CORE, 0)
    }
}

/// The directories leading to `paths`, parents first, but for `/`, `/tmp` (a tmpfs of mode 1777)
/// and what lies inside the system's read-only binds.
fn leading_dirs<'a>(paths: impl Iterator<Item = &'a Path>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for path in paths {
        let mut chain: Vec<&Path> = path.ancestors().skip(1).collect();
        chain.reverse();
        for dir in chain {
            let fixed = dir == Path::new("/")
                || dir == Path::new("/tmp")
                || SYSTEM.iter().any(|s| dir.starts_with(s));
            if !fixed && !out.iter().any(|d| d == dir) {
                out.push(dir.to_path_buf());
            }
        }
    }
    out
}

/// Whether `program` is one the sandbox can run: a path that exists, or a name found in `PATH`
/// as set inside (the system's program directories under `/usr`).
pub fn installed(program: &str) -> bool {
    match program.contains('/') {
        true => Path::new(program).is_file(),
        false => PATH
            .split(':')
            .any(|dir| Path::new(dir).join(program).is_file()),
    }
}

/// `program`'s path in faxhub's own `PATH`.
fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The uid and gid of `user`, from the system's user database.
fn account(user: &str) -> Option<Account> {
    let name = CString::new(user).ok()?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwnam_r writes into `pwd` and `buf`, both ours and large enough (it reports
    // ERANGE otherwise); `result` is null or points to `pwd`.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(Account {
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    })
}

/// chown -R without following links, at most a few levels deep (work directories are flat).
fn chown_tree(path: &Path, to: Account, depth: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(to.uid), Some(to.gid))?;
    if depth < 4 && std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), to, depth + 1)?;
        }
    }
    Ok(())
}
