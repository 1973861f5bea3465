//! Which database: a SQLite file or a PostgreSQL URL, from `DATABASE_URL` and `DATA_DIR`.

use std::fmt;
use std::path::{Path, PathBuf};

use alistach_store::StoreError;

/// The SQLite file created under `DATA_DIR` when no `DATABASE_URL` is set.
pub const DEFAULT_SQLITE_FILE: &str = "alistach.db";

/// The database to open.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite database file (created, with its directory, when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user:password@host:port/db`).
    Postgres(String),
}

impl Target {
    /// `database_url` when given (`postgres://…`, `postgresql://…`, `sqlite://PATH` or
    /// `sqlite:PATH`), else `DATA_DIR/alistach.db`.
    pub fn from_settings(
        database_url: Option<&str>,
        data_dir: &Path,
    ) -> Result<Target, StoreError> {
        let Some(url) = database_url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Target::Sqlite(data_dir.join(DEFAULT_SQLITE_FILE)));
        };
        Target::parse(url)
    }

    /// A `DATABASE_URL`.
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(url.to_owned()));
        }
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(StoreError::Config(
                    "a sqlite URL must name a file, e.g. sqlite://data/alistach.db".to_owned(),
                ));
            }
            return Ok(Target::Sqlite(PathBuf::from(path)));
        }
        Err(StoreError::Config(
            "must start with postgres://, postgresql:// or sqlite://".to_owned(),
        ))
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Target::Sqlite(_) => "sqlite",
            Target::Postgres(_) => "postgres",
        }
    }
}

/// The URL with its password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return redact_query(url);
    };
    let user = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => userinfo.to_owned(),
    };
    redact_query(&format!("{scheme}://{user}@{host}{tail}"))
}

/// A `password=` query parameter replaced by `***`.
fn redact_query(url: &str) -> String {
    let Some((head, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{head}?{}", query.join("&"))
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Target::Postgres(url) => f.debug_tuple("Postgres").field(&redact_url(url)).finish(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Sqlite(path) => write!(f, "sqlite {}", path.display()),
            Target::Postgres(url) => write!(f, "postgres {}", redact_url(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_backend() {
        let dir = Path::new("./data");
        assert_eq!(
            Target::from_settings(None, dir).unwrap(),
            Target::Sqlite(PathBuf::from("./data/alistach.db"))
        );
        assert_eq!(
            Target::from_settings(Some("  "), dir).unwrap(),
            Target::Sqlite(PathBuf::from("./data/alistach.db"))
        );
        assert_eq!(
            Target::parse("sqlite:///var/lib/a.db").unwrap(),
            Target::Sqlite(PathBuf::from("/var/lib/a.db"))
        );
        assert_eq!(
            Target::parse("sqlite:rel.db?mode=rwc").unwrap(),
            Target::Sqlite(PathBuf::from("rel.db"))
        );
        assert_eq!(
            Target::parse("postgresql://h/db").unwrap().backend(),
            "postgres"
        );
        assert!(Target::parse("mysql://h/db").is_err());
        assert!(Target::parse("sqlite://").is_err());
    }

    #[test]
    fn passwords_never_show() {
        let t =
            Target::parse("postgres://app:s3cr3t@db.internal:5432/alistach?password=x2").unwrap();
        for shown in [format!("{t:?}"), t.to_string()] {
            assert!(!shown.contains("s3cr3t"), "{shown}");
            assert!(!shown.contains("x2"), "{shown}");
            assert!(
                shown.contains("app:***@db.internal:5432/alistach"),
                "{shown}"
            );
        }
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://u:p@w@h"), "postgres://u:***@h");
    }
}
