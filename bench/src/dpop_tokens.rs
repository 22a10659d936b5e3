//! `client_credentials` tokens per second against a running server, plain and DPoP-bound
//! (RFC 9449) with ES256, EdDSA and RS256 proofs, so the cost of verifying a proof can be read
//! per algorithm.
//!
//! ```text
//! palisade-bench dpop --base http://127.0.0.1:18083 --client-id ID --client-secret SECRET
//!     [--variants plain,ES256,EdDSA,RS256] [--concurrency 2xcores] [--seconds 10] [--runs 3]
//!     [--warmup 2] [--threads 1]
//! ```
//!
//! A closed loop like `flows`: `--concurrency` tasks on a runtime of `--threads` worker
//! threads, each posting one token request after another through one shared client (one
//! connection pool, as a service's backend would). A DPoP request carries a fresh proof (new
//! `jti`, current `iat`; RFC 9449 §4.2), signed by the task's own key, made before the clock
//! starts for that request: the latency is the server's answer, not the driver's signature.
//! The driver's signing still costs CPU on a shared machine (RS256 the most, ~0.3 ms a proof),
//! so `bench/http/dpop.sh` reads the server's own CPU time per token, which is the figure to
//! compare across variants. A server that requires nonces is answered as a client would:
//! `use_dpop_nonce` is retried once with the `DPoP-Nonce` it sent, and later proofs carry it.
//!
//! Every answer must be 200 with `token_type` `Bearer` (plain) or `DPoP`; anything else is an
//! error, counted, and the first few are printed. Each run prints one line per variant:
//!
//! ```text
//! RESULT variant=ES256 tokens=N duration_us=N tokens_per_s=N mean_us=N p50_us=N p99_us=N errors=N
//! ```
//!
//! and after the runs `MEDIAN variant=... tokens_per_s=N mean_us=N errors=N` per variant. The
//! variants take turns within each run number, so a drifting host affects them alike.

use crate::flows::{ERROR_BACKOFF, percentile, runtime};
use crate::harness::{positive_integer, seconds};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::KeyPair as _;
use josekit::jws::JwsSigner;
use reqwest::StatusCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use url::Url;

/// How many error reasons to keep for the end of the output.
const KEPT_ERRORS: usize = 5;
/// The variants, in the order they run within a run number.
const ALL_VARIANTS: [Variant; 4] = [
    Variant::Plain,
    Variant::Proof("ES256"),
    Variant::Proof("EdDSA"),
    Variant::Proof("RS256"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// No proof: a bearer token.
    Plain,
    /// A DPoP proof signed with this algorithm.
    Proof(&'static str),
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Proof(alg) => alg,
        }
    }

    fn parse(name: &str) -> Option<Self> {
        ALL_VARIANTS
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(name))
    }
}

struct Options {
    token_url: Url,
    client_id: String,
    client_secret: String,
    variants: Vec<Variant>,
    concurrency: usize,
    run_time: Duration,
    runs: usize,
    warmup: Duration,
    threads: usize,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let (mut base, mut client_id, mut client_secret) = (None, None, None);
        let mut variants = ALL_VARIANTS.to_vec();
        let mut concurrency = 2 * cores;
        let mut run_time = Duration::from_secs(10);
        let mut runs = 3;
        let mut warmup = Duration::from_secs(2);
        let mut threads = 1;
        let mut args = args.iter();
        while let Some(flag) = args.next() {
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
                "--variants" => {
                    variants = value
                        .split(',')
                        .map(|v| {
                            Variant::parse(v.trim()).ok_or_else(|| {
                                format!("unknown variant {v:?} (plain, ES256, EdDSA, RS256)")
                            })
                        })
                        .collect::<Result<_, _>>()?;
                }
                "--concurrency" => concurrency = positive()?,
                "--seconds" => run_time = seconds(flag, value, false)?,
                "--runs" => runs = positive()?,
                "--warmup" => warmup = seconds(flag, value, true)?,
                "--threads" => threads = positive()?,
                other => return Err(format!("unknown option {other}")),
            }
        }
        let base: Url = base.ok_or("--base is required")?;
        // The proof's `htu` is the token endpoint under the issuer: --base must be the issuer.
        let token_url = Url::parse(&format!("{}/token", base.as_str().trim_end_matches('/')))
            .map_err(|e| format!("--base {base}: {e}"))?;
        let required = |value: Option<String>, flag: &str| {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{flag} is required"))
        };
        Ok(Self {
            token_url,
            client_id: required(client_id, "--client-id")?,
            client_secret: required(client_secret, "--client-secret")?,
            variants,
            concurrency,
            run_time,
            runs,
            warmup,
            threads,
        })
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let options = Options::parse(args)?;
    runtime(options.threads)?.block_on(drive(options))
}

/// A client's DPoP key.
struct ProofKey {
    alg: &'static str,
    signer: Box<dyn JwsSigner>,
    /// The public JWK, as the proof header carries it.
    public: serde_json::Value,
}

