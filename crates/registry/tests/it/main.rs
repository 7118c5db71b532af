//! Integration tests: a real distribution registry (Debian's `docker-registry`, started per
//! test on a free loopback port) and hand-written fake servers for auth, redirects and lies.
//! Everything listens on 127.0.0.0/8 only.

mod content;
mod distribution;
mod fake;
mod fake_auth;
mod harness;
