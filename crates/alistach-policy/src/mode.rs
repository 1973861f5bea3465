//! Mode detection: real mode exactly when usable credentials are configured.

use std::str::FromStr;

use alistach_domain::ApiMode;

/// The `MOCK_MODE` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MockModeSetting {
    /// Real mode exactly when an app key and secret are configured (the default).
    #[default]
    Auto,
    /// Always mock.
    Force,
    /// Never mock: credentials are required.
    Off,
}

impl FromStr for MockModeSetting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(MockModeSetting::Auto),
            "true" | "1" | "yes" | "on" => Ok(MockModeSetting::Force),
            "false" | "0" | "no" | "off" => Ok(MockModeSetting::Off),
            other => Err(format!(
                "MOCK_MODE must be auto, true or false, not {other:?}"
            )),
        }
    }
}

/// Whether each credential is present (values are not needed to decide).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// An app key is configured and is not a placeholder.
    pub app_key: bool,
    /// An app secret is configured and is not a placeholder.
    pub app_secret: bool,
}

impl Credentials {
    /// Judges raw configured values: empty values and obvious placeholders
    /// (`your_app_key`, `changeme`, `xxx` ...) do not count.
    pub fn from_values(app_key: Option<&str>, app_secret: Option<&str>) -> Self {
        Credentials {
            app_key: is_usable(app_key),
            app_secret: is_usable(app_secret),
        }
    }

    /// Both present.
    pub fn complete(self) -> bool {
        self.app_key && self.app_secret
    }
}

fn is_usable(value: Option<&str>) -> bool {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return false;
    };
    let lower = v.to_ascii_lowercase();
    let placeholder = lower.starts_with("your")
        || lower.contains("placeholder")
        || lower.contains("changeme")
        || lower.contains("change_me")
        || lower.chars().all(|c| c == 'x' || c == '*')
        || lower == "none"
        || lower == "null";
    !placeholder
}

/// Why the configured mode cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    /// `MOCK_MODE=false` without credentials.
    #[error(
        "MOCK_MODE=false requires ALIEXPRESS_APP_KEY and ALIEXPRESS_APP_SECRET (missing: {missing})"
    )]
    CredentialsRequired {
        /// Which variables are missing.
        missing: String,
    },
}

/// Decides the mode. `Auto` is real exactly when both credentials are present; `Off` refuses
/// to run without them; `Force` is always mock.
pub fn detect_mode(
    setting: MockModeSetting,
    credentials: Credentials,
) -> Result<ApiMode, ModeError> {
    match setting {
        MockModeSetting::Force => Ok(ApiMode::Mock),
        MockModeSetting::Auto if credentials.complete() => Ok(ApiMode::Real),
        MockModeSetting::Auto => Ok(ApiMode::Mock),
        MockModeSetting::Off if credentials.complete() => Ok(ApiMode::Real),
        MockModeSetting::Off => {
            let mut missing = Vec::new();
            if !credentials.app_key {
                missing.push("ALIEXPRESS_APP_KEY");
            }
            if !credentials.app_secret {
                missing.push("ALIEXPRESS_APP_SECRET");
            }
            Err(ModeError::CredentialsRequired {
                missing: missing.join(", "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_real_exactly_with_both_credentials() {
        let both = Credentials::from_values(Some("12345678"), Some("s3cr3t"));
        let key_only = Credentials::from_values(Some("12345678"), None);
        let placeholder = Credentials::from_values(Some("your_app_key"), Some("xxxx"));
        assert_eq!(detect_mode(MockModeSetting::Auto, both), Ok(ApiMode::Real));
        assert_eq!(
            detect_mode(MockModeSetting::Auto, key_only),
            Ok(ApiMode::Mock)
        );
        assert_eq!(
            detect_mode(MockModeSetting::Auto, placeholder),
            Ok(ApiMode::Mock)
        );
        assert_eq!(detect_mode(MockModeSetting::Force, both), Ok(ApiMode::Mock));
        assert_eq!(detect_mode(MockModeSetting::Off, both), Ok(ApiMode::Real));
        let err = detect_mode(MockModeSetting::Off, key_only).unwrap_err();
        assert!(err.to_string().contains("ALIEXPRESS_APP_SECRET"));
        assert_eq!(
            "TRUE".parse::<MockModeSetting>(),
            Ok(MockModeSetting::Force)
        );
        assert!("maybe".parse::<MockModeSetting>().is_err());
    }
}
