//! The admission of `/ws` and `/echo` clients, before the upgrade: the page's origin, the
//! connection caps of [`limits`](super::limits).

use std::sync::Arc;

use wskit_hub::{Admission, Rejection, UpgradeRequest};

use super::limits::Connections;
use super::origin;

/// What an upgrade must pass.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    pub(crate) connections: Arc<Connections>,
    /// Admit only pages of this server's own origin (no `allowed_origins` configured; the
    /// hub checks a configured list itself).
    pub(crate) same_origin: bool,
}

// ===== impl Gate =====

impl Gate {
    /// Admits the upgrade `request`, attaching its [`Slot`] to the connection, or refuses it:
    /// 403 for another site's page, 503 with `Retry-After` at a connection cap.
    pub(crate) fn admit(&self, request: &UpgradeRequest) -> Result<Admission, Rejection> {
        if self.same_origin && !origin::page_allowed(request.origin(), request.header("host")) {
            metrics::counter!("wskit_serve_refused_total", "reason" => "origin").increment(1);
            return Err(Rejection::new(
                403,
                "origin not allowed: only this server's own pages may connect (list other \
                 origins in allowed_origins)",
            ));
        }
        let slot = self
            .connections
            .admit(request.peer_addr().map(|addr| addr.ip()))?;
        Ok(Admission::new().insert(Arc::new(slot)))
    }
}
