//! AuditLog contract.

use crate::support::{at, store};
use palisade_core::model::{AuditEvent, AuditOutcome, AuditQuery};
use palisade_core::ports::AuditLog;

fn event(secs: i64, actor: &str, action: &str, target: Option<&str>) -> AuditEvent {
    AuditEvent {
        occurred_at: at(secs),
        actor: actor.into(),
        action: action.into(),
        target: target.map(Into::into),
        outcome: AuditOutcome::Success,
        client_ip: None,
        details: None,
    }
}

fn query(limit: i64) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

#[tokio::test]
async fn events_come_back_newest_first_with_every_field() {
    let (store, _db) = store().await;
    let full = AuditEvent {
        occurred_at: at(20),
        actor: "user:42".into(),
        action: "login".into(),
        target: Some("user:42".into()),
        outcome: AuditOutcome::Failure,
        client_ip: Some("192.0.2.7".into()),
        details: Some(r#"{"reason":"bad_password"}"#.into()),
    };
    let older = event(10, "cli", "user.create", None);
    // Same second as `full` but recorded later: insertion order breaks the tie.
    let tie = event(20, "system", "key.rotate", Some("key:k1"));
    for e in [&full, &older, &tie] {
        store.record(e.clone()).await.unwrap();
    }
    assert_eq!(store.query(query(100)).await.unwrap(), [tie, full, older]);
}

#[tokio::test]
async fn queries_filter_by_actor_target_action_and_time_window() {
    let (store, _db) = store().await;
    let events = [
        event(10, "user:1", "login", Some("user:1")),
        event(20, "user:2", "login", Some("user:2")),
        event(30, "cli", "user.disable", Some("user:1")),
        event(40, "user:1", "consent.grant", Some("client:web")),
        event(50, "user:1", "login", Some("user:1")),
    ];
    for e in &events {
        store.record(e.clone()).await.unwrap();
    }
    let run = |q: AuditQuery| {
        let store = store.clone();
        async move {
            store
                .query(q)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.occurred_at)
                .collect::<Vec<_>>()
        }
    };
    let q = |f: fn(&mut AuditQuery)| {
        let mut q = query(100);
        f(&mut q);
        q
    };
    assert_eq!(
        run(q(|q| q.actor = Some("user:1".into()))).await,
        [at(50), at(40), at(10)]
    );
    assert_eq!(
        run(q(|q| q.target = Some("user:1".into()))).await,
        [at(50), at(30), at(10)]
    );
    assert_eq!(
        run(q(|q| q.action = Some("login".into()))).await,
        [at(50), at(20), at(10)]
    );
    // `since` inclusive, `until` exclusive.
    assert_eq!(
        run(q(|q| {
            q.since = Some(at(20));
            q.until = Some(at(50));
        }))
        .await,
        [at(40), at(30), at(20)]
    );
    assert_eq!(
        run(q(|q| {
            q.actor = Some("user:1".into());
            q.action = Some("login".into());
            q.since = Some(at(11));
        }))
        .await,
        [at(50)]
    );
    assert!(run(q(|q| q.actor = Some("nobody".into()))).await.is_empty());
}

#[tokio::test]
async fn the_limit_is_clamped_between_1_and_1000() {
    let (store, _db) = store().await;
    for i in 0..1005 {
        store
            .record(event(i, "system", "tick", None))
            .await
            .unwrap();
    }
    assert_eq!(store.query(query(0)).await.unwrap().len(), 1);
    assert_eq!(store.query(query(-7)).await.unwrap().len(), 1);
    assert_eq!(store.query(query(3)).await.unwrap().len(), 3);
    let page = store.query(query(5000)).await.unwrap();
    assert_eq!(page.len(), 1000);
    assert_eq!(page[0].occurred_at, at(1004));
    assert_eq!(page[999].occurred_at, at(5));
}

#[tokio::test]
async fn a_batch_is_recorded_whole_and_reads_back_like_single_events() {
    let (store, _db) = store().await;
    // More rows than one PostgreSQL INSERT carries, with and without optional values.
    let batch: Vec<AuditEvent> = (0..700)
        .map(|i| {
            let target = (i % 2 == 0).then_some("user:u1");
            event(1_000 + i, "client:c1", "token.issue", target)
        })
        .collect();
    store.record_batch(batch).await.unwrap();
    store.record_batch(Vec::new()).await.unwrap();
    let found = store
        .query(AuditQuery {
            action: Some("token.issue".into()),
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 700);
    assert_eq!(found[0].occurred_at, at(1_699), "newest first");
    assert!(
        found.iter().all(|e| e.actor == "client:c1"
            && e.target.is_some() == (e.occurred_at.timestamp() % 2 == 0))
    );
}

#[tokio::test]
async fn queries_find_a_party_as_actor_or_target_by_action_prefix_and_page_by_offset() {
    let (store, _db) = store().await;
    let events = [
        event(10, "user:1", "login", Some("user:1")),
        event(20, "user:2", "login.passkey", Some("user:2")),
        event(30, "cli", "admin.user.disable", Some("user:1")),
        event(40, "user:1", "admin.user.enable", Some("user:2")),
        event(50, "client:web", "token.issue", Some("user:1")),
        event(60, "user:3", "login_ish", Some("user:3")),
        event(70, "user:3", "loginXpasskey", Some("user:3")),
    ];
    for e in &events {
        store.record(e.clone()).await.unwrap();
    }
    let run = |q: AuditQuery| {
        let store = store.clone();
        async move { store.query(q).await.unwrap() }
    };
    let involving_1 = run(AuditQuery {
        involving: Some("user:1".into()),
        ..query(100)
    })
    .await;
    assert_eq!(
        involving_1,
        [&events[4], &events[3], &events[2], &events[0]].map(Clone::clone)
    );
    // Prefixes: any of them; a `_` or `%` in a prefix is a character, not a wildcard.
    let logins = run(AuditQuery {
        action_prefixes: vec!["login.".into(), "admin.user.".into()],
        involving: Some("user:2".into()),
        ..query(100)
    })
    .await;
    assert_eq!(logins, [events[3].clone(), events[1].clone()]);
    let underscore = run(AuditQuery {
        action_prefixes: vec!["login_".into()],
        ..query(100)
    })
    .await;
    assert_eq!(underscore, [events[5].clone()]);
    let percent = run(AuditQuery {
        action_prefixes: vec!["%".into()],
        ..query(100)
    })
    .await;
    assert!(percent.is_empty());
    // Pages: offset skips the newest; a negative offset counts as zero.
    let page2 = run(AuditQuery {
        offset: 2,
        ..query(2)
    })
    .await;
    assert_eq!(page2, [events[4].clone(), events[3].clone()]);
    let negative = run(AuditQuery {
        offset: -5,
        ..query(1)
    })
    .await;
    assert_eq!(negative, [events[6].clone()]);
}
