//! Complete browser-login flows per second against a running server: authorize → login form →
//! consent (when the server asks for it) → code exchange, every hop checked.
//!
//! ```text
//! palisade-bench flows --base http://127.0.0.1:18082 --client-id ID --client-secret SECRET
//!     --redirect-uri http://127.0.0.1:9/cb --username benchuser --password '...'
//!     [--concurrency 2xcores] [--seconds 10] [--runs 3] [--warmup 2] [--threads 1]
//!     [--prompt-consent] [--until token|login]
//! ```
//!
//! A load driver, closed loop: `--concurrency` tasks on a tokio runtime of `--threads` worker
//! threads (1 by default: the driver shares the machine with the server, so it must cost as
//! little as possible), each doing one flow after another. Every flow is a **new browser**: a
//! fresh reqwest client, so a fresh cookie jar and fresh connections; no session is ever
//! reused, so every flow logs in with the password (one argon2id verification). Redirects are
//! followed by hand so every status and `Location` is checked:
//!
//! 1. `GET /authorize` (code, openid, random state and nonce, PKCE S256) → 303 to `/login`;
//! 2. `GET /login?interaction=...` → 200, the form's action and hidden `csrf_token` and
//!    `interaction_id` (strictly extracted: missing or repeated fields are errors);
//! 3. `POST` the form with the password → 303 to `/consent`, or straight to the client when the
//!    user already allowed this client's scopes (the server remembers consent; `--prompt-consent`
//!    sends `prompt=consent` so every flow shows the page);
//! 4. consent: `GET` the page, `POST decision=allow` → 303 to the redirect URI; `state` must
//!    match, `iss` (RFC 9207) must be the issuer, there must be a `code` and no `error`;
//! 5. `POST /token` (authorization_code, PKCE verifier, client_secret_basic) → 200 with an
//!    `access_token` and an `id_token` whose `nonce` is ours (decoded, not verified).
//!
//! Against a server on IPv4 loopback the browsers come from 4,096 loopback addresses in 256
//! /24s, as many users would ([`SOURCE_ADDRESSES`]: the server limits the sign-ins one address
//! and one network may start, and the benchmark measures the default configuration).
//!
//! `--until login` ends each flow at step 3's redirect: full successful logins per second, each
//! in a new browser with a new interaction (a login spends its form's step, so a form cannot be
//! posted twice).
//!
//! The relying party's token requests share one client (its own connection pool), as a real
//! RP backend would. Any unexpected status or missing field is an error; the first few reasons
//! are printed at the end, and every error is counted by kind (its step and status, without
//! the URLs). A login the server refuses for capacity (503 + `Retry-After` on the login form:
//! every hashing permit and queue place taken) is not an error: it is counted apart as
//! *refused*, and that browser waits the `Retry-After` before its next flow, as a person would.
//! Each run prints one machine-readable line:
//!
//! ```text
//! RESULT flows=N duration_us=N rps=N p50_us=N p99_us=N errors=N consent=N refused=N
//! ```
//!
//! and after the runs one `MEDIAN runs=N rps=N p50_us=N p99_us=N errors=N refused=N` line
//! (errors and refusals summed).

use crate::harness::{positive_integer, seconds};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// How many error reasons to keep for the end of the output.
const KEPT_ERRORS: usize = 5;
/// Pause after a failed flow, so a dead server does not turn the driver into a busy loop.
pub(crate) const ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// The longest `Retry-After` a refused browser honours before its next flow.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

pub(crate) struct Options {
    base: Url,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    pub(crate) username: String,
    pub(crate) password: String,
    concurrency: usize,
    run_time: Duration,
    runs: usize,
    warmup: Duration,
    pub(crate) threads: usize,
    prompt_consent: bool,
    until: Until,
}

/// Where a flow ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// The whole flow, through the code exchange at the token endpoint.
    Token,
    /// Right after the login POST's redirect (to consent or back to the client): full
    /// successful logins, each in a new browser with a new interaction.
    Login,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self, String> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut base = None;
        let mut client_id = None;
        let mut client_secret = None;
        let mut redirect_uri = None;
        let mut username = None;
        let mut password = None;
        let mut concurrency = 2 * cores;
        let mut run_time = Duration::from_secs(10);
        let mut runs = 3;
        let mut warmup = Duration::from_secs(2);
        let mut threads = 1;
        let mut prompt_consent = false;
        let mut until = Until::Token;
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--prompt-consent" {
                prompt_consent = true;
                continue;
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let positive = || positive_integer::<usize>(flag, value);
            match flag.as_str() {
                "--base" => {
                    let url = Url::parse(value).map_err(|e| format!("--base {value}: {e}"))?;
                    if !matches!(url.scheme(), "http" | "https") {
                        return Err("--base must be an http(s) URL".into());
                    }
                    base = Some(url);
                }
                "--client-id" => client_id = Some(value.clone()),
                "--client-secret" => client_secret = Some(value.clone()),
                "--redirect-uri" => {
                    Url::parse(value).map_err(|e| format!("--redirect-uri {value}: {e}"))?;
                    redirect_uri = Some(value.clone());
                }
                "--username" => username = Some(value.clone()),
                "--password" => password = Some(value.clone()),
                "--concurrency" => concurrency = positive()?,
                "--seconds" => run_time = seconds(flag, value, false)?,
                "--runs" => runs = positive()?,
                "--warmup" => warmup = seconds(flag, value, true)?,
                "--threads" => threads = positive()?,
                "--until" => {
                    until = match value.as_str() {
                        "token" => Until::Token,
                        "login" => Until::Login,
                        _ => return Err("--until takes token or login".into()),
                    }
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
        let required = |value: Option<String>, flag: &str| {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{flag} is required"))
        };
        Ok(Self {
            base: base.ok_or("--base is required")?,
            client_id: required(client_id, "--client-id")?,
            client_secret: required(client_secret, "--client-secret")?,
            redirect_uri: required(redirect_uri, "--redirect-uri")?,
            username: required(username, "--username")?,
            password: required(password, "--password")?,
            concurrency,
            run_time,
            runs,
            warmup,
            threads,
            prompt_consent,
            until,
        })
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let options = Options::parse(args)?;
    runtime(options.threads)?.block_on(drive(options))
}

/// The driver's runtime: one thread by default, since it shares the machine with the server.
pub(crate) fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("cannot start the tokio runtime: {e}"))
}

