//! The proof rules of RFC 9449 §4.3, one case per rule, against the engine over real stores.

use super::testing::ProofKey;
use super::{DPOP_SIGNING_ALGS, ProofRequest, access_token_hash};
use crate::test_server::TestServer;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_core::ErrorCode;
use serde_json::{Value, json};

fn token_url(server: &TestServer) -> String {
    server.engine.token_endpoint()
}

fn now(server: &TestServer) -> i64 {
    server.engine.clock.now().timestamp()
}

async fn check(
    server: &TestServer,
    proofs: &[String],
    access_token: Option<&str>,
) -> Result<Option<super::DpopProof>, ErrorCode> {
    let url = token_url(server);
    server
        .engine
        .check_dpop_proof(&ProofRequest {
            proofs,
            method: "POST",
            url: &url,
            access_token,
        })
        .await
        .map_err(|e| e.code)
}

#[tokio::test]
async fn a_well_formed_proof_of_every_accepted_alg_gives_its_keys_thumbprint() {
    let server = TestServer::start().await;
    for alg in DPOP_SIGNING_ALGS {
        let key = ProofKey::generate(alg);
        let proof = key.proof("POST", &token_url(&server), now(&server), &[]);
        let checked = check(&server, &[proof], None).await;
        assert_eq!(checked.unwrap().map(|p| p.jkt), Some(key.jkt()), "{alg}");
    }
    assert_eq!(check(&server, &[], None).await.unwrap(), None);
}

#[tokio::test]
async fn each_broken_rule_is_an_invalid_dpop_proof() {
    let server = TestServer::start().await;
    let key = ProofKey::generate("ES256");
    let other = ProofKey::generate("ES256");
    let ed = ProofKey::generate("EdDSA");
    let url = token_url(&server);
    let t = now(&server);
    let good_claims = || ProofKey::claims("POST", &url, t);
    let with_header = |change: &dyn Fn(&mut Value)| {
        let mut header = key.header();
        change(&mut header);
        key.sign(&header, &good_claims())
    };
    let with_claims = |change: &dyn Fn(&mut Value)| {
        let mut claims = good_claims();
        change(&mut claims);
        key.sign(&key.header(), &claims)
    };
    let unsigned = {
        let header = json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.public});
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(good_claims().to_string())
        )
    };
    let hmac = {
        let header =
            json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}});
        let signer = josekit::jws::HS256.signer_from_bytes([7u8; 32]).unwrap();
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(good_claims().to_string())
        );
        let signature = josekit::jws::JwsSigner::sign(&signer, input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "typ missing",
            vec![with_header(&|h| {
                drop(h.as_object_mut().unwrap().remove("typ"))
            })],
        ),
        ("typ JWT", vec![with_header(&|h| h["typ"] = json!("JWT"))]),
        ("alg none", vec![unsigned]),
        ("alg HS256 with a symmetric key", vec![hmac]),
        (
            "alg of another key type",
            vec![with_header(&|h| h["alg"] = json!("EdDSA"))],
        ),
        (
            "no jwk",
            vec![with_header(&|h| {
                drop(h.as_object_mut().unwrap().remove("jwk"))
            })],
        ),
        (
            "private jwk",
            vec![with_header(&|h| h["jwk"] = json!(key.private))],
        ),
        (
            "jwk of another key",
            vec![with_header(&|h| h["jwk"] = json!(other.public))],
        ),
        (
            "EdDSA proof with an ES256 jwk",
            vec![ed.sign(
                &json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.public}),
                &good_claims(),
            )],
        ),
        ("crit", vec![with_header(&|h| h["crit"] = json!(["exp"]))]),
        (
            "no jti",
            vec![with_claims(&|c| {
                drop(c.as_object_mut().unwrap().remove("jti"))
            })],
        ),
        ("htm GET", vec![with_claims(&|c| c["htm"] = json!("GET"))]),
        ("htm post", vec![with_claims(&|c| c["htm"] = json!("post"))]),
        (
            "htu of another endpoint",
            vec![with_claims(&|c| {
                c["htu"] = json!(format!("{}/userinfo", server.engine.issuer))
            })],
        ),
        (
            "htu of another host",
            vec![with_claims(&|c| {
                c["htu"] = json!("https://evil.example/token")
            })],
        ),
        (
            "htu not a URL",
            vec![with_claims(&|c| c["htu"] = json!("/token"))],
        ),
        (
            "no iat",
            vec![with_claims(&|c| {
                drop(c.as_object_mut().unwrap().remove("iat"))
            })],
        ),
        (
            "iat 61 s ago",
            vec![with_claims(&|c| c["iat"] = json!(t - 61))],
        ),
        (
            "iat 6 s ahead",
            vec![with_claims(&|c| c["iat"] = json!(t + 6))],
        ),
        (
            "two proofs",
            vec![
                key.proof("POST", &url, t, &[]),
                key.proof("POST", &url, t, &[]),
            ],
        ),
        ("not a JWS", vec!["not.a.jws".into()]),
        (
            "too long",
            vec![with_claims(&|c| {
                c["pad"] = json!("x".repeat(super::MAX_PROOF_BYTES))
            })],
        ),
    ];
    for (case, proofs) in cases {
        assert_eq!(
            check(&server, &proofs, None).await,
            Err(ErrorCode::InvalidDpopProof),
            "{case}"
        );
    }
}

