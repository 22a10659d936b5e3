//! What changed in the shared state that a node keeps a copy of in memory.
//!
//! Every node holds two things read from the database it must not serve stale: the signing-key
//! ring and the client cache (with the CORS origins derived from it). Whoever writes them — this
//! node, another node, the `palisade` CLI, an operator typing SQL — the database announces the
//! change and every node applies it (docs/deployment.md, "Changes reach every node"). Users,
//! roles and sessions need no announcement: no node caches them.

use crate::model::ClientId;

/// One announced change, as a node applies it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// A signing key was added, changed or removed: reload the key ring.
    SigningKeys,
    /// This client (or one of its redirect URIs) was added, changed or removed: forget it.
    Client(ClientId),
    /// Anything may have changed — announcements may have been missed (the feed reconnected)
    /// or a change was too broad to name: reload the keys and forget every client.
    Everything,
}

impl Change {
    /// A short fixed name for logs and metric labels (never the client id: label values must
    /// not grow with the data).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SigningKeys => "signing_keys",
            Self::Client(_) => "client",
            Self::Everything => "everything",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_fixed_names_that_never_carry_the_client_id() {
        assert_eq!(Change::SigningKeys.kind(), "signing_keys");
        assert_eq!(
            Change::Client(ClientId("secret-ish".into())).kind(),
            "client"
        );
        assert_eq!(Change::Everything.kind(), "everything");
    }
}