/// Browsers come from many loopback addresses, as many users would. The server limits the
/// sign-ins one address and one /24 may start (`[attempt_limits] interactions_per_ip` = 120 and
/// `interactions_per_prefix` = 600 a minute by default); a benchmark of the default
/// configuration from 127.0.0.1 alone would measure that limiter. Any 127.0.0.0/8 address
/// reaches a server bound to 127.0.0.1 on Linux. Flows take the addresses in turn, /24 after
/// /24, so at 100 flows/s each address starts 1.5 sign-ins a minute and each /24 23.
const SOURCE_PREFIXES: usize = 256;
const SOURCE_HOSTS_PER_PREFIX: usize = 16;
const SOURCE_ADDRESSES: usize = SOURCE_PREFIXES * SOURCE_HOSTS_PER_PREFIX;
// At 100 flows/s (the raw argon2id rate of two cores), well under the ~100 sign-ins a minute
// per address and ~500 per /24 this benchmark allows itself.
const _: () = assert!(100 * 60 / SOURCE_ADDRESSES < 100 && 100 * 60 / SOURCE_PREFIXES < 500);

/// The `n`-th browser's source address: 127.100.<prefix>.<host>, host 1-16.
fn source_address(n: usize) -> IpAddr {
    let n = n % SOURCE_ADDRESSES;
    let prefix = (n % SOURCE_PREFIXES) as u8;
    let host = (n / SOURCE_PREFIXES + 1) as u8;
    IpAddr::V4(Ipv4Addr::new(127, 100, prefix, host))
}

