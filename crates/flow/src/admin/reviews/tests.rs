//! Grant expiry, stale selection and bulk decisions against the real stores the environment
//! picks (SQLite or PostgreSQL), with a manual clock.

use super::*;
use chrono::Duration;
use palisade_core::model::{AuditEvent, AuditOutcome, AuditQuery};
use palisade_core::ports::{AuditLog, RoleRepository, UserRepository};
use palisade_core::{Clock, Secret};

use crate::admin::tests::Fixture;

/// The administration fixture, with a role `helpdesk` that reads users (`auditor`, built in,
/// reads everything).
async fn fixture() -> Fixture {
    let f = crate::admin::tests::fixture().await;
    f.admin
        .create_role(
            &Caller::operator(),
            "helpdesk",
            None,
            &["users:read".into()],
        )
        .await
        .unwrap();
    f
}

fn holding(permissions: &[Permission]) -> Caller {
    Caller {
        actor: "user:reviewer".into(),
        permissions: permissions.iter().copied().collect(),
        client_ip: None,
    }
}

async fn user(f: &Fixture, username: &str) -> User {
    let password = Secret::new("correct horse battery staple");
    f.admin
        .create_user(
            &Caller::operator(),
            users::NewAccount {
                username,
                password: &password,
                email: None,
                display_name: None,
            },
        )
        .await
        .unwrap()
}