impl ProofKey {
    fn generate(alg: &'static str) -> Result<Self, String> {
        let fail = |e: josekit::JoseError| format!("cannot make an {alg} key: {e}");
        let (public, signer): (josekit::jwk::Jwk, Box<dyn JwsSigner>) = match alg {
            "ES256" => {
                let pair = josekit::jws::ES256.generate_key_pair().map_err(fail)?;
                let signer = josekit::jws::ES256.signer_from_jwk(&pair.to_jwk_private_key());
                (pair.to_jwk_public_key(), Box::new(signer.map_err(fail)?))
            }
            "EdDSA" => {
                let pair = josekit::jws::EdDSA
                    .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
                    .map_err(fail)?;
                let signer = josekit::jws::EdDSA.signer_from_jwk(&pair.to_jwk_private_key());
                (pair.to_jwk_public_key(), Box::new(signer.map_err(fail)?))
            }
            "RS256" => {
                let pair = josekit::jws::RS256.generate_key_pair(2048).map_err(fail)?;
                let signer = josekit::jws::RS256.signer_from_jwk(&pair.to_jwk_private_key());
                (pair.to_jwk_public_key(), Box::new(signer.map_err(fail)?))
            }
            other => return Err(format!("no proof key for {other}")),
        };
        let mut public: serde_json::Map<String, serde_json::Value> = public.into();
        public.remove("alg");
        Ok(Self {
            alg,
            signer,
            public: serde_json::Value::Object(public),
        })
    }

    /// A fresh proof for `POST url` (RFC 9449 §4.2), with the server's `nonce` if it gave one.
    fn proof(&self, url: &str, nonce: Option<&str>) -> Result<String, String> {
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|e| format!("no randomness: {e}"))?;
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| format!("the clock is before 1970: {e}"))?
            .as_secs();
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": self.alg, "jwk": self.public});
        let mut claims = serde_json::json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": "POST",
            "htu": url,
            "iat": iat,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = serde_json::json!(nonce);
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .signer
            .sign(input.as_bytes())
            .map_err(|e| format!("cannot sign a proof: {e}"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

struct Shared {
    options: Options,
    http: reqwest::Client,
    /// The last `DPoP-Nonce` the server sent, if it requires nonces.
    nonce: Mutex<Option<String>>,
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u64>,
    errors: u64,
    first_errors: Vec<String>,
    elapsed: Duration,
}

impl Stats {
    fn tokens(&self) -> usize {
        self.latencies_us.len()
    }

    fn rate(&self) -> f64 {
        self.tokens() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn mean_us(&self) -> u64 {
        let total: u64 = self.latencies_us.iter().sum();
        total / (self.tokens() as u64).max(1)
    }

    fn merge(&mut self, other: Stats) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        for reason in other.first_errors {
            if self.first_errors.len() < KEPT_ERRORS {
                self.first_errors.push(reason);
            }
        }
    }
}

async fn drive(options: Options) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let shared = Arc::new(Shared {
        options,
        http,
        nonce: Mutex::new(None),
    });
    let o = &shared.options;
    println!(
        "client_credentials tokens at {}: variants {}, concurrency {}, {} run(s) of {} s after {} s of warm-up each, {} driver thread(s)",
        o.token_url,
        o.variants
            .iter()
            .map(|v| v.name())
            .collect::<Vec<_>>()
            .join(","),
        o.concurrency,
        o.runs,
        o.run_time.as_secs_f64(),
        o.warmup.as_secs_f64(),
        o.threads
    );
    // One request of each variant alone first: a wrong setup fails here with its reason.
    for &variant in &o.variants {
        let key = key_for(variant)?;
        request(&shared, variant, key.as_ref())
            .await
            .map_err(|e| format!("the first {} request failed: {e}", variant.name()))?;
    }
    let mut results: Vec<(Variant, f64, u64, u64)> = Vec::new();
    for run in 1..=o.runs {
        for &variant in &o.variants {
            if !o.warmup.is_zero() {
                phase(&shared, variant, o.warmup).await?;
            }
            let mut stats = phase(&shared, variant, o.run_time).await?;
            stats.latencies_us.sort_unstable();
            let (p50, p99) = (
                percentile(&stats.latencies_us, 0.50),
                percentile(&stats.latencies_us, 0.99),
            );
            println!(
                "run {run} {:>5}: {:>7} tokens in {:.2} s = {:>8.1} tokens/s, mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                variant.name(),
                stats.tokens(),
                stats.elapsed.as_secs_f64(),
                stats.rate(),
                stats.mean_us() as f64 / 1000.0,
                p50 as f64 / 1000.0,
                p99 as f64 / 1000.0,
                stats.errors
            );
            println!(
                "RESULT variant={} tokens={} duration_us={} tokens_per_s={:.1} mean_us={} p50_us={p50} p99_us={p99} errors={}",
                variant.name(),
                stats.tokens(),
                stats.elapsed.as_micros(),
                stats.rate(),
                stats.mean_us(),
                stats.errors
            );
            if !stats.first_errors.is_empty() {
                println!("first errors:");
                for reason in &stats.first_errors {
                    println!("  {reason}");
                }
            }
            results.push((variant, stats.rate(), stats.mean_us(), stats.errors));
        }
    }
    let median_of = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(0.0)
    };
    for &variant in &o.variants {
        let of_variant: Vec<_> = results.iter().filter(|r| r.0 == variant).collect();
        println!(
            "MEDIAN variant={} runs={} tokens_per_s={:.1} mean_us={:.0} errors={}",
            variant.name(),
            of_variant.len(),
            median_of(of_variant.iter().map(|r| r.1).collect()),
            median_of(of_variant.iter().map(|r| r.2 as f64).collect()),
            of_variant.iter().map(|r| r.3).sum::<u64>()
        );
    }
    Ok(())
}