/// Whether the server is an IPv4 loopback address, which other loopback sources reach. Not
/// `localhost`: it may resolve to ::1, which an IPv4 source cannot reach.
fn is_ipv4_loopback(base: &Url) -> bool {
    matches!(base.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
}

/// What every flow needs, shared by the tasks.
pub(crate) struct Shared {
    pub(crate) options: Options,
    pub(crate) issuer: String,
    authorization_endpoint: Url,
    token_endpoint: Url,
    /// The relying party's own client (token requests), with its connection pool.
    rp: reqwest::Client,
    /// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
    basic: HeaderValue,
    /// What a browser sends on a same-origin form post.
    form_headers: HeaderMap,
    redirect_uri: Url,
    /// Whether browsers take their source address from [`source_address`].
    spread_sources: bool,
    /// How many browsers were made, for the next source address.
    browsers: AtomicUsize,
    errors: Mutex<Vec<String>>,
    /// Every error of every phase, counted by [`error_kind`].
    error_kinds: Mutex<BTreeMap<String, u64>>,
}

async fn drive(options: Options) -> Result<(), String> {
    let shared = Arc::new(Shared::discover(options).await?);
    let o = &shared.options;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "flows against {}: concurrency {}, {} run{} of {} s after {} s of warm-up, {} driver thread{}, {cores} cores; load average {}",
        shared.issuer,
        o.concurrency,
        o.runs,
        if o.runs == 1 { "" } else { "s" },
        o.run_time.as_secs_f64(),
        o.warmup.as_secs_f64(),
        o.threads,
        if o.threads == 1 { "" } else { "s" },
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    );
    println!(
        "each flow is a new browser (fresh client, cookie jar and connections; no session reuse), so every flow logs in with the password; {}; consent {}; {}",
        shared.describe_sources(),
        if o.prompt_consent {
            "asked on every flow (prompt=consent)"
        } else {
            "asked only until the user has allowed the client (the server remembers it)"
        },
        match o.until {
            Until::Token => "through the code exchange",
            Until::Login => "each flow ends at the login POST's redirect (--until login)",
        }
    );

    // One flow alone first: a wrong setup fails here with its reason, not as a run of errors.
    let preflight = flow(&shared)
        .await
        .map_err(|e| format!("the first flow failed: {e}"))?;
    println!(
        "preflight flow ok (consent page {})",
        match (preflight.consent_shown, o.until) {
            (true, Until::Token) => "shown and allowed",
            // Never answered, so every login of the runs is sent on to the consent page.
            (true, Until::Login) => "asked for, not answered: --until login",
            (false, _) => "not shown",
        }
    );

    if !o.warmup.is_zero() {
        let warm = phase(&shared, o.warmup).await?;
        println!(
            "warm-up: {} flows, {:.1} flows/s, {} errors, {} refused (503 + Retry-After)",
            warm.flows(),
            warm.rate(),
            warm.errors,
            warm.refused
        );
    }
    let mut results = Vec::with_capacity(o.runs);
    for run in 1..=o.runs {
        let mut stats = phase(&shared, o.run_time).await?;
        stats.latencies_us.sort_unstable();
        let (p50, p99) = (
            percentile(&stats.latencies_us, 0.50),
            percentile(&stats.latencies_us, 0.99),
        );
        println!(
            "run {run}: {} flows in {:.2} s = {:.1} flows/s, p50 {:.1} ms, p99 {:.1} ms, {} errors, {} refused (503 + Retry-After), {} consent pages",
            stats.flows(),
            stats.elapsed.as_secs_f64(),
            stats.rate(),
            p50 as f64 / 1000.0,
            p99 as f64 / 1000.0,
            stats.errors,
            stats.refused,
            stats.consents
        );
        println!(
            "RESULT flows={} duration_us={} rps={:.1} p50_us={p50} p99_us={p99} errors={} consent={} refused={}",
            stats.flows(),
            stats.elapsed.as_micros(),
            stats.rate(),
            stats.errors,
            stats.consents,
            stats.refused
        );
        results.push((stats.rate(), p50, p99, stats.errors, stats.refused));
    }
    let median_of = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(0.0)
    };
    let rps = median_of(results.iter().map(|r| r.0).collect());
    let p50 = median_of(results.iter().map(|r| r.1 as f64).collect());
    let p99 = median_of(results.iter().map(|r| r.2 as f64).collect());
    let errors: u64 = results.iter().map(|r| r.3).sum();
    let refused: u64 = results.iter().map(|r| r.4).sum();
    println!(
        "median of {} runs: {rps:.1} flows/s, p50 {:.1} ms, p99 {:.1} ms; {errors} errors and {refused} refused (503 + Retry-After) in all",
        results.len(),
        p50 / 1000.0,
        p99 / 1000.0
    );
    println!(
        "MEDIAN runs={} rps={rps:.1} p50_us={p50:.0} p99_us={p99:.0} errors={errors} refused={refused}",
        results.len()
    );
    shared.print_errors();
    Ok(())
}

impl Shared {
    /// Reads the discovery document, as a relying party would, and prepares the headers.
    pub(crate) async fn discover(options: Options) -> Result<Self, String> {
        let rp = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let discovery_url = options
            .base
            .join("/.well-known/openid-configuration")
            .map_err(|e| e.to_string())?;
        let res = rp
            .get(discovery_url.clone())
            .send()
            .await
            .map_err(|e| format!("GET {discovery_url}: {e}"))?;
        if res.status() != StatusCode::OK {
            return Err(format!("GET {discovery_url}: status {}", res.status()));
        }
        let doc: serde_json::Value = res
            .json()
            .await
            .map_err(|e| format!("GET {discovery_url}: {e}"))?;
        let field = |name: &str| -> Result<String, String> {
            doc.get(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or_else(|| format!("the discovery document has no {name}"))
        };
        let endpoint = |name: &str| -> Result<Url, String> {
            let raw = field(name)?;
            Url::parse(&raw).map_err(|e| format!("{name} {raw}: {e}"))
        };
        let issuer = field("issuer")?;
        let authorization_endpoint = endpoint("authorization_endpoint")?;
        let token_endpoint = endpoint("token_endpoint")?;
        let origin = Url::parse(&issuer)
            .map_err(|e| format!("issuer {issuer}: {e}"))?
            .origin()
            .ascii_serialization();
        let mut form_headers = HeaderMap::new();
        form_headers.insert(
            header::ORIGIN,
            HeaderValue::from_str(&origin).map_err(|e| e.to_string())?,
        );
        form_headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                encode(&options.client_id),
                encode(&options.client_secret)
            ))
        ))
        .map_err(|e| e.to_string())?;
        let redirect_uri = Url::parse(&options.redirect_uri).map_err(|e| e.to_string())?;
        let spread_sources = is_ipv4_loopback(&options.base);
        Ok(Self {
            options,
            issuer,
            authorization_endpoint,
            token_endpoint,
            rp,
            basic,
            form_headers,
            redirect_uri,
            spread_sources,
            browsers: AtomicUsize::new(0),
            errors: Mutex::new(Vec::new()),
            error_kinds: Mutex::new(BTreeMap::new()),
        })
    }

    /// A new browser: its own cookie jar and connections, from the next source address.
    fn browser(&self) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .no_proxy();
        if self.spread_sources {
            let n = self.browsers.fetch_add(1, Ordering::Relaxed);
            builder = builder.local_address(source_address(n));
        }
        builder
            .build()
            .map_err(|e| format!("cannot build the browser: {e}"))
    }

    /// Where the browsers come from, for the header of the output.
    pub(crate) fn describe_sources(&self) -> String {
        if self.spread_sources {
            format!(
                "browsers come from {SOURCE_ADDRESSES} loopback addresses in {SOURCE_PREFIXES} /24s (127.100.0-255.1-{SOURCE_HOSTS_PER_PREFIX}), in turn"
            )
        } else {
            "browsers come from the host's own address (the server is not an IPv4 loopback address)"
                .into()
        }
    }

    /// The first errors kept, if any, under `first errors:`, then every error by kind.
    pub(crate) fn print_errors(&self) {
        let kept = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
        if !kept.is_empty() {
            println!("first errors:");
            for reason in kept {
                println!("  {reason}");
            }
        }
        let kinds = self
            .error_kinds
            .lock()
            .map(|k| k.clone())
            .unwrap_or_default();
        if !kinds.is_empty() {
            println!("errors by kind (warm-up included):");
            for (kind, count) in kinds {
                println!("  {count:>6}  {kind}");
            }
        }
    }

    pub(crate) fn keep_error(&self, reason: String) {
        if let Ok(mut kinds) = self.error_kinds.lock() {
            *kinds.entry(error_kind(&reason)).or_default() += 1;
        }
        if let Ok(mut kept) = self.errors.lock()
            && kept.len() < KEPT_ERRORS
        {
            kept.push(reason);
        }
    }
}