async fn events(f: &Fixture, action: Action) -> Vec<AuditEvent> {
    f.sql
        .query(AuditQuery {
            action: Some(action.as_str().into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

fn key(user: &User, role: &str) -> GrantKey {
    GrantKey {
        user_id: user.id.clone(),
        role: RoleName::parse(role).unwrap(),
    }
}

fn names(page: &GrantPage) -> Vec<String> {
    page.grants
        .iter()
        .map(|g| format!("{}:{}", g.username.as_str(), g.grant.role))
        .collect()
}

#[tokio::test]
async fn a_grant_gives_nothing_from_its_expiry_and_the_sweep_removes_it_as_system() {
    let f = fixture().await;
    let bob = user(&f, "bob").await;
    let operator = Caller::operator();
    let expires = f.clock.now() + Duration::hours(1);
    f.admin
        .grant_role(&operator, &bob, "helpdesk", Some(expires))
        .await
        .unwrap();
    let now = f.clock.now();
    assert_eq!(
        f.sql.permissions_of_user(&bob.id, now).await.unwrap(),
        [Permission::UsersRead]
    );
    let holders = f
        .admin
        .role_holders(&operator, "helpdesk", 0)
        .await
        .unwrap();
    let grant = &holders.holders.grants[0].grant;
    assert_eq!(grant.granted_by.as_deref(), Some("cli"));
    assert_eq!(
        grant.granted_at.map(|t| t.timestamp()),
        Some(now.timestamp())
    );
    assert_eq!(
        grant.expires_at.map(|t| t.timestamp()),
        Some(expires.timestamp())
    );
    // Nothing has lapsed yet: the sweep leaves it.
    assert_eq!(f.admin.sweep_lapsed_grants().await.unwrap(), 0);

    // At the expiry itself it is gone from everything that resolves roles, before any sweep.
    f.clock.advance(Duration::hours(1));
    let now = f.clock.now();
    assert!(
        f.sql
            .permissions_of_user(&bob.id, now)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(f.sql.roles_of_user(&bob.id, now).await.unwrap().is_empty());
    let holders = f
        .admin
        .role_holders(&operator, "helpdesk", 0)
        .await
        .unwrap();
    assert!(holders.holders.grants.is_empty());
    assert!(
        f.admin
            .review(&operator, 1, 0)
            .await
            .unwrap()
            .grants
            .is_empty()
    );

    assert_eq!(f.admin.sweep_lapsed_grants().await.unwrap(), 1);
    assert!(f.sql.lapsed_role_grants(now, 10).await.unwrap().is_empty());
    let lapses = events(&f, Action::LapseRole).await;
    assert_eq!(lapses.len(), 1);
    assert_eq!(lapses[0].actor, "system");
    assert_eq!(
        lapses[0].target.as_deref(),
        Some(users::target(&bob.id).as_str())
    );
    assert!(lapses[0].details.as_deref().unwrap().contains("helpdesk"));
    assert_eq!(f.admin.sweep_lapsed_grants().await.unwrap(), 0);
    assert_eq!(events(&f, Action::LapseRole).await.len(), 1);
}

#[tokio::test]
async fn granting_again_renews_a_lapsed_grant_and_the_sweep_leaves_it() {
    let f = fixture().await;
    let bob = user(&f, "bob").await;
    let operator = Caller::operator();
    f.admin
        .grant_role(
            &operator,
            &bob,
            "helpdesk",
            Some(f.clock.now() + Duration::days(1)),
        )
        .await
        .unwrap();
    f.clock.advance(Duration::days(2));
    f.admin
        .grant_role(&operator, &bob, "helpdesk", None)
        .await
        .unwrap();
    assert_eq!(f.admin.sweep_lapsed_grants().await.unwrap(), 0);
    let now = f.clock.now();
    assert_eq!(
        f.sql.roles_of_user(&bob.id, now).await.unwrap(),
        [RoleName::parse("helpdesk").unwrap()]
    );
    assert!(events(&f, Action::LapseRole).await.is_empty());
}

#[tokio::test]
async fn an_expiry_that_is_not_ahead_is_refused_and_nothing_is_granted() {
    let f = fixture().await;
    let bob = user(&f, "bob").await;
    let now = f.clock.now();
    for expiry in [now, now - Duration::seconds(1)] {
        let refused = f
            .admin
            .grant_role(&Caller::operator(), &bob, "helpdesk", Some(expiry))
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, AdminError::Invalid(m) if m.contains("future")),
            "{refused:?}"
        );
    }
    assert!(f.sql.roles_of_user(&bob.id, now).await.unwrap().is_empty());
    assert!(events(&f, Action::GrantRole).await.is_empty());
}

#[tokio::test]
async fn a_review_lists_grants_unused_or_unconfirmed_for_the_days_asked() {
    let f = fixture().await;
    let operator = Caller::operator();
    let (active, idle, old_grant) = (
        user(&f, "active").await,
        user(&f, "idle").await,
        user(&f, "oldgrant").await,
    );
    f.admin
        .grant_role(&operator, &old_grant, "helpdesk", None)
        .await
        .unwrap();
    f.clock.advance(Duration::days(100));
    for holder in [&active, &idle] {
        f.admin
            .grant_role(&operator, holder, "helpdesk", None)
            .await
            .unwrap();
    }
    f.clock.advance(Duration::days(1));
    let now = f.clock.now();
    f.sql.record_sign_in(&active.id, now).await.unwrap();
    f.sql.record_sign_in(&old_grant.id, now).await.unwrap();

    // idle never signed in; oldgrant signs in but the grant is 101 days old, unconfirmed.
    let review = f.admin.review(&operator, 90, 0).await.unwrap();
    assert_eq!(names(&review), ["idle:helpdesk", "oldgrant:helpdesk"]);
    assert!(!review.has_next);
    let shown = &review.grants[1];
    assert_eq!(
        shown.last_sign_in_at.map(|t| t.timestamp()),
        Some(now.timestamp())
    );
    // Over a longer look back, only the holder who never signed in.
    assert_eq!(
        names(&f.admin.review(&operator, 365, 0).await.unwrap()),
        ["idle:helpdesk"]
    );

    // Confirming restarts the grant's clock, not the sign-in's.
    let decided = f
        .admin
        .confirm_grants(
            &operator,
            &[key(&old_grant, "helpdesk"), key(&idle, "helpdesk")],
        )
        .await
        .unwrap();
    assert_eq!(decided.decided.len(), 2);
    assert_eq!(
        names(&f.admin.review(&operator, 90, 0).await.unwrap()),
        ["idle:helpdesk"]
    );
    f.clock.advance(Duration::days(91));
    assert_eq!(
        names(&f.admin.review(&operator, 90, 0).await.unwrap()),
        ["active:helpdesk", "idle:helpdesk", "oldgrant:helpdesk"]
    );

    for wrong in [0, MAX_STALE_AFTER_DAYS + 1] {
        assert!(matches!(
            f.admin.review(&operator, wrong, 0).await,
            Err(AdminError::Invalid(_))
        ));
    }
    assert!(matches!(
        f.admin
            .review(&holding(&[Permission::UsersRead]), 90, 0)
            .await,
        Err(AdminError::Forbidden(_))
    ));
}

#[tokio::test]
async fn bulk_decisions_audit_each_grant_and_name_those_not_held() {
    let f = fixture().await;
    let operator = Caller::operator();
    let (ann, ben) = (user(&f, "ann").await, user(&f, "ben").await);
    for holder in [&ann, &ben] {
        f.admin
            .grant_role(&operator, holder, "helpdesk", None)
            .await
            .unwrap();
    }
    let reviewer = holding(&[
        Permission::RolesRead,
        Permission::RolesWrite,
        Permission::UsersRead,
    ]);
    f.clock.advance(Duration::minutes(5));

    let confirmed = f
        .admin
        .confirm_grants(&reviewer, &[key(&ann, "helpdesk"), key(&ann, "helpdesk")])
        .await
        .unwrap();
    assert_eq!(confirmed.decided, [key(&ann, "helpdesk")]);
    let holders = f
        .admin
        .role_holders(&operator, "helpdesk", 0)
        .await
        .unwrap();
    assert_eq!(
        holders.holders.grants[0]
            .grant
            .confirmed_at
            .map(|t| t.timestamp()),
        Some(f.clock.now().timestamp())
    );
    assert_eq!(holders.holders.grants[1].grant.confirmed_at, None);

    let revoked = f
        .admin
        .revoke_grants(
            &reviewer,
            &[
                key(&ann, "helpdesk"),
                key(&ben, "helpdesk"),
                key(&ben, "auditor"),
                GrantKey::parse("no-such-user:helpdesk").unwrap(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(revoked.decided.len(), 2);
    assert_eq!(revoked.not_held.len(), 2);
    let now = f.clock.now();
    assert!(f.sql.roles_of_user(&ann.id, now).await.unwrap().is_empty());
    assert!(f.sql.roles_of_user(&ben.id, now).await.unwrap().is_empty());

    let confirms = events(&f, Action::ConfirmRole).await;
    assert_eq!(confirms.len(), 1);
    assert_eq!(confirms[0].actor, "user:reviewer");
    let revokes = events(&f, Action::RevokeRole).await;
    assert_eq!(revokes.len(), 2);
    assert!(revokes.iter().all(|e| e.outcome == AuditOutcome::Success
        && e.details.as_deref().unwrap().contains("\"review\":true")));
}

#[tokio::test]
async fn a_reviewer_decides_nothing_beyond_what_they_hold_and_a_refusal_changes_nothing() {
    let f = fixture().await;
    let operator = Caller::operator();
    let (ann, ben) = (user(&f, "ann").await, user(&f, "ben").await);
    f.admin
        .grant_role(&operator, &ann, "helpdesk", None)
        .await
        .unwrap();
    f.admin
        .grant_role(&operator, &ben, "auditor", None)
        .await
        .unwrap();
    // Holds the helpdesk role's permission but not the auditor's.
    let reviewer = holding(&[
        Permission::RolesRead,
        Permission::RolesWrite,
        Permission::UsersRead,
    ]);
    let both = [key(&ann, "helpdesk"), key(&ben, "auditor")];
    for refused in [
        f.admin.revoke_grants(&reviewer, &both).await,
        f.admin.confirm_grants(&reviewer, &both).await,
    ] {
        assert!(
            matches!(&refused, Err(AdminError::Forbidden(m)) if m.contains("audit:read")),
            "{refused:?}"
        );
    }
    // Without roles:write, not even the grant within reach.
    let reader = holding(&[Permission::RolesRead, Permission::UsersRead]);
    let refused = f
        .admin
        .revoke_grants(&reader, &[key(&ann, "helpdesk")])
        .await;
    assert!(
        matches!(&refused, Err(AdminError::Forbidden(m)) if m.contains("roles:write")),
        "{refused:?}"
    );

    let now = f.clock.now();
    assert_eq!(f.sql.roles_of_user(&ann.id, now).await.unwrap().len(), 1);
    assert_eq!(f.sql.roles_of_user(&ben.id, now).await.unwrap().len(), 1);
    let holders = f
        .admin
        .role_holders(&operator, "helpdesk", 0)
        .await
        .unwrap();
    assert_eq!(holders.holders.grants[0].grant.confirmed_at, None);
    let refusals = events(&f, Action::RevokeRole).await;
    assert_eq!(refusals.len(), 2);
    assert!(refusals.iter().all(|e| e.outcome == AuditOutcome::Failure));
    assert!(
        events(&f, Action::ConfirmRole)
            .await
            .iter()
            .all(|e| e.outcome == AuditOutcome::Failure)
    );
}

#[tokio::test]
async fn grant_names_parse_at_the_first_colon_and_limits_hold() {
    let parsed = GrantKey::parse("6f1c:team:ops").unwrap();
    assert_eq!(parsed.user_id.0, "6f1c");
    assert_eq!(parsed.role.as_str(), "team:ops");
    assert_eq!(parsed.to_string(), "6f1c:team:ops");
    for wrong in ["", "no-colon", ":role", "user:", "user:Bad Role"] {
        assert!(GrantKey::parse(wrong).is_err(), "{wrong}");
    }
    assert_eq!(parse_stale_after_days(None).unwrap(), 90);
    assert_eq!(parse_stale_after_days(Some("30")).unwrap(), 30);
    for wrong in ["0", "-1", "3651", "ninety", "1e3"] {
        assert!(parse_stale_after_days(Some(wrong)).is_err(), "{wrong}");
    }
    assert_eq!(
        parse_expiry("2027-01-31").unwrap().to_rfc3339(),
        "2027-02-01T00:00:00+00:00"
    );
    assert_eq!(
        parse_expiry("2027-01-31T12:00:00+01:00")
            .unwrap()
            .to_rfc3339(),
        "2027-01-31T11:00:00+00:00"
    );
    for wrong in ["", "2027-02-30", "31/01/2027", "2027-1-5", "tomorrow"] {
        assert!(parse_expiry(wrong).is_err(), "{wrong}");
    }
    assert_eq!(parse_page(Some("2")).unwrap(), 2);
    assert!(parse_page(Some("-1")).is_err());

    let f = fixture().await;
    let too_many: Vec<GrantKey> = (0..=MAX_DECISIONS)
        .map(|i| GrantKey::parse(&format!("u{i}:helpdesk")).unwrap())
        .collect();
    assert!(matches!(
        f.admin.revoke_grants(&Caller::operator(), &too_many).await,
        Err(AdminError::Invalid(_))
    ));
}
