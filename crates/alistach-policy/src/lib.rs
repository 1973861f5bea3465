//! Access and operating policy: which mode the service runs in, and (as it grows) who may call
//! what and how often. Decisions only; no transport.

mod mode;

pub use mode::{detect_mode, Credentials, MockModeSetting, ModeError};