/// What one phase (warm-up or run) measured.
#[derive(Default)]
struct PhaseStats {
    latencies_us: Vec<u64>,
    errors: u64,
    /// Logins refused for capacity (503 + `Retry-After`): not errors.
    refused: u64,
    consents: u64,
    elapsed: Duration,
}

impl PhaseStats {
    fn flows(&self) -> usize {
        self.latencies_us.len()
    }

    /// Completed flows per second of the phase's wall time (until the last flow finished).
    fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.flows() as f64 / secs
        } else {
            0.0
        }
    }
}

/// `--concurrency` tasks doing flows until `duration` has passed; flows started before the
/// deadline are finished and counted, and the phase lasts until the last one is done (as wrk
/// counts), so a script sampling the server's CPU around the process sees the same flows.
async fn phase(shared: &Arc<Shared>, duration: Duration) -> Result<PhaseStats, String> {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..shared.options.concurrency)
        .map(|_| {
            let shared = Arc::clone(shared);
            tokio::spawn(async move {
                let mut stats = PhaseStats::default();
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    match flow(&shared).await {
                        Ok(done) => {
                            stats.latencies_us.push(t0.elapsed().as_micros() as u64);
                            stats.consents += u64::from(done.consent_shown);
                        }
                        Err(FlowError::Refused { retry_after }) => {
                            stats.refused += 1;
                            tokio::time::sleep(retry_after.min(MAX_RETRY_AFTER)).await;
                        }
                        Err(FlowError::Failed(reason)) => {
                            stats.errors += 1;
                            shared.keep_error(reason);
                            tokio::time::sleep(ERROR_BACKOFF).await;
                        }
                    }
                }
                stats
            })
        })
        .collect();
    let mut total = PhaseStats::default();
    for task in tasks {
        let stats = task.await.map_err(|e| format!("a flow task failed: {e}"))?;
        total.latencies_us.extend(stats.latencies_us);
        total.errors += stats.errors;
        total.refused += stats.refused;
        total.consents += stats.consents;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct FlowDone {
    consent_shown: bool,
}

/// Why a flow did not complete.
enum FlowError {
    /// The login was refused for capacity: 503 + `Retry-After` with the login form again (every
    /// hashing permit and queue place was taken). The flow did not fail; it may come back.
    Refused { retry_after: Duration },
    /// Anything else: which hop went wrong and how.
    Failed(String),
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused { retry_after } => write!(
                f,
                "POST /login: refused for capacity (503, Retry-After {} s)",
                retry_after.as_secs()
            ),
            Self::Failed(reason) => f.write_str(reason),
        }
    }
}

impl From<String> for FlowError {
    fn from(reason: String) -> Self {
        Self::Failed(reason)
    }
}

/// An error's kind, for counting: the reason without URLs (which differ per flow), cut short.
fn error_kind(reason: &str) -> String {
    let kind: String = reason
        .split_whitespace()
        .map(|word| if word.contains("://") { "<url>" } else { word })
        .collect::<Vec<_>>()
        .join(" ");
    kind.chars().take(160).collect()
}

/// A new browser at the login form of a new interaction, and what the flow must remember.
pub(crate) struct OpenLogin {
    browser: reqwest::Client,
    form: Form,
    state: String,
    nonce: String,
    verifier: String,
}

impl OpenLogin {
    /// A new browser's `GET /authorize` (code, openid, random state and nonce, PKCE S256) →
    /// 303 to the login page, and `GET /login` → its form.
    pub(crate) async fn open(shared: &Shared) -> Result<Self, String> {
        let o = &shared.options;
        let browser = shared.browser()?;
        let verifier = random_token(32)?;
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        let state = random_token(16)?;
        let nonce = random_token(16)?;

        let mut authorize = shared.authorization_endpoint.clone();
        {
            let mut query = authorize.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &o.client_id)
                .append_pair("redirect_uri", &o.redirect_uri)
                .append_pair("scope", "openid")
                .append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if o.prompt_consent {
                query.append_pair("prompt", "consent");
            }
        }
        let res = send("GET /authorize", browser.get(authorize.clone())).await?;
        let login_url = redirect("GET /authorize", &authorize, res).await?;
        expect_page(shared, "GET /authorize", &login_url, "/login")?;

