//! The `Store` contract: one suite, run against every backend.
//!
//! Each contract test is an `async fn name(b: Backend)` given an empty database; the
//! `contract!` list below turns it into `sqlite::<module>::name` and
//! `postgres::<module>::name`, so `cargo test --test contract sqlite` runs one half.
//! The PostgreSQL half needs a server: `MOORING_TEST_POSTGRES` (a URL whose database the
//! tests may connect to for `CREATE DATABASE`, e.g.
//! `postgres://postgres@127.0.0.1:54329/postgres`), which `scripts/test` sets. Without
//! it every PostgreSQL test fails, never skips.
//!
//! Backend-specific tests (the SQLite writer's group commit, raw file handling) stay in
//! `tests/sqlite.rs`.

#[path = "contract/acme.rs"]
mod acme;
#[path = "contract/audit.rs"]
mod audit;
#[path = "contract/backend.rs"]
mod backend;
#[path = "contract/certificates.rs"]
mod certificates;
#[path = "contract/enrollment.rs"]
mod enrollment;
#[path = "contract/fixtures.rs"]
mod fixtures;
#[path = "contract/inventory.rs"]
mod inventory;
#[path = "contract/nodes.rs"]
mod nodes;
#[path = "contract/revocation.rs"]
mod revocation;

/// `mod sqlite { mod <module> { #[tokio::test] fn <test>() … } … }` and the same for
/// `postgres`, each running `crate::<module>::<test>` on a fresh database of its backend.
macro_rules! contract {
    ($($module:ident: [$($test:ident),* $(,)?]),* $(,)?) => {
        contract!(@backend sqlite, Sqlite, $($module: [$($test),*]),*);
        contract!(@backend postgres, Postgres, $($module: [$($test),*]),*);
    };
    (@backend $backend:ident, $kind:ident, $($module:ident: [$($test:ident),*]),*) => {
        mod $backend {
            $(
                mod $module {
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                        async fn $test() {
                            let b = crate::backend::fresh(crate::backend::Kind::$kind).await;
                            crate::$module::$test(b).await;
                        }
                    )*
                }
            )*
        }
    };
}

contract! {
    certificates: [
        issuers_round_trip_and_conflict,
        certificate_round_trip_and_unknown_issuer,
        certificate_filters,
        cursor_pagination_sees_every_row_once,
        duplicate_serial_fails_alone_in_a_concurrent_burst,
        certificates_by_key,
        blocked_key_refuses_issuance_on_every_store,
        expiring_counts,
        admin_tokens,
    ],
    audit: [
        audit_chain_verifies_after_mixed_writes,
        empty_and_single_entry_logs_verify,
        edited_audit_entry_is_a_hash_mismatch_at_its_seq,
        deleted_audit_entry_fails,
        entry_slipped_in_before_the_first_fails,
        verify_pages_through_a_long_log,
    ],
    revocation: [
        revoke_then_already_revoked_and_not_found,
        revoked_certificates_list_unexpired_with_revocation_seq,
        crl_numbers_count_per_issuer,
        revocations_since_in_seq_order_across_two_stores,
        one_certificate_revoked_by_two_stores_at_once_is_revoked_once,
        revocation_signal_moves,
        save_crl_and_latest_crl,
    ],
    nodes: [
        two_stores_open_a_new_database_at_once,
        two_stores_keep_one_chain_and_never_a_duplicate_serial,
        leases_are_taken_renewed_expire_and_are_released,
        concurrent_try_lease_has_exactly_one_winner,
    ],
    acme: [
        nonces_are_used_once_across_two_stores,
        accounts_create_find_update_deactivate,
        eab_binds_one_account_once,
        key_change_moves_the_key_and_refuses_a_taken_one,
        order_with_authorizations_and_challenges_round_trips,
        begin_validation_happens_once_across_two_stores,
        finish_validation_moves_authorizations_and_orders,
        deactivated_authorization_invalidates_its_orders,
        finalize_begins_once_and_finishes,
        failed_or_abandoned_finalization,
        audit_entries_of_acme_changes_are_in_order,
        an_order_begun_on_a_store_that_dies_is_finished_on_another,
        rate_limit_windows_count_orders_and_certificates,
        one_live_order_replaces_a_certificate,
        renewal_overrides_apply_to_older_matching_certificates,
        cross_certificates_of_an_issuer,
    ],
    enrollment: [
        bootstrap_tokens_are_used_once_per_use_across_two_stores,
        scep_ra_keys_race_to_one_per_period,
    ],
    inventory: [
        issued_certificates_enter_and_follow_revocation_and_renewal,
        reports_record_locations_and_mark_what_is_gone,
        searches_by_label_owner_expiry_and_page_every_match_once,
        findings_select_their_candidates,
        alerts_are_raised_once_and_deliveries_retried,
        finding_thresholds_labels_unalerted_locations_and_claims,
        a_report_in_parts_sweeps_once_and_spares_what_it_could_not_read,
    ],
}
