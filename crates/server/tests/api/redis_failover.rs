//! A Redis Sentinel failover under sign-in load (docs/deployment.md, "Redis high
//! availability"): the primary is killed with `kill -9` while browsers sign in and a guesser
//! tries passwords. Until a replica is promoted every request that needs Redis fails closed
//! (503 with `Retry-After`; at `/authorize`, whose client and redirect URI are known, the
//! redirect with `error=temporarily_unavailable` of RFC 6749 §4.1.2.1; never a 500, never a
//! password checked without the limiter); once the sentinels name the replica, sign-ins
//! succeed on it and every write lands there.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, spawn_app_with};
use crate::support::{
    ClientSpec, PASSWORD, REDIRECT_URI, TestClient, create_user, hidden, pkce_pair, query_param,
    register_client,
};
use palisade_store::testing::redis_servers::{SentinelGroup, connect};
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// A sign-in reached its tokens; a wrong password got the login page's refusal.
    Served,
    /// Refused for now at `step`: a 503 (`said_when` if it carried `Retry-After`), or the
    /// client's redirect with `error=temporarily_unavailable` (`said_when` always).
    Unavailable { step: &'static str, said_when: bool },
    /// Anything else: a 500, a redirect to the client with an error, a page we did not expect.
    Wrong { step: &'static str, what: String },
}

#[derive(Debug, Clone)]
struct Attempt {
    kind: &'static str,
    started: Instant,
    finished: Instant,
    outcome: Outcome,
}

/// A browser without its cookies kept between attempts, and the steps of one attempt.
struct Visitor<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
}

impl<'a> Visitor<'a> {
    fn new(app: &'a TestApp) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
        Self { app, http }
    }

    /// One response, judged: `Ok` with the response when its status is `expected`.
    async fn step(
        &self,
        step: &'static str,
        request: reqwest::RequestBuilder,
        expected: &[StatusCode],
    ) -> Result<reqwest::Response, Outcome> {
        let res = request.send().await.map_err(|e| Outcome::Wrong {
            step,
            what: format!("no answer: {e}"),
        })?;
        let status = res.status();
        if expected.contains(&status) {
            return Ok(res);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return Err(Outcome::Unavailable {
                step,
                said_when: res.headers().contains_key("retry-after"),
            });
        }
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap_or_default().to_owned());
        let body = res.text().await.unwrap_or_default();
        Err(Outcome::Wrong {
            step,
            what: format!(
                "{status} {location:?} {}",
                body.chars().take(300).collect::<String>()
            ),
        })
    }

    /// `GET /authorize` and the login page it leads to: the page's URL and HTML.
    async fn open_login(
        &self,
        client: &TestClient,
        challenge: &str,
    ) -> Result<(String, String), Outcome> {
        let redirect = [StatusCode::FOUND, StatusCode::SEE_OTHER];
        let res = self
            .step(
                "authorize",
                self.http
                    .get(authorize_url(self.app, client, challenge, &[])),
                &redirect,
            )
            .await?;
        let login = location(&res);
        if login.starts_with(REDIRECT_URI) {
            let unavailable =
                query_param(&login, "error").as_deref() == Some("temporarily_unavailable");
            return Err(if unavailable {
                Outcome::Unavailable {
                    step: "authorize",
                    said_when: true,
                }
            } else {
                Outcome::Wrong {
                    step: "authorize",
                    what: login,
                }
            });
        }
        let login = absolute(self.app, &login);
        let page = self
            .step("login page", self.http.get(&login), &[StatusCode::OK])
            .await?;
        Ok((login, page.text().await.unwrap_or_default()))
    }

    async fn post_login(
        &self,
        html: &str,
        password: &str,
        expected: &[StatusCode],
    ) -> Result<reqwest::Response, Outcome> {
        let form = [
            ("csrf_token", hidden(html, "csrf_token")),
            ("interaction_id", hidden(html, "interaction_id")),
            ("username", "alice".to_owned()),
            ("password", password.to_owned()),
        ];
        self.step(
            "login",
            self.http.post(self.app.url("/login")).form(&form),
            expected,
        )
        .await
    }

    /// A whole sign-in of alice: authorize, login, (consent), code, tokens.
    async fn sign_in(&self, client: &TestClient) -> Outcome {
        match self.try_sign_in(client).await {
            Ok(()) => Outcome::Served,
            Err(outcome) => outcome,
        }
    }

    async fn try_sign_in(&self, client: &TestClient) -> Result<(), Outcome> {
        let redirect = [StatusCode::FOUND, StatusCode::SEE_OTHER];
        let (verifier, challenge) = pkce_pair();
        let (_, html) = self.open_login(client, &challenge).await?;
        let mut next = location(&self.post_login(&html, PASSWORD, &redirect).await?);
        if next.contains("/consent?") {
            let consent = absolute(self.app, &next);
            let page = self
                .step("consent page", self.http.get(&consent), &[StatusCode::OK])
                .await?;
            let html = page.text().await.unwrap_or_default();
            let form = [
                ("csrf_token", hidden(&html, "csrf_token")),
                ("interaction_id", hidden(&html, "interaction_id")),
                ("decision", "allow".to_owned()),
            ];
            let res = self
                .step(
                    "consent",
                    self.http.post(self.app.url("/consent")).form(&form),
                    &redirect,
                )
                .await?;
            next = location(&res);
        }
        let code = match query_param(&next, "code") {
            Some(code) if next.starts_with(REDIRECT_URI) => code,
            _ => {
                return Err(Outcome::Wrong {
                    step: "redirect",
                    what: next,
                });
            }
        };
        let exchange = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ];
        let request = self
            .http
            .post(self.app.url("/token"))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&exchange);
        let tokens = self.step("token", request, &[StatusCode::OK]).await?;
        let body: serde_json::Value = tokens.json().await.unwrap_or_default();
        if body["access_token"].is_string() {
            Ok(())
        } else {
            Err(Outcome::Wrong {
                step: "token",
                what: body.to_string(),
            })
        }
    }

    /// A wrong password for alice: the limiter must count it before the password is checked.
    async fn guess(&self, client: &TestClient, refusal: StatusCode) -> Outcome {
        let (_, challenge) = pkce_pair();
        let html = match self.open_login(client, &challenge).await {
            Ok((_, html)) => html,
            Err(outcome) => return outcome,
        };
        match self
            .post_login(&html, "not alice's password", &[refusal])
            .await
        {
            Ok(_) => Outcome::Served,
            Err(outcome) => outcome,
        }
    }
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|l| l.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

