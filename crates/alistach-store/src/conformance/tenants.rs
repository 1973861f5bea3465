//! The tenant checks: tenants are created, changed, listed and deleted; the config file's
//! tenants are synced in one go; keys are stored as digests, listed, revoked and touched; the
//! audit log is appended, queried and purged. Every tenant id here starts with `conf-`, so the
//! checks only look at their own rows of `tenants()`.

use std::sync::Arc;

use alistach_domain::{Role, TenantId};

use super::T0;
use crate::{
    AuditEntry, AuditQuery, NewAuditEntry, Store, StoreError, TenantKeyRecord, TenantRecord,
    TenantSource,
};

fn id(s: &str) -> TenantId {
    TenantId::parse(s).expect("a valid tenant id")
}

fn tenant(name: &str, tracking_id: &str, source: TenantSource, at_ms: i64) -> TenantRecord {
    TenantRecord {
        id: id(name),
        name: format!("Tenant «{name}» — 租户"),
        tracking_id: tracking_id.to_owned(),
        settings: format!(r#"{{"quota":{{"daily":1000}},"locale":"fr-FR","name":"{name}"}}"#),
        source,
        created_ms: at_ms,
        updated_ms: at_ms,
    }
}

/// A key of `tenant` whose digest is derived from `seed` (so two seeds never share one).
fn key(key_id: &str, tenant: &TenantId, seed: u8, role: Role, created_ms: i64) -> TenantKeyRecord {
    let mut digest = [0u8; 32];
    for (i, b) in digest.iter_mut().enumerate() {
        *b = seed.wrapping_mul(31).wrapping_add(i as u8 * 7);
    }
    // Both ends of the byte range survive the round trip.
    digest[0] = 0x00;
    digest[31] = 0xff;
    digest[1] = seed;
    TenantKeyRecord {
        id: key_id.to_owned(),
        tenant: tenant.clone(),
        name: format!("key «{key_id}»"),
        role,
        digest,
        created_ms,
        expires_ms: None,
        last_used_ms: None,
        revoked_ms: None,
    }
}

/// This check's tenants (ids starting with `prefix`) as `handle` lists them.
async fn listed(handle: &Arc<dyn Store>, prefix: &str) -> Vec<TenantRecord> {
    handle
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.id.as_str().starts_with(prefix))
        .collect()
}

