//! What happens to tokens across an account's and a grant's life: account events, idle and
//! absolute lifetimes, reuse of any rotated refresh token, late code replays, clock steps.

use super::fixture::{
    RelyingParty, alice_and_a_public_client, error_code, is_access_token_active, issue_code,
};
use crate::account_events::end_every_session;
use crate::interaction::used_key;
use crate::test_server::TestServer;
use chrono::Duration;
use palisade_core::ErrorCode;
use palisade_core::model::User;

/// Whether userinfo still answers for the token (it checks the user's standing).
async fn userinfo_accepts(server: &TestServer, access_token: &str) -> bool {
    match server.engine.userinfo(access_token).await {
        Ok(_) => true,
        Err(e) if e.code == ErrorCode::InvalidToken => false,
        Err(e) => panic!("userinfo failed: {e:?}"),
    }
}

async fn sign_out_everywhere(server: &TestServer, user: &User) {
    end_every_session(
        server.engine.users.as_ref(),
        server.engine.refresh_tokens.as_ref(),
        &user.id,
        server.engine.clock.now(),
    )
    .await
    .expect("the account event");
}

#[tokio::test]
async fn an_account_event_voids_refresh_tokens_access_tokens_and_outstanding_codes() {
    let (server, rp, alice) = alice_and_a_public_client().await;
    let redeemed = issue_code(&server, &rp, &alice, "openid offline_access").await;
    let issued = rp.redeem(&server, &redeemed).await.unwrap();
    let refresh = issued.refresh_token.clone().unwrap();
    let outstanding = issue_code(&server, &rp, &alice, "openid offline_access").await;
    assert!(userinfo_accepts(&server, &issued.access_token).await);

    sign_out_everywhere(&server, &alice).await;

    assert!(!userinfo_accepts(&server, &issued.access_token).await);
    assert_eq!(
        error_code(rp.refresh(&server, &refresh, None).await),
        ErrorCode::InvalidGrant
    );
    assert_eq!(
        error_code(rp.redeem(&server, &outstanding).await),
        ErrorCode::InvalidGrant
    );
    // A sign-in after the event stands: the event ended what came before, not the account.
    server.clock.advance(Duration::seconds(1));
    let fresh = issue_code(&server, &rp, &alice, "openid offline_access").await;
    let fresh = rp.redeem(&server, &fresh).await.unwrap();
    assert!(userinfo_accepts(&server, &fresh.access_token).await);
    assert!(
        rp.refresh(&server, fresh.refresh_token.as_deref().unwrap(), None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn enabling_a_user_again_restores_nothing() {
    let (server, rp, alice) = alice_and_a_public_client().await;
    let code = issue_code(&server, &rp, &alice, "openid offline_access").await;
    let issued = rp.redeem(&server, &code).await.unwrap();
    let users = &server.engine.users;
    // What disabling does (flow::admin::Admin::set_user_disabled): the flag and the event.
    users
        .set_user_disabled(&alice.id, true, server.engine.clock.now())
        .await
        .unwrap();
    sign_out_everywhere(&server, &alice).await;
    server.clock.advance(Duration::minutes(1));
    users
        .set_user_disabled(&alice.id, false, server.engine.clock.now())
        .await
        .unwrap();

    assert!(!userinfo_accepts(&server, &issued.access_token).await);
    assert_eq!(
        error_code(
            rp.refresh(&server, issued.refresh_token.as_deref().unwrap(), None)
                .await
        ),
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn a_family_unused_for_its_idle_lifetime_dies_and_one_in_use_lives_to_its_absolute_end() {
    let (server, rp, alice) = alice_and_a_public_client().await;
    let policy = server.engine.policy.clone();
    assert!(policy.refresh_token_idle_ttl < policy.refresh_token_ttl);

    let idle = issue_code(&server, &rp, &alice, "openid offline_access").await;
    let idle = rp
        .redeem(&server, &idle)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    let busy = issue_code(&server, &rp, &alice, "openid offline_access").await;
    let mut busy = rp
        .redeem(&server, &busy)
        .await
        .unwrap()
        .refresh_token
        .unwrap();

    // Used every half idle lifetime, the busy family lives on; the idle one does not.
    let step = policy.refresh_token_idle_ttl / 2;
    let mut lived = Duration::zero();
    while lived + step < policy.refresh_token_ttl {
        server.clock.advance(step);
        lived += step;
        busy = rp
            .refresh(&server, &busy, None)
            .await
            .unwrap_or_else(|e| panic!("refused after {lived}: {e:?}"))
            .refresh_token
            .unwrap();
    }
    assert_eq!(
        error_code(rp.refresh(&server, &idle, None).await),
        ErrorCode::InvalidGrant
    );
    // However busy, a family ends at its absolute lifetime.
    server.clock.advance(policy.refresh_token_ttl - lived);
    assert_eq!(
        error_code(rp.refresh(&server, &busy, None).await),
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn presenting_any_rotated_away_token_revokes_the_family_not_only_the_previous_one() {
    let (server, rp, alice) = alice_and_a_public_client().await;
    let code = issue_code(&server, &rp, &alice, "openid offline_access").await;
    let r1 = rp
        .redeem(&server, &code)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    let r2 = rp.refresh(&server, &r1, None).await.unwrap();
    let r3 = rp
        .refresh(&server, r2.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap();
    // Still inside the grace window of the last rotation, but r1 is two rotations old: no
    // retry explains it.
    assert_eq!(
        error_code(rp.refresh(&server, &r1, None).await),
        ErrorCode::InvalidGrant
    );
    assert_eq!(
        error_code(
            rp.refresh(&server, r3.refresh_token.as_deref().unwrap(), None)
                .await
        ),
        ErrorCode::InvalidGrant,
        "the family survived the reuse"
    );
    assert!(!is_access_token_active(&server, &r3.access_token).await);
}

#[tokio::test]
async fn a_code_replayed_after_its_marker_is_gone_still_revokes_the_refresh_family() {
    let (server, rp, alice) = alice_and_a_public_client().await;
    let code = issue_code(&server, &rp, &alice, "openid offline_access").await;
    let issued = rp.redeem(&server, &code).await.unwrap();
    // Weeks later: the replay marker has expired (it lasts as long as access tokens).
    server
        .engine
        .ephemeral
        .delete(&used_key(&code.code))
        .await
        .unwrap();
    server.clock.advance(Duration::days(10));
    let refresh = rp
        .refresh(&server, issued.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap()
        .refresh_token
        .unwrap();

    assert_eq!(
        error_code(rp.redeem(&server, &code).await),
        ErrorCode::InvalidGrant
    );
    assert_eq!(
        error_code(rp.refresh(&server, &refresh, None).await),
        ErrorCode::InvalidGrant,
        "the replay did not reach the family"
    );
}

/// The store's TTL runs on its own clock (tokio's here, Redis's in production); ours is moved
/// back past the token's expiry by the store's reckoning.
#[tokio::test]
async fn a_revoked_access_token_stays_revoked_when_the_clock_steps_back() {
    let server = TestServer::with_in_process_store().await;
    let rp = RelyingParty::public(&server).await;
    let alice = server.user("alice").await;
    let code = issue_code(&server, &rp, &alice, "openid").await;
    let issued = rp.redeem(&server, &code).await.unwrap();
    let claims = server
        .engine
        .validate_access_token(&issued.access_token)
        .await
        .unwrap();
    server
        .engine
        .revoke_access_token(&claims.jti, claims.expires_at)
        .await
        .unwrap();

    let lifetime = server.engine.policy.access_token_ttl;
    let past_expiry = (lifetime + Duration::minutes(5)).to_std().unwrap();
    tokio::time::pause();
    tokio::time::advance(past_expiry).await;
    tokio::time::resume();
    // Our clock went forward with the store's, then stepped back to mid-life of the token.
    server.clock.advance(lifetime / 2);

    assert!(
        !is_access_token_active(&server, &issued.access_token).await,
        "a revoked token came back to life"
    );
}

#[tokio::test]
async fn a_token_issued_in_our_future_is_refused() {
    let (server, rp, alice) = alice_and_a_public_client().await;
    let code = issue_code(&server, &rp, &alice, "openid").await;
    let issued = rp.redeem(&server, &code).await.unwrap();
    server.clock.advance(Duration::minutes(-5));
    assert!(!is_access_token_active(&server, &issued.access_token).await);
}

#[tokio::test]
async fn no_token_rests_in_clear_after_a_rotation_and_a_retry() {
    let (server, rp, alice) = alice_and_a_public_client().await;
    let code = issue_code(&server, &rp, &alice, "openid offline_access").await;
    let first = rp.redeem(&server, &code).await.unwrap();
    let r1 = first.refresh_token.clone().unwrap();
    let second = rp.refresh(&server, &r1, None).await.unwrap();
    let retry = rp.refresh(&server, &r1, None).await.unwrap();
    assert_eq!(
        second, retry,
        "the retry inside the grace window got another pair"
    );

    let at_rest = server.everything_at_rest().await;
    assert!(
        at_rest.contains("refresh-successor:"),
        "the retry cache was not written: the scan proves nothing"
    );
    let mut issued = vec![code.code.clone(), code.verifier.clone()];
    for response in [&first, &second] {
        issued.push(response.access_token.clone());
        issued.extend(response.refresh_token.clone());
        issued.extend(response.id_token.clone());
    }
    for token in issued {
        assert!(!at_rest.contains(&token), "{token} rests in clear");
    }
}

#[tokio::test]
async fn ended_families_are_purged_a_day_after_they_end_and_live_ones_stay() {
    let (server, rp, alice) = alice_and_a_public_client().await;
    let redeem = |scope: &'static str| {
        let (server, rp, alice) = (&server, &rp, &alice);
        async move {
            let code = issue_code(server, rp, alice, scope).await;
            let issued = rp.redeem(server, &code).await.unwrap();
            (code.grant_id, issued.refresh_token.unwrap())
        }
    };
    let (revoked, _) = redeem("openid offline_access").await;
    let (live, live_token) = redeem("openid offline_access").await;
    // Rotated once, so the purge has a spent token to take along.
    let (_, rotated_token) = redeem("openid offline_access").await;
    rp.refresh(&server, &rotated_token, None).await.unwrap();
    server.engine.revoke_grant(&revoked).await.unwrap();

    assert_eq!(server.engine.purge_ended_grants().await.unwrap(), 0);
    server
        .clock
        .advance(crate::housekeeping::ENDED_GRANT_RETENTION + Duration::seconds(1));
    let refreshed = rp.refresh(&server, &live_token, None).await.unwrap();
    assert_eq!(server.engine.purge_ended_grants().await.unwrap(), 1);
    let families = &server.engine.refresh_tokens;
    assert!(
        families
            .find_refresh_token_family_by_id(&revoked)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        families
            .find_refresh_token_family_by_id(&live)
            .await
            .unwrap()
            .is_some()
    );

    // Past their absolute lifetime, the rest go too, spent tokens with them.
    server.clock.advance(server.engine.policy.refresh_token_ttl);
    assert_eq!(server.engine.purge_ended_grants().await.unwrap(), 2);
    for token in [live_token, rotated_token, refreshed.refresh_token.unwrap()] {
        assert!(
            families
                .find_refresh_token_family(&palisade_core::TokenHash::of(&token))
                .await
                .unwrap()
                .is_none()
        );
    }
}