fn absolute(app: &TestApp, location: &str) -> String {
    Url::parse(&app.url("/"))
        .unwrap()
        .join(location)
        .unwrap()
        .to_string()
}

/// Runs `attempt` over and over until `stop`, recording each.
fn keep_trying<F, Fut>(
    kind: &'static str,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
    attempt: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Outcome> + Send,
{
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let outcome = attempt().await;
            let finished = Instant::now();
            let unavailable = matches!(outcome, Outcome::Unavailable { .. });
            log.lock().unwrap().push(Attempt {
                kind,
                started,
                finished,
                outcome,
            });
            if unavailable {
                // A client told to come back later does not hammer the server.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    })
}

/// The status the login answers a wrong password with, learnt while Redis is healthy.
async fn refusal_status(app: &TestApp, client: &TestClient) -> StatusCode {
    let visitor = Visitor::new(app);
    let (_, challenge) = pkce_pair();
    let (_, html) = visitor.open_login(client, &challenge).await.unwrap();
    let form = [
        ("csrf_token", hidden(&html, "csrf_token")),
        ("interaction_id", hidden(&html, "interaction_id")),
        ("username", "alice".to_owned()),
        ("password", "not alice's password".to_owned()),
    ];
    let res = visitor
        .http
        .post(app.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert!(
        status.is_client_error() || status == StatusCode::OK,
        "{status}"
    );
    status
}

/// The sum of the failed-login counters under `prefix` on the server at `port`.
fn failed_logins_counted(port: u16, prefix: &str) -> u64 {
    let mut conn = connect(port);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}guard:login:ip:*"))
        .query(&mut conn)
        .unwrap();
    keys.iter()
        .map(|key| {
            redis::cmd("GET")
                .arg(key)
                .query::<Option<u64>>(&mut conn)
                .unwrap()
                .unwrap_or(0)
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server and redis-sentinel"]
async fn sign_ins_fail_closed_during_a_sentinel_failover_and_succeed_on_the_promoted_replica() {
    let mut group = tokio::task::spawn_blocking(SentinelGroup::start)
        .await
        .unwrap();
    let sentinel_url = group.url();
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.redis_url = Some(sentinel_url);
        // The test's own load must not trip the limits it watches; lockouts live in SQL and
        // would refuse alice's sign-ins after five wrong guesses.
        s.attempt_limits.per_ip = 1_000_000;
        s.attempt_limits.per_prefix = 1_000_000;
        s.attempt_limits.interactions_per_ip = 1_000_000;
        s.attempt_limits.interactions_per_prefix = 1_000_000;
        s.attempt_limits.lockout_threshold = 1_000_000;
    })
    .await;
    let app = Arc::new(app);
    let client = Arc::new(register_client(&app, ClientSpec::default()).await);
    create_user(&app, "alice").await;
    // The first sign-in consents; the later ones find the consent remembered.
    assert_eq!(Visitor::new(&app).sign_in(&client).await, Outcome::Served);
    let refusal = refusal_status(&app, &client).await;
    let prefix = app.ephemeral.key_prefix().to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..2 {
        let (app, client) = (app.clone(), client.clone());
        workers.push(keep_trying(
            "sign-in",
            stop.clone(),
            log.clone(),
            move || {
                let (app, client) = (app.clone(), client.clone());
                async move { Visitor::new(&app).sign_in(&client).await }
            },
        ));
    }
    {
        let (app, client) = (app.clone(), client.clone());
        workers.push(keep_trying("guess", stop.clone(), log.clone(), move || {
            let (app, client) = (app.clone(), client.clone());
            async move { Visitor::new(&app).guess(&client, refusal).await }
        }));
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed = Instant::now();
    group.kill_first_primary();
    let replica = group.replica_port();
    // Watch the sentinels: the moment they all name the replica is when a primary exists again.
    let group = Arc::new(group);
    let deadline = killed + Duration::from_secs(30);
    let promoted = loop {
        let named = {
            let group = group.clone();
            tokio::task::spawn_blocking(move || group.named_primaries())
                .await
                .unwrap()
        };
        if named.contains(&Some(replica)) {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "no sentinel promoted the replica: {}",
            group.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Until a sign-in started after the kill succeeds, and two seconds more.
    let recovered = loop {
        let first = log
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.kind == "sign-in" && a.started > killed && a.outcome == Outcome::Served)
            .map(|a| a.finished)
            .min();
        if let Some(first) = first {
            break first;
        }
        assert!(
            Instant::now() < deadline,
            "no sign-in succeeded after the failover: {}",
            group.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let attempts = log.lock().unwrap().clone();

    let recovery = recovered - killed;
    let promotion = promoted - killed;
    let mut refused_at = std::collections::BTreeMap::new();
    for a in &attempts {
        if let Outcome::Unavailable { step, .. } = a.outcome {
            *refused_at.entry((a.kind, step)).or_insert(0) += 1;
        }
    }
    let unavailable: usize = refused_at.values().sum();
    eprintln!(
        "kill -9 of the primary: sentinels named the replica after {promotion:?}, first sign-in \
         succeeded {recovery:?} after the kill; {} attempts, {unavailable} refused for now \
         {refused_at:?}",
        attempts.len()
    );

    // Nothing but success or a 503 with Retry-After, ever: no 500, no error redirect.
    for a in &attempts {
        match &a.outcome {
            Outcome::Served => {}
            Outcome::Unavailable { step, said_when } => {
                assert!(said_when, "{} 503 at {step} without Retry-After", a.kind)
            }
            Outcome::Wrong { step, what } => panic!("{} at {step}: {what}", a.kind),
        }
    }
    // Steady before the kill.
    assert!(
        attempts
            .iter()
            .filter(|a| a.finished < killed)
            .all(|a| a.outcome == Outcome::Served),
        "failures before the kill"
    );
    // While no primary existed, nothing that started after the kill was served: no sign-in,
    // and no password checked (the limiter could not count it, so the guess got 503).
    let in_the_gap: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.started > killed && a.finished < promoted)
        .collect();
    assert!(
        !in_the_gap.is_empty(),
        "no attempt fell between the kill and the promotion"
    );
    assert!(
        in_the_gap
            .iter()
            .all(|a| matches!(a.outcome, Outcome::Unavailable { .. })),
        "served without a Redis primary: {in_the_gap:?}"
    );
    assert!(
        recovery < Duration::from_secs(30),
        "took {recovery:?} to sign in again"
    );
    // Once a sign-in succeeded on the new primary, the rest did too.
    let late: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.started > recovered + Duration::from_millis(500))
        .collect();
    assert!(!late.is_empty());
    assert!(
        late.iter().all(|a| a.outcome == Outcome::Served),
        "failures after the recovery: {late:?}"
    );

    // Every guess answered after the promotion was counted on the new primary: the limiter
    // went with it.
    let guesses_answered_after = attempts
        .iter()
        .filter(|a| a.kind == "guess" && a.started > promoted && a.outcome == Outcome::Served)
        .count() as u64;
    let counted = failed_logins_counted(replica, &prefix);
    assert!(guesses_answered_after > 0);
    assert!(
        counted >= guesses_answered_after,
        "{counted} counted on the new primary, {guesses_answered_after} guesses answered after the failover"
    );

    // Writes land on the promoted replica, which is the primary now.
    app.state
        .ephemeral
        .put("after-failover", b"here", Duration::from_secs(60))
        .await
        .unwrap();
    let mut conn = connect(replica);
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut conn).unwrap();
    assert_eq!(
        role.first(),
        Some(&redis::Value::BulkString(b"master".to_vec()))
    );
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg(format!("{prefix}after-failover"))
        .query(&mut conn)
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"here"[..]));
}