/// The ids among `handle`'s live keys at `now_ms` that are in `ids`, sorted.
async fn live_ids(handle: &Arc<dyn Store>, now_ms: i64, ids: &[&str]) -> Vec<String> {
    let mut live: Vec<String> = handle
        .live_keys(now_ms)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .filter(|k| ids.contains(&k.as_str()))
        .collect();
    live.sort();
    live
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

/// Tenants come back with every field from either handle, are listed by id (byte order: `-`
/// before digits before `_`), and conflict on a taken id or tracking id; an update replaces
/// everything but `created_ms`, is false for an unknown id, and conflicts on another's
/// tracking id (its own is no conflict; the one it gave up is free again).
pub async fn tenants_are_created_changed_and_listed(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    let t = tenant("conf-t", "trk_conf_t", TenantSource::Api, T0);
    let t_dash = tenant("conf-t-2", "trk_conf_t_dash", TenantSource::Api, T0 + 1);
    let t2 = tenant("conf-t2", "trk_conf_t2", TenantSource::Api, T0 + 2);
    let t_under = tenant("conf-t_2", "trk_conf_t_under", TenantSource::File, T0 + 3);
    for t in [&t_under, &t2, &t, &t_dash] {
        store.create_tenant(t).await.unwrap();
    }
    assert_eq!(other.tenant(&t.id).await.unwrap(), Some(t.clone()));
    assert_eq!(
        other.tenant(&t_under.id).await.unwrap(),
        Some(t_under.clone())
    );
    assert_eq!(store.tenant(&id("conf-t-unknown")).await.unwrap(), None);
    for handle in [store, other] {
        assert_eq!(
            listed(handle, "conf-t").await,
            vec![t.clone(), t_dash.clone(), t2.clone(), t_under.clone()],
            "by id"
        );
        let all: Vec<TenantId> = handle
            .tenants()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert!(all.is_sorted(), "every tenant by id: {all:?}");
    }

    // Taken ids and tracking ids.
    let same_id = TenantRecord {
        tracking_id: "trk_conf_t_fresh".to_owned(),
        name: "another".to_owned(),
        ..t.clone()
    };
    assert!(is_conflict(other.create_tenant(&same_id).await));
    assert_eq!(store.tenant(&t.id).await.unwrap(), Some(t.clone()), "kept");
    let same_tracking = tenant("conf-t-3", &t2.tracking_id, TenantSource::Api, T0);
    assert!(is_conflict(other.create_tenant(&same_tracking).await));
    assert_eq!(store.tenant(&same_tracking.id).await.unwrap(), None);

    // Updates.
    let changed = TenantRecord {
        id: t.id.clone(),
        name: "Renamed".to_owned(),
        tracking_id: "trk_conf_t_new".to_owned(),
        settings: r#"{"quota":null}"#.to_owned(),
        source: TenantSource::File,
        created_ms: T0 + 999,
        updated_ms: T0 + 50,
    };
    assert!(other.update_tenant(&changed).await.unwrap());
    let expected = TenantRecord {
        created_ms: T0,
        ..changed.clone()
    };
    assert_eq!(store.tenant(&t.id).await.unwrap(), Some(expected.clone()));
    // Its own tracking id again is no conflict.
    let again = TenantRecord {
        updated_ms: T0 + 60,
        ..expected.clone()
    };
    assert!(store.update_tenant(&again).await.unwrap());
    assert_eq!(other.tenant(&t.id).await.unwrap(), Some(again.clone()));
    let stolen = TenantRecord {
        tracking_id: t2.tracking_id.clone(),
        updated_ms: T0 + 70,
        ..again.clone()
    };
    assert!(is_conflict(store.update_tenant(&stolen).await));
    assert_eq!(other.tenant(&t.id).await.unwrap(), Some(again.clone()));
    assert_eq!(other.tenant(&t2.id).await.unwrap(), Some(t2.clone()));
    let unknown = tenant(
        "conf-t-unknown",
        "trk_conf_t_unknown",
        TenantSource::Api,
        T0,
    );
    assert!(!store.update_tenant(&unknown).await.unwrap());
    assert_eq!(
        other.tenant(&unknown.id).await.unwrap(),
        None,
        "not created"
    );
    // The tracking id `t` gave up is free.
    let heir = tenant("conf-t-3", &t.tracking_id, TenantSource::Api, T0 + 80);
    other.create_tenant(&heir).await.unwrap();
    assert_eq!(store.tenant(&heir.id).await.unwrap(), Some(heir.clone()));

    for x in [&t.id, &t_dash.id, &t2.id, &t_under.id, &heir.id] {
        assert!(store.delete_tenant(x, T0 + 100).await.unwrap());
    }
    assert_eq!(listed(other, "conf-t").await, vec![]);
}

/// Deleting a tenant revokes its keys at that time (a key revoked before keeps its time); the
/// key rows stay, listed but never live; a second delete is false, and a deleted tenant takes
/// no new key. Keys of other tenants are untouched.
pub async fn deleting_a_tenant_revokes_its_keys(store: &Arc<dyn Store>, other: &Arc<dyn Store>) {
    let gone = tenant("conf-del", "trk_conf_del", TenantSource::Api, T0);
    let stays = tenant(
        "conf-del-stays",
        "trk_conf_del_stays",
        TenantSource::Api,
        T0,
    );
    store.create_tenant(&gone).await.unwrap();
    store.create_tenant(&stays).await.unwrap();
    let k1 = key("key_conf_del_1", &gone.id, 101, Role::Client, T0 + 1);
    let k2 = key("key_conf_del_2", &gone.id, 102, Role::TenantAdmin, T0 + 2);
    let k3 = key("key_conf_del_3", &stays.id, 103, Role::Client, T0 + 3);
    for k in [&k1, &k2, &k3] {
        store.create_key(k).await.unwrap();
    }
    let ids = [k1.id.as_str(), k2.id.as_str(), k3.id.as_str()];
    assert_eq!(live_ids(other, T0 + 10, &ids).await, ids);
    let revoked = other
        .revoke_key(&gone.id, &k1.id, T0 + 5)
        .await
        .unwrap()
        .expect("its key");
    assert_eq!(revoked.revoked_ms, Some(T0 + 5));

    assert!(other.delete_tenant(&gone.id, T0 + 20).await.unwrap());
    assert_eq!(store.tenant(&gone.id).await.unwrap(), None);
    let kept = store.tenant_keys(&gone.id).await.unwrap();
    assert_eq!(
        kept,
        vec![
            TenantKeyRecord {
                revoked_ms: Some(T0 + 5),
                ..k1.clone()
            },
            TenantKeyRecord {
                revoked_ms: Some(T0 + 20),
                ..k2.clone()
            },
        ],
        "the rows stay, revoked"
    );
    assert_eq!(
        live_ids(store, T0 + 21, &ids).await,
        vec![k3.id.clone()],
        "only the other tenant's key is live"
    );
    assert_eq!(
        store.tenant_keys(&stays.id).await.unwrap(),
        vec![k3.clone()]
    );
    assert!(!store.delete_tenant(&gone.id, T0 + 30).await.unwrap());
    assert_eq!(
        other.tenant_keys(&gone.id).await.unwrap(),
        kept,
        "a second delete changes nothing"
    );
    let late = key("key_conf_del_4", &gone.id, 104, Role::Client, T0 + 40);
    assert!(is_conflict(store.create_key(&late).await));
    assert_eq!(other.tenant_keys(&gone.id).await.unwrap(), kept);
    assert!(
        !store
            .delete_tenant(&id("conf-del-unknown"), T0)
            .await
            .unwrap()
    );
    assert!(store.delete_tenant(&stays.id, T0 + 50).await.unwrap());
    assert_eq!(live_ids(other, T0 + 51, &ids).await, Vec::<String>::new());
}

/// The config file's tenants: created or replaced as source `File` (an API tenant of a listed
/// id becomes the file's, keeping its `created_ms` and its keys), file tenants missing from the
/// list deleted with their keys revoked, API tenants left alone; tracking ids may move between
/// the tenants the sync writes. A tracking id of an API tenant, or one listed twice, is a
/// conflict that changes nothing. Two instances syncing at once both succeed.
pub async fn file_tenants_are_synced(store: &Arc<dyn Store>, other: &Arc<dyn Store>) {
    let api = tenant("conf-sync-api", "trk_sync_api", TenantSource::Api, T0);
    let adopted = tenant(
        "conf-sync-f2",
        "trk_sync_adopted",
        TenantSource::Api,
        T0 + 1,
    );
    let rotated = tenant("conf-sync-rot", "trk_sync_rot", TenantSource::Api, T0 + 2);
    for t in [&api, &adopted, &rotated] {
        store.create_tenant(t).await.unwrap();
    }
    let adopted_key = key(
        "key_conf_sync_f2",
        &adopted.id,
        111,
        Role::TenantAdmin,
        T0 + 3,
    );
    store.create_key(&adopted_key).await.unwrap();

    // First start: one new tenant, one taking over an API tenant. The source given is ignored.
    let f1 = tenant("conf-sync-f1", "trk_sync_f1", TenantSource::Api, T0 + 10);
    let f2 = tenant("conf-sync-f2", "trk_sync_f2", TenantSource::File, T0 + 10);
    store
        .sync_file_tenants(&[f1.clone(), f2.clone()], T0 + 10)
        .await
        .unwrap();
    let file = |t: &TenantRecord, created_ms: i64| TenantRecord {
        source: TenantSource::File,
        created_ms,
        ..t.clone()
    };
    assert_eq!(
        listed(other, "conf-sync").await,
        vec![
            api.clone(),
            file(&f1, T0 + 10),
            file(&f2, adopted.created_ms),
            rotated.clone()
        ]
    );
    assert_eq!(
        other.tenant_keys(&f2.id).await.unwrap(),
        vec![adopted_key.clone()],
        "the adopted tenant keeps its keys"
    );
    let f1_key = key("key_conf_sync_f1", &f1.id, 112, Role::Client, T0 + 11);
    store.create_key(&f1_key).await.unwrap();

    // Second start: f1 left the file (its tracking id goes to a new f3), f2 changed.
    let f2b = TenantRecord {
        name: "F2, renamed".to_owned(),
        settings: r#"{"locale":"de-DE"}"#.to_owned(),
        updated_ms: T0 + 20,
        ..f2.clone()
    };
    let f3 = tenant("conf-sync-f3", &f1.tracking_id, TenantSource::File, T0 + 20);
    other
        .sync_file_tenants(&[f3.clone(), f2b.clone()], T0 + 20)
        .await
        .unwrap();
    let second = vec![
        api.clone(),
        file(&f2b, adopted.created_ms),
        file(&f3, T0 + 20),
        rotated.clone(),
    ];
    assert_eq!(listed(store, "conf-sync").await, second);
    assert_eq!(store.tenant(&f1.id).await.unwrap(), None);
    assert_eq!(
        store.tenant_keys(&f1.id).await.unwrap(),
        vec![TenantKeyRecord {
            revoked_ms: Some(T0 + 20),
            ..f1_key.clone()
        }],
        "a tenant gone from the file has its keys revoked"
    );
    let live = [adopted_key.id.as_str(), f1_key.id.as_str()];
    assert_eq!(
        live_ids(other, T0 + 21, &live).await,
        vec![adopted_key.id.clone()]
    );

    // Refused, changing nothing: an API tenant's tracking id, and a tracking id listed twice.
    let f4 = tenant(
        "conf-sync-f4",
        &api.tracking_id,
        TenantSource::File,
        T0 + 30,
    );
    assert!(is_conflict(
        store
            .sync_file_tenants(&[f2b.clone(), f4.clone()], T0 + 30)
            .await
    ));
    let twice = tenant(
        "conf-sync-f5",
        &f2b.tracking_id,
        TenantSource::File,
        T0 + 30,
    );
    assert!(is_conflict(
        other
            .sync_file_tenants(&[f2b.clone(), twice.clone()], T0 + 30)
            .await
    ));
    for handle in [store, other] {
        assert_eq!(listed(handle, "conf-sync").await, second, "nothing changed");
        assert_eq!(
            live_ids(handle, T0 + 31, &live).await,
            vec![adopted_key.id.clone()]
        );
    }

    // Tracking ids rotate among the tenants written, an API tenant among them (it becomes the
    // file's); two instances starting at once agree.
    let f2c = TenantRecord {
        tracking_id: f3.tracking_id.clone(),
        updated_ms: T0 + 40,
        ..f2b.clone()
    };
    let f3c = TenantRecord {
        tracking_id: rotated.tracking_id.clone(),
        created_ms: T0 + 40,
        updated_ms: T0 + 40,
        ..f3.clone()
    };
    let rotated_c = TenantRecord {
        tracking_id: f2b.tracking_id.clone(),
        updated_ms: T0 + 40,
        ..rotated.clone()
    };
    let third = [f2c.clone(), f3c.clone(), rotated_c.clone()];
    let (a, b) = tokio::join!(
        store.sync_file_tenants(&third, T0 + 40),
        other.sync_file_tenants(&third, T0 + 40)
    );
    a.unwrap();
    b.unwrap();
    let expected = vec![
        api.clone(),
        file(&f2c, adopted.created_ms),
        file(&f3c, f3.created_ms),
        file(&rotated_c, rotated.created_ms),
    ];
    for handle in [store, other] {
        assert_eq!(listed(handle, "conf-sync").await, expected);
    }

    // An empty file: every file tenant goes, the API tenant stays.
    store.sync_file_tenants(&[], T0 + 50).await.unwrap();
    assert_eq!(listed(other, "conf-sync").await, vec![api.clone()]);
    assert_eq!(
        other.tenant_keys(&f2.id).await.unwrap(),
        vec![TenantKeyRecord {
            revoked_ms: Some(T0 + 50),
            ..adopted_key.clone()
        }]
    );
    assert_eq!(live_ids(store, T0 + 51, &live).await, Vec::<String>::new());
    assert!(store.delete_tenant(&api.id, T0 + 60).await.unwrap());
}

/// Keys: stored with every field (the digest bit for bit), refused for an unknown tenant or a
/// taken id or digest, listed per tenant oldest first with revoked ones, live until revoked or
/// expired; a revocation keeps its first time and only works through the key's own tenant;
/// last use keeps the latest time and ignores unknown keys. Both handles see every change.
pub async fn keys_are_created_listed_revoked_and_touched(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    let a = tenant("conf-keys-a", "trk_keys_a", TenantSource::Api, T0);
    let b = tenant("conf-keys-b", "trk_keys_b", TenantSource::File, T0);
    store.create_tenant(&a).await.unwrap();
    store.create_tenant(&b).await.unwrap();
    let older = key("key_conf_a_older", &a.id, 1, Role::Client, T0 + 1);
    let newer = TenantKeyRecord {
        expires_ms: Some(T0 + 100),
        ..key("key_conf_a_newer", &a.id, 2, Role::TenantAdmin, T0 + 2)
    };
    let of_b = key("key_conf_b", &b.id, 3, Role::TenantAdmin, T0 + 3);
    // Created out of age order: listed oldest first all the same.
    store.create_key(&newer).await.unwrap();
    assert_eq!(
        live_ids(other, T0 + 2, &[newer.id.as_str()]).await,
        vec![newer.id.clone()],
        "a key created on one handle is live on the other at once"
    );
    other.create_key(&older).await.unwrap();
    store.create_key(&of_b).await.unwrap();
    let ids = [older.id.as_str(), newer.id.as_str(), of_b.id.as_str()];

    // Refused keys.
    let orphan = key(
        "key_conf_orphan",
        &id("conf-keys-unknown"),
        4,
        Role::Client,
        T0,
    );
    assert!(is_conflict(store.create_key(&orphan).await));
    let same_id = key(&older.id, &b.id, 5, Role::Client, T0 + 4);
    assert!(is_conflict(other.create_key(&same_id).await));
    let same_digest = TenantKeyRecord {
        digest: older.digest,
        ..key("key_conf_same_digest", &b.id, 6, Role::Client, T0 + 4)
    };
    assert!(is_conflict(store.create_key(&same_digest).await));
    assert_eq!(
        other.tenant_keys(&id("conf-keys-unknown")).await.unwrap(),
        vec![]
    );
    for handle in [store, other] {
        assert_eq!(
            handle.tenant_keys(&a.id).await.unwrap(),
            vec![older.clone(), newer.clone()],
            "every field, oldest first"
        );
        assert_eq!(handle.tenant_keys(&b.id).await.unwrap(), vec![of_b.clone()]);
    }

    // Live until expired ("from this time on") or revoked.
    let mut all_ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    all_ids.sort();
    assert_eq!(live_ids(store, T0 + 99, &ids).await, all_ids);
    let live_now: Vec<TenantKeyRecord> = other
        .live_keys(T0 + 99)
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.id == newer.id)
        .collect();
    assert_eq!(live_now, vec![newer.clone()], "every field");
    assert_eq!(
        live_ids(other, T0 + 100, &ids).await,
        vec![older.id.clone(), of_b.id.clone()],
        "expired at its time"
    );

    // Revocation.
    assert_eq!(
        store.revoke_key(&b.id, &older.id, T0 + 10).await.unwrap(),
        None,
        "not through another tenant"
    );
    assert_eq!(
        store
            .revoke_key(&a.id, "key_conf_unknown", T0 + 10)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        live_ids(other, T0 + 11, &ids).await.len(),
        3,
        "nothing revoked"
    );
    let revoked = TenantKeyRecord {
        revoked_ms: Some(T0 + 10),
        ..older.clone()
    };
    assert_eq!(
        other.revoke_key(&a.id, &older.id, T0 + 10).await.unwrap(),
        Some(revoked.clone())
    );
    assert_eq!(
        store.revoke_key(&a.id, &older.id, T0 + 20).await.unwrap(),
        Some(revoked.clone()),
        "the first revocation time stays"
    );
    assert_eq!(
        live_ids(store, T0 + 21, &ids).await,
        vec![newer.id.clone(), of_b.id.clone()]
    );
    assert_eq!(
        other.tenant_keys(&a.id).await.unwrap(),
        vec![revoked.clone(), newer.clone()],
        "a revoked key is still listed"
    );

    // Last use.
    store
        .touch_keys(&[
            (newer.id.clone(), T0 + 30),
            ("key_conf_unknown".to_owned(), T0 + 30),
            (of_b.id.clone(), T0 + 40),
        ])
        .await
        .unwrap();
    other
        .touch_keys(&[(newer.id.clone(), T0 + 25)])
        .await
        .unwrap();
    store.touch_keys(&[]).await.unwrap();
    let last_used = |handle: &Arc<dyn Store>, tenant: TenantId, key_id: String| {
        let handle = Arc::clone(handle);
        async move {
            handle
                .tenant_keys(&tenant)
                .await
                .unwrap()
                .into_iter()
                .find(|k| k.id == key_id)
                .expect("the key")
                .last_used_ms
        }
    };
    assert_eq!(
        last_used(other, a.id.clone(), newer.id.clone()).await,
        Some(T0 + 30),
        "an earlier use does not go back"
    );
    assert_eq!(
        last_used(other, b.id.clone(), of_b.id.clone()).await,
        Some(T0 + 40)
    );
    assert_eq!(
        last_used(store, a.id.clone(), older.id.clone()).await,
        None,
        "never used"
    );
    other
        .touch_keys(&[(newer.id.clone(), T0 + 36), (newer.id.clone(), T0 + 35)])
        .await
        .unwrap();
    assert_eq!(
        last_used(store, a.id.clone(), newer.id.clone()).await,
        Some(T0 + 36),
        "the latest of one batch"
    );
    assert_eq!(
        store.tenant_keys(&a.id).await.unwrap(),
        vec![
            revoked,
            TenantKeyRecord {
                last_used_ms: Some(T0 + 36),
                ..newer.clone()
            }
        ],
        "only the last use changed"
    );

    assert!(store.delete_tenant(&a.id, T0 + 200).await.unwrap());
    assert!(store.delete_tenant(&b.id, T0 + 200).await.unwrap());
}

