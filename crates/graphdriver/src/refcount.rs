//! In-memory mount reference counts, one per layer.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::LayerId;

/// `get`/`put` counts. Drivers hold the lock across the mount or unmount itself, so that two
/// threads never mount the same layer twice.
#[derive(Debug, Default)]
pub(crate) struct RefCounts(Mutex<HashMap<LayerId, u32>>);

impl RefCounts {
    /// Locks the table. A panic in another thread cannot leave it inconsistent (counts
    /// change only after the mount operation succeeded), so a poisoned lock is taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<LayerId, u32>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
