//! Who made a call, as the policies see it (the cache key, the audit line's `caller`, the span's
//! `enduser.id`): `user:NAME` for a local user (one-shot `exec`, `serve` and `mcp` over stdio,
//! an `exec` forwarded over the project's socket, whose peer uid the server checks), `token:VAR`
//! for a static bearer token (the variable it was read from), `sub:SUBJECT` (and ` client:ID`)
//! for a JWT. MCP over HTTP without `auth:` has no caller: anyone who can reach it is alike.

use std::sync::OnceLock;

/// The user with id `uid`: `user:NAME`, or `uid:N` when it has no name. compozy's own user (the
/// only peer a server accepts) is looked up once.
pub fn of_uid(uid: u32) -> String {
    if uid == nix::unistd::geteuid().as_raw() {
        return local();
    }
    lookup(uid)
}

/// The user compozy runs as.
pub fn local() -> String {
    static LOCAL: OnceLock<String> = OnceLock::new();
    LOCAL
        .get_or_init(|| lookup(nix::unistd::geteuid().as_raw()))
        .clone()
}

/// Reads the user database (`/etc/passwd`, or whatever NSS is set up to ask).
fn lookup(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("user:{}", user.name),
        _ => format!("uid:{uid}"),
    }
}
