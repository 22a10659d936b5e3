//! Palisade's benchmarks. Run in release mode:
//!
//! ```text
//! cargo run --release -p palisade-bench -- sign-verify [--runs 5] [--seconds 1]
//! cargo run --release -p palisade-bench -- list
//! cargo run --release -p palisade-bench -- flows --base http://127.0.0.1:18082 ... # bench/http/flows.sh
//! cargo run --release -p palisade-bench -- login-flood --base ... # bench/http/login.sh
//! cargo run --release -p palisade-bench -- dpop --base ... # bench/http/dpop.sh
//! ```
//!
//! Each scenario is one entry of [`SCENARIOS`] and one module; add HTTP load scenarios (`wrk`
//! against a running server) the same way.

mod argon2_rate;
mod dpop_tokens;
mod flows;
mod harness;
mod login_flood;
mod sign_verify;

use std::process::ExitCode;

/// A named benchmark: `run` gets the arguments after the scenario name.
struct Scenario {
    name: &'static str,
    about: &'static str,
    run: fn(&[String]) -> Result<(), String>,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "sign-verify",
        about: "JWT sign/verify ops/s per algorithm (josekit via palisade-keys), and verification with josekit vs ring",
        run: sign_verify::run,
    },
    Scenario {
        name: "argon2",
        about: "raw argon2id verifications/s at the server's default parameters, one thread and every core",
        run: argon2_rate::run,
    },
    Scenario {
        name: "flows",
        about: "complete browser-login flows/s (authorize, login, consent, code exchange) against a running server",
        run: flows::run,
    },
    Scenario {
        name: "dpop",
        about: "client_credentials tokens/s against a running server, plain and with ES256, EdDSA and RS256 DPoP proofs",
        run: dpop_tokens::run,
    },
    Scenario {
        name: "login-flood",
        about: "the login form's 503 answer while wrong-password posts keep every hashing permit busy",
        run: login_flood::run,
    },
];

fn usage() -> String {
    let mut text = String::from("usage: palisade-bench <scenario> [options]\n\nscenarios:\n");
    for scenario in SCENARIOS {
        text.push_str(&format!("  {:<14} {}\n", scenario.name, scenario.about));
    }
    text.push_str("\ncommon options: --runs N (default 5), --seconds S (default 1)\n");
    text
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        eprint!("{}", usage());
        return ExitCode::FAILURE;
    };
    if name == "list" || name == "--help" || name == "-h" {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let Some(scenario) = SCENARIOS.iter().find(|s| s.name == name) else {
        eprint!("unknown scenario {name:?}\n\n{}", usage());
        return ExitCode::FAILURE;
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run with --release for meaningful figures");
    }
    match (scenario.run)(&args[1..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}: {error}", scenario.name);
            ExitCode::FAILURE
        }
    }
}
