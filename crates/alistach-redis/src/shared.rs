//! One multiplexed connection shared by every request, taken from the deadpool pool once and
//! replaced only after a failure.
//!
//! deadpool-redis checks a connection (UNWATCH + PING, one round trip) each time it hands one
//! out; doing that per cache lookup or rate-limit check doubled the Redis round trips of every
//! request. A multiplexed connection is safe to share: concurrent commands are pipelined on it,
//! which also cuts the syscalls on both sides.

use std::sync::Mutex;

use deadpool_redis::Pool;
use redis::aio::MultiplexedConnection;

/// The shared connection, and the pool that makes a new one when it breaks.
pub(crate) struct SharedConnection {
    pool: Pool,
    current: Mutex<Option<MultiplexedConnection>>,
}

impl SharedConnection {
    pub(crate) fn new(pool: Pool) -> Self {
        SharedConnection {
            pool,
            current: Mutex::new(None),
        }
    }

    /// The shared connection, connecting (through the pool, with its timeouts) when there is none.
    pub(crate) async fn get(&self) -> Result<MultiplexedConnection, deadpool_redis::PoolError> {
        if let Some(conn) = self.lock().as_ref() {
            return Ok(conn.clone());
        }
        // Taken out of the pool for good: the pool may make another after a `discard`.
        let fresh = deadpool_redis::Connection::take(self.pool.get().await?);
        Ok(self.lock().get_or_insert(fresh).clone())
    }

    /// Forgets the shared connection after a failure, so the next call connects anew (a
    /// restarted Redis is picked up without restarting the service).
    pub(crate) fn discard(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }
}
