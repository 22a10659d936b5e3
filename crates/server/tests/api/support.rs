//! Test fixtures for the protocol: clients, users, and a browser that logs in and consents.

use crate::harness::TestApp;
use chrono::Utc;
use palisade_core::Clock as _;
use palisade_core::model::{
    ApplicationType, Client, ClientId, ClientType, Email, GrantType, NewUser,
    TokenEndpointAuthMethod, UserId, Username,
};
use palisade_core::ports::{ClientRepository, SigningAlgorithm, UserRepository};
use palisade_core::{Secret, TokenHash};
use reqwest::StatusCode;
use url::Url;

pub const REDIRECT_URI: &str = "https://rp.example/cb";
pub const PASSWORD: &str = "correct horse battery staple";

/// A registered client and its secret (if confidential).
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

/// What kind of client to register; values are spelt as on the wire.
pub struct ClientSpec {
    pub confidential: bool,
    pub auth_method: &'static str,
    pub grant_types: Vec<&'static str>,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<&'static str>,
    pub application_type: &'static str,
    pub id_token_alg: Option<&'static str>,
    pub post_logout_redirect_uris: Vec<String>,
}

impl Default for ClientSpec {
    fn default() -> Self {
        Self {
            confidential: true,
            auth_method: "client_secret_basic",
            grant_types: vec!["authorization_code", "refresh_token"],
            redirect_uris: vec![REDIRECT_URI.into()],
            scopes: vec![],
            application_type: "web",
            id_token_alg: None,
            post_logout_redirect_uris: vec!["https://rp.example/signed-out".into()],
        }
    }
}

pub async fn register_client(app: &TestApp, spec: ClientSpec) -> TestClient {
    let id = app.state.engine.secrets.token();
    let secret = spec.confidential.then(|| app.state.engine.secrets.token());
    let client = Client {
        id: ClientId(id.clone()),
        name: "Example RP".into(),
        client_type: if spec.confidential {
            ClientType::Confidential
        } else {
            ClientType::Public
        },
        application_type: ApplicationType::parse(spec.application_type).unwrap(),
        secret_hash: secret.as_deref().map(TokenHash::of),
        token_endpoint_auth_method: TokenEndpointAuthMethod::parse(spec.auth_method).unwrap(),
        grant_types: spec
            .grant_types
            .iter()
            .map(|g| GrantType::parse(g).unwrap())
            .collect(),
        response_types: vec!["code".into()],
        redirect_uris: spec.redirect_uris.clone(),
        post_logout_redirect_uris: spec.post_logout_redirect_uris,
        scopes: spec.scopes.iter().map(|s| s.to_string()).collect(),
        access_token_ttl_secs: None,
        refresh_token_ttl_secs: None,
        id_token_signed_response_alg: spec
            .id_token_alg
            .map(|alg| SigningAlgorithm::parse(alg).unwrap()),
        registration_access_token_hash: None,
        jwks: None,
        require_mfa: false,
        dpop_bound_access_tokens: false,
        require_pushed_authorization_requests: false,
        resources: vec![],
        created_at: Utc::now(),
    };
    app.state.sql.insert_client(client).await.unwrap();
    TestClient {
        id,
        secret,
        // A device-only client registers none.
        redirect_uri: spec.redirect_uris.first().cloned().unwrap_or_default(),
    }
}