#[tokio::test]
async fn the_window_edges_and_a_query_in_htu_are_accepted() {
    let server = TestServer::start().await;
    let key = ProofKey::generate("ES256");
    let url = token_url(&server);
    let t = now(&server);
    for (case, proof) in [
        ("iat 60 s ago", key.proof("POST", &url, t - 60, &[])),
        ("iat 5 s ahead", key.proof("POST", &url, t + 5, &[])),
        (
            "query and fragment",
            key.proof("POST", &format!("{url}?a=b#c"), t, &[]),
        ),
    ] {
        assert!(check(&server, &[proof], None).await.is_ok(), "{case}");
    }
}

#[tokio::test]
async fn a_proof_is_accepted_once() {
    let server = TestServer::start().await;
    let key = ProofKey::generate("EdDSA");
    let proof = key.proof("POST", &token_url(&server), now(&server), &[]);
    assert!(
        check(&server, std::slice::from_ref(&proof), None)
            .await
            .is_ok()
    );
    assert_eq!(
        check(&server, &[proof], None).await,
        Err(ErrorCode::InvalidDpopProof)
    );
}

#[tokio::test]
async fn with_an_access_token_ath_must_be_its_hash() {
    let server = TestServer::start().await;
    let key = ProofKey::generate("ES256");
    let (url, t) = (token_url(&server), now(&server));
    let ath = access_token_hash("the-token");
    let cases = [
        ("no ath", key.proof("POST", &url, t, &[]), false),
        (
            "ath of another token",
            key.proof("POST", &url, t, &[("ath", &access_token_hash("other"))]),
            false,
        ),
        (
            "ath of the token",
            key.proof("POST", &url, t, &[("ath", &ath)]),
            true,
        ),
    ];
    for (case, proof, accepted) in cases {
        let checked = check(&server, &[proof], Some("the-token")).await;
        assert_eq!(checked.is_ok(), accepted, "{case}: {checked:?}");
    }
}

#[tokio::test]
async fn a_required_nonce_is_asked_for_then_accepted_for_two_windows() {
    let mut server = TestServer::start().await;
    server.engine.policy.dpop.require_nonce = true;
    let key = ProofKey::generate("ES256");
    let url = token_url(&server);

    let without = key.proof("POST", &url, now(&server), &[]);
    assert_eq!(
        check(&server, &[without], None).await,
        Err(ErrorCode::UseDpopNonce)
    );
    let wrong = key.proof("POST", &url, now(&server), &[("nonce", "made-up")]);
    assert_eq!(
        check(&server, &[wrong], None).await,
        Err(ErrorCode::UseDpopNonce)
    );

    let nonce = server.engine.dpop_nonce().await.unwrap().unwrap();
    assert_eq!(
        server.engine.dpop_nonce().await.unwrap().as_ref(),
        Some(&nonce)
    );
    let with = key.proof("POST", &url, now(&server), &[("nonce", &nonce)]);
    assert!(check(&server, &[with], None).await.is_ok());

    // The next window hands out another nonce and still takes this one; the one after, not.
    let lifetime = server.engine.policy.dpop.nonce_lifetime_secs;
    server.clock.advance(chrono::Duration::seconds(lifetime));
    let next = server.engine.dpop_nonce().await.unwrap().unwrap();
    assert_ne!(next, nonce);
    let previous = key.proof("POST", &url, now(&server), &[("nonce", &nonce)]);
    assert!(check(&server, &[previous], None).await.is_ok());
    server.clock.advance(chrono::Duration::seconds(lifetime));
    let stale = key.proof("POST", &url, now(&server), &[("nonce", &nonce)]);
    assert_eq!(
        check(&server, &[stale], None).await,
        Err(ErrorCode::UseDpopNonce)
    );
}

