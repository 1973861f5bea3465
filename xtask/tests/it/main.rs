//! The deployment, tested through the commands README gives: `cargo xtask image` (run as the
//! real xtask binary) and `python3 xtask/validate_deploy.py`. A missing tool (podman, python's
//! checkers, the release binary) skips a test with a note on a developer machine and fails it
//! under CI (the `CI` variable set).

mod deploy_files;
mod image;
mod support;