pub async fn create_user(app: &TestApp, username: &str) -> UserId {
    let hash = app
        .state
        .passwords
        .hash(&Secret::new(PASSWORD))
        .await
        .unwrap();
    let user = app
        .state
        .sql
        .insert_user(NewUser {
            id: UserId(uuid::Uuid::new_v4().to_string()),
            username: Username::parse(username).unwrap(),
            email: Some(Email::parse(&format!("{username}@example.com")).unwrap()),
            display_name: Some(format!("{username} Example")),
            password_hash: hash,
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    user.id
}

/// The value of a hidden input in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden {name} in:\n{html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

pub fn location(res: &reqwest::Response) -> String {
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "expected a 303, got {}",
        res.status()
    );
    res.headers()["location"].to_str().unwrap().to_owned()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// What a browser answers on the second-factor page: (`method`, `code`), e.g.
/// `("totp", "123456")` or `("recovery", "abcd-efgh-ijkl-mnop")`.
pub type FactorCode<'a> = (&'a str, &'a str);

/// A browser with its own cookie jar.
pub struct Browser {
    pub http: reqwest::Client,
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap(),
        }
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(url).form(form).send().await.unwrap()
    }

    /// Fills the login form at `login_url`; returns the response to the POST.
    pub async fn log_in(
        &self,
        login_url: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = self.get(login_url).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        let action = Url::parse(login_url).unwrap().join("/login").unwrap();
        self.post_form(
            action.as_str(),
            &[
                ("csrf_token", &hidden(&html, "csrf_token")),
                ("interaction_id", &hidden(&html, "interaction_id")),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Answers the consent page at `consent_url`.
    pub async fn consent(&self, consent_url: &str, decision: &str) -> reqwest::Response {
        let page = self.get(consent_url).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        let action = Url::parse(consent_url).unwrap().join("/consent").unwrap();
        self.post_form(
            action.as_str(),
            &[
                ("csrf_token", &hidden(&html, "csrf_token")),
                ("interaction_id", &hidden(&html, "interaction_id")),
                ("decision", decision),
            ],
        )
        .await
    }

    /// Follows /authorize through login and consent to the client's redirect; returns it.
    pub async fn authorize(&self, authorize_url: &str, username: &str) -> String {
        self.authorize_with_factor(authorize_url, username, None)
            .await
    }

    /// Follows /authorize through login, the second-factor page (answered with `factor`, which
    /// must be given if the page is shown) and consent to the client's redirect; returns it.
    pub async fn authorize_with_factor(
        &self,
        authorize_url: &str,
        username: &str,
        factor: Option<FactorCode<'_>>,
    ) -> String {
        let mut next = location(&self.get(authorize_url).await);
        if next.contains("/login?") {
            next = location(&self.log_in(&next, username, PASSWORD).await);
        }
        if next.contains("/login/factor?") {
            let (method, code) =
                factor.unwrap_or_else(|| panic!("{username} is asked for a second factor: {next}"));
            next = location(&self.answer_factor(&next, method, code).await);
        }
        if next.contains("/consent?") {
            next = location(&self.consent(&next, "allow").await);
        }
        next
    }

    /// Opens the second-factor page at `factor_url` and answers it with `method` (`totp` or
    /// `recovery`) and `code`; returns the response to the POST.
    pub async fn answer_factor(
        &self,
        factor_url: &str,
        method: &str,
        code: &str,
    ) -> reqwest::Response {
        let page = self.get(factor_url).await;
        assert_eq!(page.status(), StatusCode::OK, "{factor_url}");
        let html = page.text().await.unwrap();
        self.post_step(
            factor_url,
            &html,
            "/login/factor",
            &[("method", method), ("code", code)],
        )
        .await
    }

    /// Posts `fields` to our page at `path`, with the step (`csrf_token`, `interaction_id`)
    /// that `html`, the page at `page_url`, carries: the login's factor, enrolment and
    /// recovery-code forms.
    pub async fn post_step(
        &self,
        page_url: &str,
        html: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let action = Url::parse(page_url).unwrap().join(path).unwrap();
        let (csrf, interaction) = (hidden(html, "csrf_token"), hidden(html, "interaction_id"));
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("interaction_id", interaction.as_str()),
        ];
        form.extend_from_slice(fields);
        self.post_form(action.as_str(), &form).await
    }
}

/// The user's authenticator app: the secret read from the page that set it up, with RFC 6238's
/// parameters as every app reads them (SHA-1, 6 digits, 30 s).
pub struct Authenticator {
    totp: totp_rs::Totp,
    /// The secret as the page showed it, without spaces.
    pub base32: String,
}

impl Authenticator {
    /// From a page that shows a TOTP setup (the enrolment page, the account page).
    pub fn from_page(html: &str) -> Self {
        let base32 =
            shown_secret(html).unwrap_or_else(|| panic!("no TOTP secret on the page:\n{html}"));
        let secret = totp_rs::Secret::try_from_base32(&base32).unwrap();
        assert_eq!(secret.as_bytes().len(), 20, "RFC 4226 §4: 160 bits");
        let totp = totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(30)
            .with_skew(0)
            .with_secret(secret)
            .build()
            .unwrap();
        Self { totp, base32 }
    }

    /// The code of the time step `steps` away from the server clock's (0: the current step,
    /// 1: the next one, which the server also accepts).
    pub fn code(&self, app: &TestApp, steps: i64) -> String {
        let at = app.clock.now().timestamp() + steps * 30;
        self.totp.generate(u64::try_from(at).unwrap()).to_string()
    }

    /// Six digits that none of the steps the server accepts now (previous, current, next)
    /// produce.
    pub fn wrong_code(&self, app: &TestApp) -> String {
        let accepted: Vec<String> = (-1..=1).map(|steps| self.code(app, steps)).collect();
        (0..)
            .map(|n| format!("{n:06}"))
            .find(|code| !accepted.contains(code))
            .unwrap()
    }
}

/// The secret as the page shows it for typing (`<code id="totp-secret">`): base32 in groups of
/// four.
fn shown_secret(html: &str) -> Option<String> {
    let marker = r#"id="totp-secret">"#;
    let text = &html[html.find(marker)? + marker.len()..];
    let text = &text[..text.find('<')?];
    Some(text.chars().filter(|c| !c.is_whitespace()).collect())
}

/// The recovery codes a page shows (`xxxx-xxxx-xxxx-xxxx`, lowercase base32), in order.
pub fn recovery_codes_in(html: &str) -> Vec<String> {
    let bytes = html.as_bytes();
    let is_code_char = |b: u8| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b);
    let is_edge = |b: Option<&u8>| b.is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'-'));
    let mut codes = Vec::new();
    for start in 0..bytes.len().saturating_sub(18) {
        let window = &bytes[start..start + 19];
        let shaped = window.iter().enumerate().all(|(i, &b)| {
            if i % 5 == 4 {
                b == b'-'
            } else {
                is_code_char(b)
            }
        });
        if shaped
            && is_edge(start.checked_sub(1).map(|i| &bytes[i]))
            && is_edge(bytes.get(start + 19))
        {
            let code = String::from_utf8(window.to_vec()).unwrap();
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
    }
    codes
}

/// A PKCE pair (RFC 7636 §4.1-4.2).
pub fn pkce_pair() -> (String, String) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let verifier = palisade_core::SecretGenerator::token(&palisade_core::OsSecrets);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Signs `username` in through `client` in a new browser (authorize, login, consent) and
/// redeems the code with client_secret_basic; the browser, holding the session, and the token
/// response. `overrides` change the authorization request (`scope`, `prompt`...).
pub async fn sign_in_and_redeem(
    app: &TestApp,
    client: &TestClient,
    username: &str,
    overrides: &[(&str, &str)],
) -> (Browser, serde_json::Value) {
    let browser = Browser::new();
    let (verifier, challenge) = pkce_pair();
    let url = crate::authorize_rules::authorize_url(app, client, &challenge, overrides);
    let redirect = browser.authorize(&url, username).await;
    let code = query_param(&redirect, "code").unwrap_or_else(|| panic!("no code in {redirect}"));
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["cache-control"],
        "no-store",
        "token responses are never cached"
    );
    (browser, res.json().await.unwrap())
}
