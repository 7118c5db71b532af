//! execdriver: runs container processes on Linux.
//!
//! It owns namespaces, cgroups (v1 and v2, detected at runtime), the container's mount table,
//! stdio/tty and its json-file log. The daemon never forks: [`LinuxExecDriver::start`] has a
//! single-threaded shim forked by the [`zygote`] (`rdockerd zygote`, started once), or spawns
//! one ([`helper::main`], `rdockerd init <bundle>`); the shim clones the container's process,
//! monitors it for its whole life and reports on a pipe ([`proto`]).
//!
//! It must not depend on the `api` crate or on other drivers.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cgroups;
mod driver;
mod error;
mod fdpass;
pub mod helper;
pub mod proto;
mod spec;
#[allow(unsafe_code)]
mod sys;
pub mod user;
pub mod zygote;

pub use cgroups::CgroupVersion;
pub use driver::{reattach_shim, ExecConfig, ExecDriver, LinuxExecDriver, Shim, Started};
pub use error::{Error, Result};
pub use spec::{
    read_exit, BindMount, ContainerSpec, ExitInfo, FailKind, NetworkMode, Resources, EXIT_FILE,
    SHIM_LOG_FILE, SPEC_FILE,
};
