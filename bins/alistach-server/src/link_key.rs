//! The key that signs tracked links: `LINK_SIGNING_KEY`, or else one generated once from the
//! operating system's random source and kept in `DATA_DIR/link-signing-key` (owner-only), so
//! links handed out before a restart still redirect after it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Secret;

/// The key file's name inside `DATA_DIR`.
pub const KEY_FILE: &str = "link-signing-key";
/// The shortest key accepted (the generated one is 64 hex digits: 256 bits).
const MIN_KEY_CHARS: usize = 32;

/// The configured key, else the one kept in `data_dir` (generated and written on first use).
pub fn load_or_create(configured: Option<&Secret>, data_dir: &Path) -> anyhow::Result<Secret> {
    if let Some(key) = configured {
        return Ok(key.clone());
    }
    let path = data_dir.join(KEY_FILE);
    if let Some(key) = read(&path)? {
        tracing::info!(path = %path.display(), "link-signing key read from DATA_DIR");
        return Ok(key);
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create DATA_DIR {}", data_dir.display()))?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no random source for a link-signing key: {e}"))?;
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Written beside, then linked into place: never overwrites a key another instance just
    // wrote, and nobody ever reads a half-written file.
    let tmp = temp_path(data_dir);
    let written = write_private(&tmp, &key);
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, &path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "link-signing key generated and kept in DATA_DIR (set LINK_SIGNING_KEY to share one between instances)");
            Ok(Secret::new(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(&path)?.context("the link-signing key file appeared but cannot be read")
        }
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
}

fn read(path: &Path) -> anyhow::Result<Option<Secret>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = text.trim();
            if key.chars().count() < MIN_KEY_CHARS {
                anyhow::bail!(
                    "{} holds a link-signing key shorter than {MIN_KEY_CHARS} characters; remove it to generate a new one (links handed out before stop redirecting)",
                    path.display()
                );
            }
            Ok(Some(Secret::new(key)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn temp_path(dir: &Path) -> PathBuf {
    dir.join(format!(".{KEY_FILE}.{}.tmp", std::process::id()))
}

fn write_private(path: &Path, key: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(key.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "alistach-link-key-{name}-{}-{}",
            std::process::id(),
            fastrand_suffix()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn fastrand_suffix() -> u64 {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).unwrap();
        u64::from_le_bytes(b)
    }

    #[test]
    fn a_generated_key_is_kept_and_read_back() {
        let dir = temp_dir("keep");
        let first = load_or_create(None, &dir).unwrap();
        assert_eq!(first.expose().len(), 64);
        let second = load_or_create(None, &dir).unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = load_or_create(None, &temp_dir("other")).unwrap();
        assert_ne!(first, other);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_configured_key_wins_and_a_short_file_is_refused() {
        let dir = temp_dir("short");
        let configured = Secret::new("c".repeat(40));
        assert_eq!(load_or_create(Some(&configured), &dir).unwrap(), configured);
        assert!(
            !dir.exists(),
            "nothing is written when the key is configured"
        );
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(KEY_FILE), "short\n").unwrap();
        let err = load_or_create(None, &dir).unwrap_err().to_string();
        assert!(err.contains("shorter than 32"), "{err}");
        assert!(!err.contains("short\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