        let (_, form) = form_page(&browser, &login_url, "login").await?;
        Ok(Self {
            browser,
            form,
            state,
            nonce,
            verifier,
        })
    }

    /// The form posted with `username` and `password`, as a browser sends it. A failed login
    /// keeps the interaction's step, so the same request may be sent again.
    pub(crate) fn post(
        &self,
        shared: &Shared,
        username: &str,
        password: &str,
    ) -> reqwest::RequestBuilder {
        self.browser
            .post(self.form.action.clone())
            .headers(shared.form_headers.clone())
            .form(&[
                ("csrf_token", self.form.csrf_token.as_str()),
                ("interaction_id", self.form.interaction_id.as_str()),
                ("username", username),
                ("password", password),
            ])
    }
}

/// One complete flow in a new browser; the error says which hop went wrong and how, or that
/// the login was refused for capacity.
async fn flow(shared: &Shared) -> Result<FlowDone, FlowError> {
    let o = &shared.options;
    // 1-2. /authorize → the login form.
    let login = OpenLogin::open(shared).await?;
    let OpenLogin {
        browser,
        form,
        state,
        nonce,
        verifier,
    } = &login;

    // 3. Sign in: a successful login spends the form's step.
    let res = send("POST /login", login.post(shared, &o.username, &o.password)).await?;
    let res = capacity_refusal(&form.action, res).await?;
    let mut next = redirect("POST /login", &form.action, res).await?;
    let consent_shown = !is_callback(&shared.redirect_uri, &next);
    if o.until == Until::Login {
        if consent_shown {
            expect_page(shared, "POST /login", &next, "/consent")?;
        }
        return Ok(FlowDone { consent_shown });
    }

    // 4. Consent, when the server asks for it.
    if consent_shown {
        expect_page(shared, "POST /login", &next, "/consent")?;
        let (html, form) = form_page(browser, &next, "consent").await?;
        let allow = tags(&html, "button")
            .map_err(|e| format!("consent page: {e}"))?
            .iter()
            .filter(|a| attr(a, "name") == Some("decision") && attr(a, "value") == Some("allow"))
            .count();
        if allow != 1 {
            return Err(format!("consent page: {allow} decision=allow buttons, expected 1").into());
        }
        let res = send(
            "POST /consent",
            browser
                .post(form.action.clone())
                .headers(shared.form_headers.clone())
                .form(&[
                    ("csrf_token", form.csrf_token.as_str()),
                    ("interaction_id", form.interaction_id.as_str()),
                    ("decision", "allow"),
                ]),
        )
        .await?;
        next = redirect("POST /consent", &form.action, res).await?;
        if !is_callback(&shared.redirect_uri, &next) {
            return Err(
                format!("POST /consent: expected a redirect to the client, got {next}").into(),
            );
        }
    }

    // 5. Back at the client: the code and our state.
    let code = callback_code(shared, &next, state)?;

    // 6. The relying party exchanges the code.
    let res = send(
        "POST /token",
        shared
            .rp
            .post(shared.token_endpoint.clone())
            .header(header::AUTHORIZATION, shared.basic.clone())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", o.redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
            ]),
    )
    .await?;
    let status = res.status();
    let body = res
        .bytes()
        .await
        .map_err(|e| format!("POST /token: reading the body: {e}"))?;
    if status != StatusCode::OK {
        return Err(format!(
            "POST /token: status {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
        .into());
    }
    let tokens: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("POST /token: not JSON: {e}"))?;
    let text = |name: &str| {
        tokens
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("POST /token: no {name} in the response"))
    };
    text("access_token")?;
    let token_type = text("token_type")?;
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(format!("POST /token: token_type {token_type}").into());
    }
    check_id_token_nonce(text("id_token")?, nonce)?;
    Ok(FlowDone { consent_shown })
}

/// The login POST's answer, unless it is a refusal for capacity: 503 with `Retry-After` and
/// the login form again. A 503 without them, or with another page (a storage outage), is an
/// error like any other.
async fn capacity_refusal(
    form_action: &Url,
    res: reqwest::Response,
) -> Result<reqwest::Response, FlowError> {
    if res.status() != StatusCode::SERVICE_UNAVAILABLE {
        return Ok(res);
    }
    let retry_after = res
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = res
        .bytes()
        .await
        .map_err(|e| format!("POST /login: reading the body: {e}"))?;
    let is_login_form = std::str::from_utf8(&body)
        .ok()
        .is_some_and(|html| Form::parse(html, form_action).is_ok());
    match retry_after {
        Some(secs) if is_login_form => Err(FlowError::Refused {
            retry_after: Duration::from_secs(secs),
        }),
        _ => Err(FlowError::Failed(format!(
            "POST /login: expected 303, got 503 {} Retry-After{}",
            if retry_after.is_some() {
                "with"
            } else {
                "without"
            },
            describe_page(&body)
        ))),
    }
}