fn key_for(variant: Variant) -> Result<Option<ProofKey>, String> {
    match variant {
        Variant::Plain => Ok(None),
        Variant::Proof(alg) => ProofKey::generate(alg).map(Some),
    }
}

/// `concurrency` tasks requesting tokens of `variant` for `length`; requests in flight at the
/// deadline are finished and counted.
async fn phase(shared: &Arc<Shared>, variant: Variant, length: Duration) -> Result<Stats, String> {
    let start = Instant::now();
    let deadline = start + length;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..shared.options.concurrency {
        let shared = shared.clone();
        let key = key_for(variant)?;
        tasks.spawn(async move {
            let mut stats = Stats::default();
            while Instant::now() < deadline {
                let began = Instant::now();
                match request(&shared, variant, key.as_ref()).await {
                    Ok(signing) => {
                        let spent = began.elapsed().saturating_sub(signing);
                        stats
                            .latencies_us
                            .push(u64::try_from(spent.as_micros()).unwrap_or(u64::MAX));
                    }
                    Err(reason) => {
                        stats.errors += 1;
                        if stats.first_errors.len() < KEPT_ERRORS {
                            stats.first_errors.push(reason);
                        }
                        tokio::time::sleep(ERROR_BACKOFF).await;
                    }
                }
            }
            stats
        });
    }
    let mut total = Stats::default();
    while let Some(done) = tasks.join_next().await {
        total.merge(done.map_err(|e| format!("a driver task failed: {e}"))?);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

/// One token request; the time spent signing proofs (not counted as latency), or why it
/// failed. A `use_dpop_nonce` answer is retried once with the nonce it carried.
async fn request(
    shared: &Shared,
    variant: Variant,
    key: Option<&ProofKey>,
) -> Result<Duration, String> {
    let o = &shared.options;
    let mut signing = Duration::ZERO;
    for attempt in 0..2 {
        let mut req = shared
            .http
            .post(o.token_url.clone())
            .basic_auth(&o.client_id, Some(&o.client_secret))
            .form(&[("grant_type", "client_credentials")]);
        if let Some(key) = key {
            let signed = Instant::now();
            let nonce = shared.nonce.lock().map_err(|_| "poisoned")?.clone();
            req = req.header("dpop", key.proof(o.token_url.as_str(), nonce.as_deref())?);
            signing += signed.elapsed();
        }
        let res = req.send().await.map_err(|e| format!("POST /token: {e}"))?;
        let status = res.status();
        if let Some(nonce) = res
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
        {
            *shared.nonce.lock().map_err(|_| "poisoned")? = Some(nonce.to_owned());
        }
        let body: serde_json::Value = res
            .json()
            .await
            .map_err(|e| format!("POST /token {status}: not JSON: {e}"))?;
        if status == StatusCode::BAD_REQUEST && body["error"] == "use_dpop_nonce" && attempt == 0 {
            continue;
        }
        if status != StatusCode::OK {
            return Err(format!("POST /token: {status} {}", body["error"]));
        }
        let expected = match variant {
            Variant::Plain => "Bearer",
            Variant::Proof(_) => "DPoP",
        };
        if body["token_type"] != expected || !body["access_token"].is_string() {
            return Err(format!(
                "POST /token: token_type {} where {expected} was expected",
                body["token_type"]
            ));
        }
        return Ok(signing);
    }
    Err("POST /token: use_dpop_nonce twice".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_carry_the_claims_rfc_9449_asks_for() {
        for alg in ["ES256", "EdDSA", "RS256"] {
            let key = ProofKey::generate(alg).unwrap();
            let proof = key.proof("http://127.0.0.1:1/token", Some("n")).unwrap();
            let parts: Vec<&str> = proof.split('.').collect();
            assert_eq!(parts.len(), 3);
            let header: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
            let claims: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
            assert_eq!(header["typ"], "dpop+jwt");
            assert_eq!(header["alg"], alg);
            assert!(header["jwk"].get("d").is_none(), "{alg}: public key only");
            assert_eq!(claims["htm"], "POST");
            assert_eq!(claims["htu"], "http://127.0.0.1:1/token");
            assert_eq!(claims["nonce"], "n");
        }
    }

    #[test]
    fn variants_parse_by_name() {
        assert_eq!(Variant::parse("plain"), Some(Variant::Plain));
        assert_eq!(Variant::parse("eddsa"), Some(Variant::Proof("EdDSA")));
        assert_eq!(Variant::parse("PS256"), None);
    }
}
