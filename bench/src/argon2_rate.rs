//! Raw argon2id rate: how many password verifications per second this machine can do at given
//! parameters, on one thread and on every core. `bench/http/login.sh` prints it next to the
//! logins/s the server achieves, so the cost of everything around argon2 is visible.
//!
//! ```text
//! cargo run --release -p palisade-bench -- argon2 [--runs 5] [--seconds 1]
//!     [--memory-kib 19456] [--iterations 2] [--parallelism 1] [--threads N] [--no-single]
//! ```
//!
//! `--threads` is the "every core" count (default: the cores); `--no-single` skips the
//! one-thread figure (`flows.sh` samples the every-core rate around each of its runs).

use crate::harness::positive_integer;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use std::time::{Duration, Instant};

/// What to measure; every option has the server's default.
struct Options {
    runs: usize,
    run_time: Duration,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    threads: usize,
    single: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut o = Self {
            runs: 5,
            run_time: Duration::from_secs(1),
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            threads: cores,
            single: true,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--no-single" {
                o.single = false;
                continue;
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let positive = || positive_integer::<u32>(flag, value);
            match flag.as_str() {
                "--runs" => o.runs = positive()? as usize,
                "--seconds" => {
                    let seconds: f64 = value
                        .parse()
                        .ok()
                        .filter(|s: &f64| *s > 0.0)
                        .ok_or("--seconds takes a positive number")?;
                    o.run_time = Duration::from_secs_f64(seconds);
                }
                "--memory-kib" => o.memory_kib = positive()?,
                "--iterations" => o.iterations = positive()?,
                "--parallelism" => o.parallelism = positive()?,
                "--threads" => o.threads = positive()? as usize,
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(o)
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let o = Options::parse(args)?;
    let params =
        Params::new(o.memory_kib, o.iterations, o.parallelism, None).map_err(|e| e.to_string())?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let password = b"correct horse battery staple";
    let stored = argon2
        .hash_password(password)
        .map_err(|e| e.to_string())?
        .to_string();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "argon2id m={} KiB t={} p={}; {} runs of {:?}; {cores} cores; load average {}",
        o.memory_kib,
        o.iterations,
        o.parallelism,
        o.runs,
        o.run_time,
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    );
    let mut thread_counts = Vec::new();
    if o.single || o.threads == 1 {
        thread_counts.push(1);
    }
    if o.threads > 1 {
        thread_counts.push(o.threads);
    }
    for workers in thread_counts {
        let mut rates = Vec::new();
        for _ in 0..o.runs {
            rates.push(verifications_per_second(
                &argon2, &stored, password, workers, o.run_time,
            )?);
        }
        let shown = rates
            .iter()
            .map(|r| format!("{r:.1}"))
            .collect::<Vec<_>>()
            .join(", ");
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        println!(
            "RESULT argon2_verify threads={workers} per_s={median:.1} ms_per_verify_per_thread={:.1} runs=[{shown}]",
            workers as f64 / median * 1000.0
        );
    }
    Ok(())
}

/// Verifications per second with `workers` threads verifying in a loop for `duration`.
fn verifications_per_second(
    argon2: &Argon2<'_>,
    stored: &str,
    password: &[u8],
    workers: usize,
    duration: Duration,
) -> Result<f64, String> {
    let parsed =
        argon2::password_hash::phc::PasswordHash::new(stored).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let counts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = 0u64;
                    while started.elapsed() < duration {
                        if argon2.verify_password(password, &parsed).is_ok() {
                            done += 1;
                        }
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(0))
            .sum::<u64>()
    });
    Ok(counts as f64 / started.elapsed().as_secs_f64())
}