async fn send(step: &str, request: reqwest::RequestBuilder) -> Result<reqwest::Response, String> {
    request.send().await.map_err(|e| format!("{step}: {e}"))
}

/// A 303 (the server's only redirect status); its `Location`, resolved against the request.
async fn redirect(step: &str, from: &Url, res: reqwest::Response) -> Result<Url, String> {
    let status = res.status();
    let location = res
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().map(str::to_owned));
    // Read the body so the connection can serve the next request.
    let body = res
        .bytes()
        .await
        .map_err(|e| format!("{step}: reading the body: {e}"))?;
    if status != StatusCode::SEE_OTHER {
        return Err(format!(
            "{step}: expected 303, got {status}{}",
            describe_page(&body)
        ));
    }
    let location = location
        .ok_or_else(|| format!("{step}: 303 without Location"))?
        .map_err(|_| format!("{step}: unreadable Location"))?;
    from.join(&location)
        .map_err(|e| format!("{step}: Location {location}: {e}"))
}

/// `GET` of the server's `name` page (login, consent): its text and its form, which must be
/// for the interaction in `url`.
async fn form_page(
    browser: &reqwest::Client,
    url: &Url,
    name: &str,
) -> Result<(String, Form), String> {
    let res = send(&format!("GET /{name}"), browser.get(url.clone())).await?;
    let html = page(&format!("GET /{name}"), res).await?;
    let form = Form::parse(&html, url).map_err(|e| format!("{name} page: {e}"))?;
    form.check_interaction(url)
        .map_err(|e| format!("{name} page: {e}"))?;
    Ok((html, form))
}

/// A 200 HTML page's text.
async fn page(step: &str, res: reqwest::Response) -> Result<String, String> {
    let status = res.status();
    let body = res
        .bytes()
        .await
        .map_err(|e| format!("{step}: reading the body: {e}"))?;
    if status != StatusCode::OK {
        return Err(format!(
            "{step}: expected 200, got {status}{}",
            describe_page(&body)
        ));
    }
    String::from_utf8(body.to_vec()).map_err(|_| format!("{step}: the page is not UTF-8"))
}

/// The error message of one of our pages (`class="error"` paragraph), for error reports.
fn describe_page(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    for marker in [r#"class="error""#, "<h1>"] {
        if let Some(at) = text.find(marker)
            && let Some(open) = text[at..].find('>')
            && let Some(close) = text[at + open..].find('<')
        {
            let message = text[at + open + 1..at + open + close].trim();
            if !message.is_empty() {
                return format!(" ({message})");
            }
        }
    }
    String::new()
}

/// The server's own page at `path`, on the issuer's origin.
fn expect_page(shared: &Shared, step: &str, url: &Url, path: &str) -> Result<(), String> {
    if url.origin() != shared.authorization_endpoint.origin() || url.path() != path {
        return Err(format!("{step}: expected a redirect to {path}, got {url}"));
    }
    Ok(())
}

/// Whether `url` is the client's redirect URI (any query).
fn is_callback(redirect_uri: &Url, url: &Url) -> bool {
    url.origin() == redirect_uri.origin() && url.path() == redirect_uri.path()
}

/// The `code` of the redirect back to the client, after checking `state`, `iss` and `error`.
fn callback_code(shared: &Shared, url: &Url, state: &str) -> Result<String, String> {
    let param = |name: &str| {
        let mut values = url.query_pairs().filter(|(k, _)| k == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (Some(v), None) => Ok(Some(v.into_owned())),
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(format!("callback: {name} appears twice in {url}")),
        }
    };
    if let Some(error) = param("error")? {
        return Err(format!(
            "callback: error={error} ({})",
            param("error_description")?.unwrap_or_default()
        ));
    }
    if param("state")?.as_deref() != Some(state) {
        return Err(format!("callback: state does not match in {url}"));
    }
    if let Some(iss) = param("iss")?
        && iss != shared.issuer
    {
        return Err(format!(
            "callback: iss {iss} is not the issuer {}",
            shared.issuer
        ));
    }
    param("code")?
        .filter(|c| !c.is_empty())
        .ok_or_else(|| format!("callback: no code in {url}"))
}

/// The ID token's payload must carry our nonce (the signature is not verified: that is the
/// sign-verify benchmark's business, and it would cost the driver CPU the server needs).
fn check_id_token_nonce(id_token: &str, nonce: &str) -> Result<(), String> {
    let mut parts = id_token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("POST /token: the id_token is not a compact JWS".into());
    };
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| "POST /token: the id_token payload is not base64url".to_owned())?;
    let claims: serde_json::Value = serde_json::from_slice(&payload)
        .map_err(|_| "POST /token: the id_token payload is not JSON".to_owned())?;
    if claims.get("nonce").and_then(|v| v.as_str()) != Some(nonce) {
        return Err("POST /token: the id_token does not carry our nonce".into());
    }
    Ok(())
}

