//! Unit-test fixture: an authority over a temporary SQLite store, with a fresh CA
//! hierarchy and a clock the test moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use moor_core::KeyAlgorithm;
use moor_core::clock::FixedClock;
use moor_core::profile::Profile;
use moor_core::serial::Serial;
use moor_keys::Passphrase;
use moor_store::Store;

use crate::config::Home;
use crate::trust_anchor::{NameConstraintOptions, NewHierarchy, create_hierarchy, load_issuers};
use crate::{Authority, IssueRequest, Requester, SubjectSource};

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// An authority, its clock and its directory (removed on drop).
pub(crate) struct Fixture {
    pub auth: Authority,
    pub clock: Arc<FixedClock>,
    /// The issuing CA certificate ("default"), DER.
    pub issuer_der: Vec<u8>,
    pub dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new hierarchy of `alg` with issuer "default" and the non-public built-in profiles.
pub(crate) async fn fixture(alg: KeyAlgorithm) -> Fixture {
    let dir = std::env::temp_dir().join(format!(
        "moor-authority-test-{}-{}",
        std::process::id(),
        DIRS.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let home = Home::new(&dir);
    let store: Arc<dyn Store> = Arc::new(
        moor_store::sqlite::SqliteStore::open(&dir.join("mooring.db"))
            .await
            .unwrap(),
    );
    let clock = Arc::new(FixedClock::new(time::OffsetDateTime::now_utc()));
    let pass = Passphrase::new("authority-test-passphrase".into());
    create_hierarchy(
        &home,
        store.as_ref(),
        &pass,
        clock.as_ref(),
        "cli",
        NewHierarchy {
            issuer_id: "default".into(),
            algorithm: alg,
            new_root: true,
            parent_root: None,
            root_key_file: None,
            offline_root_key: None,
            name_constraints: NameConstraintOptions::default(),
            organization: "Authority Test".into(),
        },
    )
    .await
    .unwrap();
    let records = store.list_issuers().await.unwrap();
    let loaded = load_issuers(&home, &records, &pass).unwrap();
    let issuer_der = loaded[0].facts.cert_der.clone();
    let profiles = Profile::builtins()
        .into_iter()
        .filter(|(_, p)| !p.public)
        .collect();
    let auth = Authority::new(
        store,
        records,
        loaded,
        profiles,
        "http://127.0.0.1:9".into(),
        clock.clone(),
    )
    .unwrap();
    Fixture {
        auth,
        clock,
        issuer_der,
        dir,
    }
}

impl Fixture {
    /// Issue a tls-server certificate for `name` with a generated key; its serial.
    pub async fn issue_for(&self, name: &str, lifetime: Option<std::time::Duration>) -> Serial {
        let issued = self
            .auth
            .issue(
                &Requester::cli(),
                IssueRequest {
                    profile: "tls-server".into(),
                    subject: SubjectSource::Generate {
                        algorithm: KeyAlgorithm::EcdsaP256,
                        sans: vec![name.into()],
                        common_name: None,
                    },
                    lifetime,
                },
            )
            .await
            .unwrap();
        Serial::from_hex(&issued.serial).unwrap()
    }

    /// Move the clock.
    pub fn advance(&self, secs: i64) {
        self.clock.advance(time::Duration::seconds(secs));
    }
}
