//! A small timing harness: repeat an operation for a fixed wall time, several runs, report the
//! median throughput. No statistics beyond that: the VM is shared and noisy (the first
//! measurements of this stack saw ±30 % between runs), so the median of a few runs is as much
//! as the numbers can carry.

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Option `flag`'s `value` as a positive integer.
pub fn positive_integer<T: FromStr + PartialOrd + From<u8>>(
    flag: &str,
    value: &str,
) -> Result<T, String> {
    value
        .parse()
        .ok()
        .filter(|n| *n >= T::from(1))
        .ok_or_else(|| format!("{flag} takes a positive integer"))
}

/// Option `flag`'s `value` as a number of seconds: positive, or also zero with `allow_zero`.
pub fn seconds(flag: &str, value: &str, allow_zero: bool) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && (*s > 0.0 || (allow_zero && *s == 0.0)))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{flag} takes a positive number of seconds"))
}

/// How long and how often to measure.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub runs: usize,
    pub run_time: Duration,
}

impl Settings {
    /// Parses `--runs N` and `--seconds S` (fractions allowed); defaults 5 runs of 1 s.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut settings = Self {
            runs: 5,
            run_time: Duration::from_secs(1),
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--runs" => {
                    settings.runs = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or("--runs takes a positive integer")?;
                }
                "--seconds" => {
                    let seconds: f64 = value
                        .parse()
                        .ok()
                        .filter(|s: &f64| *s > 0.0)
                        .ok_or("--seconds takes a positive number")?;
                    settings.run_time = Duration::from_secs_f64(seconds);
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(settings)
    }
}

/// Throughput of one operation over several runs.
#[derive(Debug, Clone)]
pub struct Throughput {
    /// Operations per second of each run, sorted ascending.
    pub runs: Vec<f64>,
}

impl Throughput {
    pub fn median(&self) -> f64 {
        let n = self.runs.len();
        if n == 0 {
            return 0.0;
        }
        if n % 2 == 1 {
            self.runs[n / 2]
        } else {
            (self.runs[n / 2 - 1] + self.runs[n / 2]) / 2.0
        }
    }

    pub fn min(&self) -> f64 {
        self.runs.first().copied().unwrap_or(0.0)
    }

    pub fn max(&self) -> f64 {
        self.runs.last().copied().unwrap_or(0.0)
    }

    /// Microseconds per operation at the median.
    pub fn micros_per_op(&self) -> f64 {
        let median = self.median();
        if median > 0.0 { 1e6 / median } else { 0.0 }
    }
}

/// Runs `op` repeatedly for `settings.run_time`, `settings.runs` times, after a short warm-up.
/// `op` returns something so the optimiser cannot drop the work.
pub fn measure<T>(settings: Settings, mut op: impl FnMut() -> T) -> Throughput {
    let warm_up = settings.run_time / 5;
    run_for(warm_up, &mut op);
    let mut runs: Vec<f64> = (0..settings.runs)
        .map(|_| {
            let (count, elapsed) = run_for(settings.run_time, &mut op);
            count as f64 / elapsed.as_secs_f64()
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    Throughput { runs }
}

fn run_for<T>(duration: Duration, op: &mut impl FnMut() -> T) -> (u64, Duration) {
    let start = Instant::now();
    let mut count = 0u64;
    loop {
        black_box(op());
        count += 1;
        let elapsed = start.elapsed();
        if elapsed >= duration {
            return (count, elapsed);
        }
    }
}

/// `12,345` for 12345.4.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_formatting() {
        let t = Throughput {
            runs: vec![1.0, 2.0, 10.0],
        };
        assert_eq!(t.median(), 2.0);
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        let settings = Settings::parse(&[
            "--runs".into(),
            "3".into(),
            "--seconds".into(),
            "0.5".into(),
        ])
        .unwrap();
        assert_eq!(settings.runs, 3);
        assert_eq!(settings.run_time, Duration::from_millis(500));
        assert!(Settings::parse(&["--runs".into(), "0".into()]).is_err());
    }
}