/// `bytes` random bytes, base64url without padding.
fn random_token(bytes: usize) -> Result<String, String> {
    let mut buf = [0u8; 32];
    let buf = buf
        .get_mut(..bytes)
        .ok_or("random_token takes at most 32 bytes")?;
    getrandom::fill(buf).map_err(|e| format!("getrandom: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// The one POST form of a login or consent page, and its hidden fields.
#[derive(Debug)]
struct Form {
    action: Url,
    csrf_token: String,
    interaction_id: String,
}

impl Form {
    /// Strict: exactly one `<form method="post">` with an action, and exactly one hidden
    /// `csrf_token` and `interaction_id`, each non-empty.
    fn parse(html: &str, page_url: &Url) -> Result<Self, String> {
        let forms: Vec<_> = tags(html, "form")?
            .into_iter()
            .filter(|attrs| attr(attrs, "method").is_some_and(|m| m.eq_ignore_ascii_case("post")))
            .collect();
        let [form] = forms.as_slice() else {
            return Err(format!("expected one POST form, found {}", forms.len()));
        };
        let action = attr(form, "action").ok_or("the form has no action")?;
        let action = page_url
            .join(action)
            .map_err(|e| format!("form action {action}: {e}"))?;
        let inputs = tags(html, "input")?;
        let hidden = |name: &str| -> Result<String, String> {
            let mut values = inputs
                .iter()
                .filter(|a| attr(a, "type") == Some("hidden") && attr(a, "name") == Some(name))
                .map(|a| attr(a, "value").unwrap_or_default());
            match (values.next(), values.next()) {
                (Some(v), None) if !v.is_empty() => Ok(v.to_owned()),
                (Some(_), None) => Err(format!("the hidden {name} is empty")),
                (None, _) => Err(format!("no hidden {name}")),
                (Some(_), Some(_)) => Err(format!("the hidden {name} appears twice")),
            }
        };
        Ok(Self {
            action,
            csrf_token: hidden("csrf_token")?,
            interaction_id: hidden("interaction_id")?,
        })
    }

    /// The form's interaction is the one in the page's URL.
    fn check_interaction(&self, page_url: &Url) -> Result<(), String> {
        let in_url = page_url
            .query_pairs()
            .find(|(k, _)| k == "interaction")
            .map(|(_, v)| v.into_owned());
        if in_url.as_deref() != Some(self.interaction_id.as_str()) {
            return Err(format!(
                "interaction_id {} is not the interaction of {page_url}",
                self.interaction_id
            ));
        }
        Ok(())
    }
}

type Attrs = Vec<(String, String)>;

fn attr<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The attributes of every `<name ...>` tag (name lower case; attribute names lower-cased,
/// values entity-decoded). Quoted values may contain `>`; unquoted ones end at a space.
fn tags(html: &str, name: &str) -> Result<Vec<Attrs>, String> {
    let open = format!("<{name}");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        // `<former>` is not `<form`.
        if !after.starts_with(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/') {
            rest = after;
            continue;
        }
        let (attrs, consumed) = parse_attrs(after).map_err(|e| format!("<{name}> tag: {e}"))?;
        found.push(attrs);
        rest = &after[consumed..];
    }
    Ok(found)
}

/// Parses attributes up to the tag's closing `>`; returns them and the bytes consumed.
fn parse_attrs(s: &str) -> Result<(Attrs, usize), String> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut attrs = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        match bytes.get(i) {
            None => return Err("unterminated tag".into()),
            Some(b'>') => return Ok((attrs, i + 1)),
            Some(_) => {}
        }
        let start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let key = s[start..i].to_ascii_lowercase();
        let value = if bytes.get(i) == Some(&b'=') {
            i += 1;
            match bytes.get(i) {
                Some(&quote @ (b'"' | b'\'')) => {
                    let end = s[i + 1..]
                        .find(quote as char)
                        .ok_or_else(|| format!("unterminated value of {key}"))?;
                    let raw = &s[i + 1..i + 1 + end];
                    i += end + 2;
                    unescape(raw)?
                }
                _ => {
                    let start = i;
                    while i < bytes.len() && bytes[i] != b'>' && !bytes[i].is_ascii_whitespace() {
                        i += 1;
                    }
                    unescape(&s[start..i])?
                }
            }
        } else {
            String::new()
        };
        attrs.push((key, value));
    }
}

/// Decodes the character references askama (and any HTML escaper) writes into attributes.
fn unescape(raw: &str) -> Result<String, String> {
    if !raw.contains('&') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after
            .find(';')
            .filter(|end| *end <= 10)
            .ok_or_else(|| format!("a bare & in {raw:?}"))?;
        let entity = &after[..end];
        let decoded = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown character reference &{entity}; in {raw:?}"))?
            }
        };
        out.push(decoded);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: &str = r#"<!doctype html><html><body><main>
