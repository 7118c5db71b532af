//! Integration tests: a real rdockerd driven by rdocker, docker and raw HTTP.
//!
//! Every test starts its own daemon (`harness::TestDaemon`) on a temp data root with a unique
//! cgroup parent, so tests are independent and may run in parallel. They need root and the
//! artifacts of `cargo build --workspace` and `make image`; `make test` provides all three.

mod cleanup;
mod cmd;
mod harness;
mod http;
mod imagetar;

mod archive;
mod client;
mod commit;
mod errors;
mod images;
mod inspect;
mod isolation;
mod lifecycle;
mod lineage;
mod prune;
mod registry;
mod restart;
mod run;
mod stream;
