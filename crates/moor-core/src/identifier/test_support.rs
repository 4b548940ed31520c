//! Fixtures shared by the identifier tests.

use super::{Identifier, IdentifierRules};
use crate::refusal::{Refusal, RefusalCode};

pub(super) const PUBLIC: IdentifierRules = IdentifierRules::PUBLIC;
pub(super) const PRIVATE: IdentifierRules = IdentifierRules::PRIVATE;

pub(super) fn dns(s: &str) -> Identifier {
    Identifier::Dns(s.to_string())
}

/// Asserts a refusal with code RejectedIdentifier whose detail contains `needle`.
#[track_caller]
pub(super) fn refused(r: Result<Identifier, Refusal>, needle: &str) {
    match r {
        Ok(id) => panic!("accepted {id:?}, expected a refusal mentioning {needle:?}"),
        Err(e) => {
            assert_eq!(e.code, RefusalCode::RejectedIdentifier, "{e}");
            assert!(
                e.detail.contains(needle),
                "detail {:?} lacks {needle:?}",
                e.detail
            );
        }
    }
}
