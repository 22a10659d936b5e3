//! The login form's 503 fast path: what a browser waits for when every password-hashing permit
//! is held and the queue is full.
//!
//! ```text
//! palisade-bench login-flood [the options of `flows`] [--flood 64] [--probes 200] [--ramp 2]
//!     [--wrong-password '...']
//! ```
//!
//! `--flood` browsers each open an interaction of their own (from their own loopback address,
//! as `flows` does), then post its login form with a wrong password as fast as the server
//! answers: a failed or refused login keeps the form's step, so each can post it again, while a
//! successful one would spend it. That keeps the hashing permits and the queue full. After
//! `--ramp` seconds one more browser, on a thread of its own, times `--probes` logins with the
//! right password one after another, re-posting its form while it is refused (503 keeps the
//! step) and opening a new interaction (not timed) after one that got through.
//!
//! Every wrong password is a failed login: the server must allow them (`[attempt_limits]`
//! `per_ip`, `per_prefix` and `lockout_threshold` raised), which `bench/http/login.sh` does for
//! this run only. Its output ends with two machine-readable lines:
//!
//! ```text
//! PROBES probes=N s503=N s303=N other=N p50_us=N p90_us=N p99_us=N max_us=N   (of the 503s)
//! FLOOD duration_us=N requests=N s200=N s503=N other=N
//! ```

use crate::flows::{ERROR_BACKOFF, OpenLogin, Options, Shared, percentile, runtime};
use crate::harness::{positive_integer, seconds};
use reqwest::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct FloodOptions {
    flood: usize,
    probes: usize,
    ramp: Duration,
    wrong_password: Option<String>,
}

impl FloodOptions {
    /// Takes this scenario's own options out of `args`; the rest are the `flows` options.
    fn parse(args: &[String]) -> Result<(Self, Vec<String>), String> {
        let mut options = Self {
            flood: 64,
            probes: 200,
            ramp: Duration::from_secs(2),
            wrong_password: None,
        };
        let mut rest = Vec::new();
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--flood" => options.flood = positive_integer(flag, value()?)?,
                "--probes" => options.probes = positive_integer(flag, value()?)?,
                "--ramp" => options.ramp = seconds(flag, value()?, true)?,
                "--wrong-password" => options.wrong_password = Some(value()?.clone()),
                _ => rest.push(flag.clone()),
            }
        }
        Ok((options, rest))
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let (flood, rest) = FloodOptions::parse(args)?;
    let options = Options::parse(&rest)?;
    runtime(options.threads)?.block_on(drive(options, flood))
}

/// The flooding browsers' answers.
#[derive(Default)]
struct FloodCounts {
    /// The form again, "incorrect": the password was verified.
    failed: u64,
    busy: u64,
    other: u64,
}

async fn drive(options: Options, f: FloodOptions) -> Result<(), String> {
    let wrong: Arc<str> = f
        .wrong_password
        .clone()
        .unwrap_or_else(|| format!("not {}", options.password))
        .into();
    if *wrong == options.password {
        return Err("--wrong-password is the right password".into());
    }
    let shared = Arc::new(Shared::discover(options).await?);
    println!(
        "login flood against {}: {} browsers post wrong passwords, each on an interaction of its own; {} probes with the right password after {} s; {}",
        shared.issuer,
        f.flood,
        f.probes,
        f.ramp.as_secs_f64(),
        shared.describe_sources()
    );

    let opening: Vec<_> = (0..f.flood)
        .map(|_| {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move { OpenLogin::open(&shared).await })
        })
        .collect();
    let mut logins = Vec::with_capacity(f.flood);
    for task in opening {
        let login = task
            .await
            .map_err(|e| format!("an opening task failed: {e}"))?
            .map_err(|e| format!("opening a flooding browser's interaction: {e}"))?;
        logins.push(login);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let floods: Vec<_> = logins
        .into_iter()
        .map(|login| {
            tokio::spawn(flood(
                Arc::clone(&shared),
                login,
                Arc::clone(&stop),
                Arc::clone(&wrong),
            ))
        })
        .collect();
    tokio::time::sleep(f.ramp).await;
    // Its own thread and runtime, so a probe's latency is the server's answer, not its turn
    // among the flooding tasks.
    let prober = {
        let shared = Arc::clone(&shared);
        let probes = f.probes;
        std::thread::spawn(move || runtime(1)?.block_on(probe(&shared, probes)))
    };
    let probed = tokio::task::spawn_blocking(move || prober.join())
        .await
        .map_err(|e| format!("waiting for the probes: {e}"))?
        .map_err(|_| "the probe thread panicked".to_owned());
    stop.store(true, Ordering::Relaxed);
    let mut total = FloodCounts::default();
    for task in floods {
        let counts = task
            .await
            .map_err(|e| format!("a flood task failed: {e}"))?;
        total.failed += counts.failed;
        total.busy += counts.busy;
        total.other += counts.other;
    }
    let elapsed = started.elapsed();
    let probes = probed??;

    let of = |status: u16| -> Vec<u64> {
        let mut latencies: Vec<u64> = probes
            .iter()
            .filter(|(s, _)| *s == status)
            .map(|(_, us)| *us)
            .collect();
        latencies.sort_unstable();
        latencies
    };
    let (busy, through) = (of(503), of(303));
    let other = probes.len() - busy.len() - through.len();
    let ms = |us: u64| us as f64 / 1000.0;
    for (status, latencies) in [(503, &busy), (303, &through)] {
        if latencies.is_empty() {
            println!("   {status}: none of {} probes", probes.len());
        } else {
            println!(
                "   {status}: {} of {} probes; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                latencies.len(),
                probes.len(),
                ms(percentile(latencies, 0.50)),
                ms(percentile(latencies, 0.90)),
                ms(percentile(latencies, 0.99)),
                ms(percentile(latencies, 1.0)),
            );
        }
    }
    println!("   other statuses: {other}");
    let requests = total.failed + total.busy + total.other;
    println!(
        "   the flood: {requests} posts in {:.1} s ({:.0}/s): {} verified and refused (200), {} busy (503), {} other",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        total.failed,
        total.busy,
        total.other
    );
    println!(
        "PROBES probes={} s503={} s303={} other={other} p50_us={} p90_us={} p99_us={} max_us={}",
        probes.len(),
        busy.len(),
        through.len(),
        percentile(&busy, 0.50),
        percentile(&busy, 0.90),
        percentile(&busy, 0.99),
        percentile(&busy, 1.0),
    );
    println!(
        "FLOOD duration_us={} requests={requests} s200={} s503={} other={}",
        elapsed.as_micros(),
        total.failed,
        total.busy,
        total.other
    );
    shared.print_errors();
    Ok(())
}