<h1>Sign in</h1>
<form method="post" action="http://127.0.0.1:1/login">
<input type="hidden" name="csrf_token" value="c&#x2d;1&amp;2">
<input type="hidden" name="interaction_id" value="i-42">
<input type="text" id="username" name="username" value="" autocomplete="username" required>
<input type="password" id="password" name="password" required>
<div class="actions"><button type="submit">Sign in</button></div>
</form></main></body></html>"#;

    #[test]
    fn the_login_form_is_read_strictly() {
        let page = Url::parse("http://127.0.0.1:1/login?interaction=i-42").unwrap();
        let form = Form::parse(LOGIN, &page).unwrap();
        assert_eq!(form.action.as_str(), "http://127.0.0.1:1/login");
        assert_eq!(form.csrf_token, "c-1&2");
        assert_eq!(form.interaction_id, "i-42");
        form.check_interaction(&page).unwrap();
        let other = Url::parse("http://127.0.0.1:1/login?interaction=i-43").unwrap();
        assert!(form.check_interaction(&other).is_err());

        let missing = LOGIN.replace(r#"name="csrf_token""#, r#"name="csrf""#);
        assert!(
            Form::parse(&missing, &page)
                .unwrap_err()
                .contains("csrf_token")
        );
        let twice = LOGIN.replace(
            "<div",
            r#"<input type="hidden" name="interaction_id" value="x"><div"#,
        );
        assert!(Form::parse(&twice, &page).unwrap_err().contains("twice"));
        let empty = LOGIN.replace(r#"value="i-42""#, r#"value="""#);
        assert!(Form::parse(&empty, &page).unwrap_err().contains("empty"));
        let no_form = LOGIN.replace("<form method=\"post\"", "<div");
        assert!(Form::parse(&no_form, &page).is_err());
        assert!(Form::parse("<form method=post action=/x><input type=hidden", &page).is_err());
    }

    #[test]
    fn relative_actions_and_entities() {
        let page = Url::parse("http://127.0.0.1:1/consent?interaction=a").unwrap();
        let html = r#"<form action='&#x2f;consent' method="POST"><input name="interaction_id" type="hidden" value="a"><input type=hidden name=csrf_token value=t></form>"#;
        let form = Form::parse(html, &page).unwrap();
        assert_eq!(form.action.as_str(), "http://127.0.0.1:1/consent");
        assert_eq!(form.csrf_token, "t");
        assert!(unescape("a & b").is_err());
        assert!(unescape("&bogus;").is_err());
        assert_eq!(unescape("&lt;&#60;&quot;&#39;").unwrap(), "<<\"'");
    }

    #[test]
    fn percentiles_and_id_tokens() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.50), 50);
        assert_eq!(percentile(&values, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"nonce":"n1","sub":"x"}"#);
        let token = format!("e30.{payload}.sig");
        check_id_token_nonce(&token, "n1").unwrap();
        assert!(check_id_token_nonce(&token, "n2").is_err());
        assert!(check_id_token_nonce("a.b", "n1").is_err());
        assert_eq!(random_token(32).unwrap().len(), 43);
    }

    #[test]
    fn browsers_spread_over_loopback_addresses_and_networks() {
        use std::collections::HashSet;
        let addresses: Vec<IpAddr> = (0..SOURCE_ADDRESSES).map(source_address).collect();
        let distinct: HashSet<_> = addresses.iter().collect();
        assert_eq!(distinct.len(), SOURCE_ADDRESSES);
        let prefix = |ip: &IpAddr| match ip {
            IpAddr::V4(v4) => [v4.octets()[0], v4.octets()[1], v4.octets()[2]],
            IpAddr::V6(_) => panic!("an IPv6 source"),
        };
        for ip in &addresses {
            assert!(ip.is_loopback(), "{ip}");
            assert_ne!(*ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        // Consecutive browsers come from different /24s; every /24 gets the same share.
        for pair in addresses.windows(2) {
            assert_ne!(prefix(&pair[0]), prefix(&pair[1]));
        }
        let networks: HashSet<_> = addresses.iter().map(prefix).collect();
        assert_eq!(networks.len(), SOURCE_PREFIXES);
        assert_eq!(source_address(SOURCE_ADDRESSES), source_address(0));

        let base = |s: &str| Url::parse(s).unwrap();
        assert!(is_ipv4_loopback(&base("http://127.0.0.1:1")));
        assert!(is_ipv4_loopback(&base("http://127.0.0.2:1")));
        assert!(!is_ipv4_loopback(&base("http://localhost:1")));
        assert!(!is_ipv4_loopback(&base("http://[::1]:1")));
        assert!(!is_ipv4_loopback(&base("https://id.example.com")));
    }

    #[test]
    fn options_need_the_flow_parameters() {
        let args: Vec<String> = [
            "--base",
            "http://127.0.0.1:1",
            "--client-id",
            "c",
            "--client-secret",
            "s",
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
            "--username",
            "u",
            "--password",
            "p w",
            "--prompt-consent",
            "--warmup",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = Options::parse(&args).unwrap();
        assert!(o.prompt_consent);
        assert!(o.warmup.is_zero());
        assert_eq!(o.runs, 3);
        assert_eq!(o.until, Until::Token);
        let mut until = args.clone();
        until.extend(["--until".to_owned(), "login".to_owned()]);
        assert_eq!(Options::parse(&until).unwrap().until, Until::Login);
        until.push("--until".to_owned());
        until.push("consent".to_owned());
        assert!(Options::parse(&until).is_err());
        assert!(matches!(Options::parse(&args[2..]), Err(e) if e.contains("--base")));
        let mut zero = args.clone();
        zero.extend(["--seconds".to_owned(), "0".to_owned()]);
        assert!(Options::parse(&zero).is_err());
    }
}