/// An audit entry at `at_ms` (this check's time window starts at [`AUDIT_T0`]).
fn audit_entry(
    at_ms: i64,
    actor_tenant: Option<&str>,
    tenant: Option<&str>,
    action: &str,
    status: u16,
) -> NewAuditEntry {
    NewAuditEntry {
        at_ms,
        actor: actor_tenant.map_or_else(|| "super-admin".to_owned(), |t| format!("key:key_{t}")),
        actor_tenant: actor_tenant.map(id),
        tenant: tenant.map(id),
        action: action.to_owned(),
        target: format!("POST /api/admin/tenants/{}/keys «ü»", tenant.unwrap_or("-")),
        from: "2001:db8::7".to_owned(),
        status,
    }
}

/// Far from the other checks' times, so purging here touches nothing of theirs.
const AUDIT_T0: i64 = T0 + 3_650 * super::DAY;

/// Audit entries get increasing ids (never reused, even after a purge) and come back newest
/// first with every field; the tenant filter matches the entry's tenant or its actor's; time
/// ranges are from inclusive, to exclusive; `before_id` pages; `limit` bounds; purging removes
/// what is older than its time and says how many.
pub async fn audit_entries_are_appended_queried_and_purged(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    let t = AUDIT_T0;
    let entries = [
        audit_entry(t, None, None, "listTenants", 200),
        audit_entry(t + 1, None, Some("conf-audit-a"), "createTenant", 201),
        audit_entry(
            t + 2,
            Some("conf-audit-a"),
            Some("conf-audit-a"),
            "createTenantKey",
            201,
        ),
        audit_entry(
            t + 3,
            Some("conf-audit-b"),
            Some("conf-audit-b"),
            "revokeTenantKey",
            404,
        ),
        audit_entry(t + 4, Some("conf-audit-a"), None, "getAudit", 403),
        audit_entry(t + 5, None, Some("conf-audit-b"), "deleteTenant", 204),
    ];
    let mut recorded: Vec<AuditEntry> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let handle = if i % 2 == 0 { store } else { other };
        let id = handle.append_audit(e).await.unwrap();
        if let Some(last) = recorded.last() {
            assert!(id > last.id, "ids increase: {id} after {}", last.id);
        }
        recorded.push(AuditEntry {
            id,
            entry: e.clone(),
        });
    }
    let window = |q: AuditQuery| AuditQuery {
        from_ms: q.from_ms.or(Some(t)),
        to_ms: q.to_ms.or(Some(t + 1_000)),
        ..q
    };
    let newest_first = |picked: &[usize]| -> Vec<AuditEntry> {
        picked.iter().map(|&i| recorded[i].clone()).collect()
    };
    let query = |q: AuditQuery| {
        let (store, other) = (Arc::clone(store), Arc::clone(other));
        async move {
            let got = store.audit(&q).await.unwrap();
            assert_eq!(other.audit(&q).await.unwrap(), got, "both handles: {q:?}");
            got
        }
    };
    let all = AuditQuery {
        limit: 1000,
        ..AuditQuery::default()
    };
    assert_eq!(
        query(window(all.clone())).await,
        newest_first(&[5, 4, 3, 2, 1, 0]),
        "every field, newest first"
    );
    assert_eq!(
        query(window(AuditQuery {
            tenant: Some(id("conf-audit-a")),
            ..all.clone()
        }))
        .await,
        newest_first(&[4, 2, 1]),
        "the tenant's entries and its keys' actions"
    );
    assert_eq!(
        query(window(AuditQuery {
            tenant: Some(id("conf-audit-b")),
            ..all.clone()
        }))
        .await,
        newest_first(&[5, 3])
    );
    assert_eq!(
        query(window(AuditQuery {
            tenant: Some(id("conf-audit-none")),
            ..all.clone()
        }))
        .await,
        vec![]
    );
    assert_eq!(
        query(AuditQuery {
            from_ms: Some(t + 1),
            to_ms: Some(t + 4),
            ..all.clone()
        })
        .await,
        newest_first(&[3, 2, 1]),
        "from inclusive, to exclusive"
    );
    assert_eq!(
        query(AuditQuery {
            from_ms: Some(t + 4),
            ..all.clone()
        })
        .await,
        newest_first(&[5, 4]),
        "open-ended"
    );
    assert_eq!(
        query(AuditQuery {
            to_ms: Some(t + 1),
            tenant: None,
            ..window(all.clone())
        })
        .await,
        newest_first(&[0])
    );

    // Pages of two, and a filtered page.
    let page = |before_id: Option<u64>| {
        window(AuditQuery {
            before_id,
            limit: 2,
            ..AuditQuery::default()
        })
    };
    let first = query(page(None)).await;
    assert_eq!(first, newest_first(&[5, 4]));
    let second = query(page(Some(first[1].id))).await;
    assert_eq!(second, newest_first(&[3, 2]));
    let third = query(page(Some(second[1].id))).await;
    assert_eq!(third, newest_first(&[1, 0]));
    assert_eq!(query(page(Some(third[1].id))).await, vec![]);
    assert_eq!(
        query(window(AuditQuery {
            tenant: Some(id("conf-audit-a")),
            before_id: Some(recorded[4].id),
            limit: 1,
            ..AuditQuery::default()
        }))
        .await,
        newest_first(&[2])
    );

    // Two handles appending at once get distinct ids.
    let concurrent = audit_entry(t + 6, None, None, "listTenants", 200);
    let (x, y) = tokio::join!(
        store.append_audit(&concurrent),
        other.append_audit(&concurrent)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_ne!(x, y);
    assert!(x.min(y) > recorded[5].id);
    let last_id = x.max(y);

    // Purging.
    assert_eq!(other.purge_audit(t + 3).await.unwrap(), 3);
    assert_eq!(
        query(window(all.clone())).await.len(),
        5,
        "three gone, the two concurrent ones added"
    );
    assert_eq!(
        query(window(AuditQuery {
            to_ms: Some(t + 6),
            ..all.clone()
        }))
        .await,
        newest_first(&[5, 4, 3])
    );
    assert_eq!(
        store.purge_audit(t + 3).await.unwrap(),
        0,
        "nothing left that old"
    );
    assert_eq!(store.purge_audit(t + 1_000).await.unwrap(), 5);
    assert_eq!(query(window(all.clone())).await, vec![]);
    let after = other
        .append_audit(&audit_entry(t + 7, None, None, "listTenants", 200))
        .await
        .unwrap();
    assert!(
        after > last_id,
        "ids are never reused, even with the log emptied: {after} after {last_id}"
    );
    assert_eq!(store.purge_audit(t + 1_000).await.unwrap(), 1);
}
