//! The roles console's strings (see the catalogue's module comment).

/// The roles pages and the access review.
#[derive(Debug)]
pub struct RolesText {
    // The roles overview.
    pub intro: &'static str,
    pub role: &'static str,
    pub description: &'static str,
    pub permissions: &'static str,
    pub requires_mfa: &'static str,
    pub holders: &'static str,
    pub no_permissions: &'static str,
    // One role's holders.
    pub all_roles: &'static str,
    pub holders_heading: &'static str,
    pub no_holders: &'static str,
    pub user: &'static str,
    pub granted_by: &'static str,
    pub granted_at: &'static str,
    pub expires_at: &'static str,
    pub confirmed_at: &'static str,
    pub last_sign_in: &'static str,
    pub actions: &'static str,
    /// Where a record predates issue 18's columns.
    pub before_records: &'static str,
    pub never: &'static str,
    pub no_expiry: &'static str,
    pub revoke: &'static str,
    pub grant_heading: &'static str,
    pub username: &'static str,
    pub expiry_date: &'static str,
    pub expiry_hint: &'static str,
    pub optional: &'static str,
    pub grant: &'static str,
    // The access review.
    pub review_intro: &'static str,
    pub stale_after_days: &'static str,
    pub show_review: &'static str,
    pub nothing_stale: &'static str,
    pub select: &'static str,
    pub decision_legend: &'static str,
    pub confirm_selected: &'static str,
    pub revoke_selected: &'static str,
    // Problems.
    pub unknown_user: &'static str,
    pub nothing_selected: &'static str,
}

pub static EN: RolesText = RolesText {
    intro: "Each role carries permissions; a user holds the permissions of every role granted to them. Open a role to see who holds it and to grant or revoke it.",
    role: "Role",
    description: "Description",
    permissions: "Permissions",
    requires_mfa: "Second factor required",
    holders: "Holders",
    no_permissions: "No permissions",
    all_roles: "All roles",
    holders_heading: "Who holds this role",
    no_holders: "Nobody holds this role.",
    user: "User",
    granted_by: "Granted by",
    granted_at: "Granted",
    expires_at: "Expires",
    confirmed_at: "Last confirmed",
    last_sign_in: "Last sign-in",
    actions: "Actions",
    before_records: "before records began",
    never: "never",
    no_expiry: "no expiry",
    revoke: "Revoke",
    grant_heading: "Grant this role",
    username: "Username",
    expiry_date: "Expires after",
    expiry_hint: "The grant lapses by itself at the end of this day (UTC). Leave empty for no expiry.",
    optional: "(optional)",
    grant: "Grant role",
    review_intro: "Grants whose holder has not signed in, or that have not been granted or confirmed, for the number of days you choose. Confirm the grants that are still needed; revoke the rest.",
    stale_after_days: "Not used or confirmed for (days)",
    show_review: "Show",
    nothing_stale: "No grant needs a review.",
    select: "Select",
    decision_legend: "Decide on the selected grants",
    confirm_selected: "Confirm selected",
    revoke_selected: "Revoke selected",
    unknown_user: "There is no user with that username.",
    nothing_selected: "Select at least one grant first.",
};

/// The heading of a role's page.
pub fn role_heading(role: &str) -> String {
    format!("Role {role}")
}

/// How many hold a role, as the roles overview links to them.
pub fn holders(n: i64) -> String {
    match n {
        0 => "nobody".into(),
        1 => "1 holder".into(),
        n => format!("{n} holders"),
    }
}

/// After a grant.
pub fn granted(username: &str, role: &str, until: Option<&str>) -> String {
    match until {
        Some(until) => format!("{username} now holds {role} until {until}."),
        None => format!("{username} now holds {role}."),
    }
}

/// After a revocation.
pub fn revoked(username: &str, role: &str) -> String {
    format!("{username} no longer holds {role}.")
}

fn grants(n: usize) -> String {
    if n == 1 {
        "1 grant".into()
    } else {
        format!("{n} grants")
    }
}

/// After a review's decision.
pub fn decided(confirmed: usize, revoked: usize, not_held: usize) -> String {
    let mut parts = Vec::new();
    if confirmed > 0 {
        parts.push(format!("{} confirmed.", grants(confirmed)));
    }
    if revoked > 0 {
        parts.push(format!("{} revoked.", grants(revoked)));
    }
    if not_held > 0 {
        parts.push(format!(
            "{} had already lapsed or been revoked.",
            grants(not_held)
        ));
    }
    if parts.is_empty() {
        parts.push("Nothing changed.".into());
    }
    parts.join(" ")
}

/// The pager's position.
pub fn page_of(page: u32) -> String {
    format!("Page {}", page + 1)
}
