//! The one shutdown signal of every program of the workspace: SIGTERM (on Unix) or Ctrl-C.

use std::io;

/// Resolves on the first of SIGTERM (on Unix) and Ctrl-C, logging which came. A signal that
/// cannot be listened for is left out; the error is returned only when neither can be.
pub async fn shutdown_signal() -> io::Result<()> {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await?;
        Ok::<_, io::Error>("Ctrl-C")
    };
    #[cfg(unix)]
    let term = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        term.recv().await;
        Ok::<_, io::Error>("SIGTERM")
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<io::Result<&'static str>>();
    tokio::pin!(ctrl_c, term);
    let which = tokio::select! {
        r = &mut ctrl_c => match r {
            Ok(which) => which,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for Ctrl-C");
                term.await?
            }
        },
        r = &mut term => match r {
            Ok(which) => which,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                ctrl_c.await?
            }
        },
    };
    tracing::info!("{which} received; finishing in-flight requests");
    Ok(())
}
