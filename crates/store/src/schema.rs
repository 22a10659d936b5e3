//! Diesel's view of the tables in `migrations/{postgres,sqlite}` (written by hand: both
//! dialects map to these same SQL types).

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        display_name -> Nullable<Text>,
        password_hash -> Text,
        is_disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        sessions_revoked_at -> Nullable<BigInt>,
        username_skeleton -> Nullable<Text>,
        last_sign_in_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    roles (name) {
        name -> Text,
        description -> Nullable<Text>,
        require_mfa -> Bool,
    }
}

diesel::table! {
    permissions (name) {
        name -> Text,
    }
}

diesel::table! {
    role_permissions (role_name, permission_name) {
        role_name -> Text,
        permission_name -> Text,
    }
}

diesel::table! {
    user_roles (user_id, role_name) {
        user_id -> Text,
        role_name -> Text,
        granted_by -> Nullable<Text>,
        granted_at -> Nullable<BigInt>,
        expires_at -> Nullable<BigInt>,
        confirmed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        client_type -> Text,
        application_type -> Text,
        secret_hash -> Nullable<Text>,
        token_endpoint_auth_method -> Text,
        grant_types -> Text,
        response_types -> Text,
        scopes -> Text,
        post_logout_redirect_uris -> Text,
        access_token_ttl_secs -> Nullable<BigInt>,
        refresh_token_ttl_secs -> Nullable<BigInt>,
        id_token_signed_response_alg -> Nullable<Text>,
        registration_access_token_hash -> Nullable<Text>,
        jwks -> Nullable<Text>,
        created_at -> BigInt,
        require_mfa -> Bool,
        dpop_bound_access_tokens -> Bool,
        require_pushed_authorization_requests -> Bool,
        resources -> Text,
    }
}

diesel::table! {
    client_redirect_uris (client_id, position) {
        client_id -> Text,
        position -> Integer,
        uri -> Text,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scopes -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    refresh_token_families (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Nullable<Text>,
        scopes -> Text,
        grant_json -> Text,
        current_hash -> Text,
        previous_hash -> Nullable<Text>,
        rotated_at -> Nullable<BigInt>,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    refresh_token_spent (hash) {
        hash -> Text,
        family_id -> Text,
        spent_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        state -> Text,
        public_jwk -> Text,
        encrypted_private_jwk -> Text,
        master_key_id -> Text,
        created_at -> BigInt,
        activates_at -> BigInt,
        activated_at -> Nullable<BigInt>,
        retired_at -> Nullable<BigInt>,
        remove_after -> Nullable<BigInt>,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    account_lockouts (user_id) {
        user_id -> Text,
        failure_streak -> Integer,
        first_failure_at -> Nullable<BigInt>,
        locked_until -> Nullable<BigInt>,
        lock_count -> Integer,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        occurred_at -> BigInt,
        actor -> Text,
        action -> Text,
        target -> Nullable<Text>,
        outcome -> Text,
        client_ip -> Nullable<Text>,
        details -> Nullable<Text>,
    }
}

diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(user_roles -> roles (role_name));
diesel::joinable!(role_permissions -> roles (role_name));
diesel::joinable!(role_permissions -> permissions (permission_name));
diesel::joinable!(refresh_token_spent -> refresh_token_families (family_id));

diesel::table! {
    initial_access_tokens (id) {
        id -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        max_uses -> Nullable<Integer>,
        uses -> Integer,
    }
}

diesel::table! {
    user_factors (id) {
        id -> Text,
        user_id -> Text,
        kind -> Text,
        name -> Text,
        credential -> Text,
        master_key_id -> Nullable<Text>,
        credential_id -> Nullable<Text>,
        last_used_step -> Nullable<BigInt>,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    recovery_codes (user_id, digest) {
        user_id -> Text,
        digest -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    browser_sessions (handle) {
        handle -> Text,
        user_id -> Text,
        session_key -> Text,
        user_agent -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::joinable!(user_factors -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    refresh_token_spent,
    roles,
    permissions,
    role_permissions,
    user_roles,
    clients,
    client_redirect_uris,
    consents,
    refresh_token_families,
    signing_keys,
    leases,
    account_lockouts,
    audit_events,
    initial_access_tokens,
    user_factors,
    recovery_codes,
    browser_sessions,
);