/// One flooding browser: its form with a wrong password, again and again, until `stop`.
async fn flood(
    shared: Arc<Shared>,
    login: OpenLogin,
    stop: Arc<AtomicBool>,
    wrong: Arc<str>,
) -> FloodCounts {
    let mut counts = FloodCounts::default();
    while !stop.load(Ordering::Relaxed) {
        let answer = match login
            .post(&shared, &shared.options.username, &wrong)
            .send()
            .await
        {
            Ok(res) => {
                let status = res.status();
                res.bytes().await.map(|_| status).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match answer {
            Ok(StatusCode::OK) => counts.failed += 1,
            Ok(StatusCode::SERVICE_UNAVAILABLE) => counts.busy += 1,
            other => {
                counts.other += 1;
                shared.keep_error(match other {
                    Ok(status) => format!("flood POST /login: status {status}"),
                    Err(e) => format!("flood POST /login: {e}"),
                });
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
        }
    }
    counts
}

/// `count` timed logins with the right password; each probe's status (0: no answer) and
/// latency in µs.
async fn probe(shared: &Shared, count: usize) -> Result<Vec<(u16, u64)>, String> {
    let o = &shared.options;
    let mut login = OpenLogin::open(shared)
        .await
        .map_err(|e| format!("opening the probe's interaction: {e}"))?;
    let mut probes = Vec::with_capacity(count);
    for _ in 0..count {
        let t0 = Instant::now();
        let status = match login.post(shared, &o.username, &o.password).send().await {
            Ok(res) => {
                let status = res.status();
                res.bytes()
                    .await
                    .map_err(|e| format!("probe POST /login: {e}"))?;
                status.as_u16()
            }
            Err(e) => {
                shared.keep_error(format!("probe POST /login: {e}"));
                0
            }
        };
        probes.push((status, t0.elapsed().as_micros() as u64));
        if status != 503 {
            // Spent (a login) or in doubt: the next probe gets a form of its own.
            login = OpenLogin::open(shared)
                .await
                .map_err(|e| format!("opening a probe's interaction: {e}"))?;
        }
    }
    Ok(probes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_options_are_taken_out_and_the_rest_left_to_flows() {
        let args: Vec<String> = [
            "--base",
            "http://127.0.0.1:1",
            "--flood",
            "8",
            "--probes",
            "30",
            "--ramp",
            "0.5",
            "--wrong-password",
            "nope",
            "--username",
            "u",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (f, rest) = FloodOptions::parse(&args).unwrap();
        assert_eq!((f.flood, f.probes), (8, 30));
        assert_eq!(f.ramp, Duration::from_millis(500));
        assert_eq!(f.wrong_password.as_deref(), Some("nope"));
        assert_eq!(rest, ["--base", "http://127.0.0.1:1", "--username", "u"]);
        let defaults = FloodOptions::parse(&[]).unwrap().0;
        assert_eq!((defaults.flood, defaults.probes), (64, 200));
        assert!(FloodOptions::parse(&["--flood".to_owned(), "0".to_owned()]).is_err());
        assert!(FloodOptions::parse(&["--probes".to_owned()]).is_err());
    }
}
