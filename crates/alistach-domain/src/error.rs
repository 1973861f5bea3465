//! The validation error every constructor in this crate returns: which field, which rule.

use std::fmt;

/// A value that breaks a rule. `field` names the input field as the HTTP contract spells it,
/// `rule` says what was expected, in words a client developer can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The offending field, e.g. `page_size`.
    pub field: &'static str,
    /// What the field must satisfy, e.g. `must be between 1 and 50`.
    pub rule: String,
}

impl ValidationError {
    /// Builds an error for `field` breaking `rule`.
    pub fn new(field: &'static str, rule: impl Into<String>) -> Self {
        Self {
            field,
            rule: rule.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.rule)
    }
}

impl std::error::Error for ValidationError {}