#[tokio::test]
async fn without_a_required_nonce_no_nonce_is_handed_out() {
    let server = TestServer::start().await;
    assert_eq!(server.engine.dpop_nonce().await.unwrap(), None);
}

/// RFC 9449 §10.1: the PAR endpoint's binding, from the proof, the parameter, or both agreeing.
#[tokio::test]
async fn par_binds_to_the_proofs_key_or_to_dpop_jkt_and_refuses_them_disagreeing() {
    let server = TestServer::start().await;
    let key = ProofKey::generate("ES256");
    let other = ProofKey::generate("ES256");
    let par = server.engine.par_endpoint();
    let proof = || vec![key.proof("POST", &par, now(&server), &[])];
    let engine = &server.engine;

    assert_eq!(
        engine.dpop_jkt_for_par(&proof(), None).await.unwrap(),
        Some(key.jkt())
    );
    assert_eq!(
        engine
            .dpop_jkt_for_par(&proof(), Some(&key.jkt()))
            .await
            .unwrap(),
        Some(key.jkt())
    );
    assert_eq!(
        engine
            .dpop_jkt_for_par(&[], Some(&other.jkt()))
            .await
            .unwrap(),
        Some(other.jkt())
    );
    assert_eq!(engine.dpop_jkt_for_par(&[], None).await.unwrap(), None);

    let disagreeing = engine.dpop_jkt_for_par(&proof(), Some(&other.jkt())).await;
    assert_eq!(disagreeing.unwrap_err().code, ErrorCode::InvalidDpopProof);
    let malformed = engine.dpop_jkt_for_par(&[], Some("not-a-thumbprint")).await;
    assert_eq!(malformed.unwrap_err().code, ErrorCode::InvalidRequest);
    let for_the_token_endpoint = vec![key.proof("POST", &token_url(&server), now(&server), &[])];
    let refused = engine.dpop_jkt_for_par(&for_the_token_endpoint, None).await;
    assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidDpopProof);
}

#[tokio::test]
async fn a_changed_claim_or_signature_fails_for_every_alg() {
    let server = TestServer::start().await;
    let url = token_url(&server);
    let t = now(&server);
    for alg in DPOP_SIGNING_ALGS {
        let key = ProofKey::generate(alg);
        let proof = key.proof("POST", &url, t, &[]);
        let segments: Vec<&str> = proof.split('.').collect();
        // Claims swapped for others the signature never covered.
        let other_claims = ProofKey::claims("POST", &url, t + 1);
        let swapped = format!(
            "{}.{}.{}",
            segments[0],
            URL_SAFE_NO_PAD.encode(other_claims.to_string()),
            segments[2]
        );
        // One bit of the signature flipped.
        let mut signature = URL_SAFE_NO_PAD.decode(segments[2]).unwrap();
        signature[0] ^= 1;
        let flipped = format!(
            "{}.{}.{}",
            segments[0],
            segments[1],
            URL_SAFE_NO_PAD.encode(&signature)
        );
        for (case, bad) in [("claims", swapped), ("signature", flipped)] {
            assert_eq!(
                check(&server, &[bad], None).await,
                Err(ErrorCode::InvalidDpopProof),
                "{alg}: changed {case}"
            );
        }
        assert!(check(&server, &[proof], None).await.is_ok(), "{alg}");
    }
}
