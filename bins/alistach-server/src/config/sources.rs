//! Where raw setting text comes from: flags and environment variables (clap arguments built from
//! the settings table) and the `--config` TOML file (its keys checked against the same table).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use clap::{Arg, ArgMatches, Parser};
use serde::{Deserialize, Deserializer, de::Error as _};

use super::settings;

/// The AliStach gateway: AliExpress affiliate search, details and links for LLM agents.
#[derive(Parser, Debug, Default)]
#[command(name = "alistach-server", version, about, long_about = None)]
pub struct Args {
    /// TOML configuration file (keys are the lowercase option names, e.g. `app_key`, `cache_ttl`).
    #[arg(long, env = "ALISTACH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Validate the configuration, print it with secrets redacted, and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Every setting of the table, as a flag with its environment variable.
    #[command(flatten)]
    pub given: Given,
    /// What to run; the HTTP server when none is named.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary runs.
#[derive(clap::Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Serve the MCP tools over stdin/stdout, for desktop clients that start the server as a
    /// child process (Claude Desktop and others). Logs go to stderr; stdout carries only the
    /// protocol. Every setting applies as for the HTTP server.
    Mcp,
    /// Ask the server running with these settings for `/livez` over loopback: exit 0 on a 200,
    /// 1 otherwise. For container health checks in an image without a shell or curl.
    Healthcheck,
}

/// The settings given as flags or environment variables (clap prefers the flag), by TOML key.
#[derive(Default, Clone)]
pub struct Given(BTreeMap<&'static str, String>);

impl Given {
    /// The text given for `key`; an empty (or blank) value counts as unset.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

impl fmt::Debug for Given {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted_map(f, &self.0)
    }
}

impl clap::Args for Given {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for s in settings::all() {
            cmd = cmd.arg(
                Arg::new(s.key)
                    .long(s.flag.as_str())
                    .env(s.env)
                    .value_name(s.value_name.as_str())
                    .value_parser(clap::value_parser!(String))
                    .hide_env_values(s.secret)
                    .help(help_line(s)),
            );
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for Given {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Given::default();
        given.update_from_arg_matches(matches)?;
        Ok(given)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for s in settings::all() {
            if let Some(value) = matches.get_one::<String>(s.key) {
                self.0.insert(s.key, value.clone());
            }
        }
        Ok(())
    }
}

/// The setting's line in `--help`: its documentation, accepted values and default.
fn help_line(s: &settings::Setting) -> String {
    let mut line = s.doc.clone();
    if let Some(rule) = &s.rule {
        line.push_str(&format!(" [values: {rule}]"));
    }
    if let Some(default) = s.default.as_ref().filter(|_| !s.secret) {
        line.push_str(&format!(" [default: {default}]"));
    }
    line
}

/// The `--config` TOML file: a scalar per setting key, `[rate_limits.<key name>]` tables and
/// `[[tenants]]`.
#[derive(Default)]
pub struct FileConfig {
    values: BTreeMap<&'static str, String>,
    /// Per-key limits, by API key name.
    pub rate_limits: BTreeMap<String, KeyLimits>,
    /// `[[tenants]]`: the tenants the file defines (secrets only by environment-variable name).
    pub tenants: Vec<alistach_service::TenantDoc>,
}

impl FileConfig {
    /// The text the file gives for `key`; an empty string counts as unset.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

impl fmt::Debug for FileConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted_map(f, &self.values)?;
        write!(
            f,
            " rate_limits: {:?} tenants: {:?}",
            self.rate_limits, self.tenants
        )
    }
}

impl<'de> Deserialize<'de> for FileConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut file = FileConfig::default();
        for (key, value) in toml::Table::deserialize(d)? {
            if key == "rate_limits" {
                file.rate_limits = value.try_into().map_err(D::Error::custom)?;
                continue;
            }
            if key == "tenants" {
                file.tenants = value
                    .try_into()
                    .map_err(|e| D::Error::custom(format!("[[tenants]]: {e}")))?;
                continue;
            }
            let Some(setting) = settings::find(&key) else {
                return Err(D::Error::custom(format!(
                    "unknown key `{key}` (keys are the lowercase option names, e.g. `cache_ttl`)"
                )));
            };
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(x) => x.to_string(),
                _ => {
                    return Err(D::Error::custom(format!(
                        "`{key}` must be a string, number or boolean"
                    )));
                }
            };
            file.values.insert(setting.key, text);
        }
        Ok(file)
    }
}

/// Per-key limits in the TOML file: `[rate_limits.<key name>]`.
#[derive(Deserialize, Debug, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct KeyLimits {
    pub per_minute: Option<u32>,
    pub per_second: Option<u32>,
}

/// Reads the TOML file named by `--config`, if any.
pub fn read_file(path: Option<&PathBuf>) -> Result<FileConfig, String> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config file {}: {}", path.display(), e.message()))
}

fn redacted_map(
    f: &mut fmt::Formatter<'_>,
    values: &BTreeMap<&'static str, String>,
) -> fmt::Result {
    let mut map = f.debug_map();
    for (key, value) in values {
        let secret = settings::find(key).is_some_and(|s| s.secret);
        map.entry(key, &if secret { "***" } else { value.as_str() });
    }
    map.finish()
}
