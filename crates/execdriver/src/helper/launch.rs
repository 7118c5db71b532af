//! The shim's side of the start: stdio, cgroup, `clone3`, cgroup placement, and waiting for
//! the child's exec.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::channel::{self, ExecOutcome};
use super::stdio::{self, ParentStdio};
use super::{child, StartFailure};
use crate::cgroups::{AnyCgroupManager, CgroupManager, CgroupVersion};
use crate::error::Error;
use crate::spec::{ContainerSpec, FailKind, NetworkMode};
use crate::sys::{clone3_fork, CloneResult};

/// A container whose process has exec'd.
pub(super) struct Launched {
    /// Host pid of the container's PID 1.
    pub pid: i32,
    /// pidfd of it, readable once it exits.
    pub pidfd: OwnedFd,
    /// Our ends of its stdio.
    pub stdio: ParentStdio,
    /// The tty master, with a tty.
    pub console: Option<OwnedFd>,
}

/// Namespaces of a new container. The cgroup namespace is not among them: the child unshares
/// it once it sits in its own cgroup, so that cgroup becomes the namespace's root. Nor is the
/// network namespace when the shim already sits in a fresh one (`netns_ready`).
fn clone_flags(spec: &ContainerSpec, netns_ready: bool) -> CloneFlags {
    let mut f = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if spec.network == NetworkMode::None && !netns_ready {
        f |= CloneFlags::CLONE_NEWNET;
    }
    f
}

fn make_cgroup(spec: &ContainerSpec, cgroup: &AnyCgroupManager) -> Result<(), StartFailure> {
    cgroup.create()?;
    cgroup.apply(&spec.resources)?;
    Ok(())
}

/// Starts the container's process; on failure nothing of it is left but the cgroup, which the
/// caller removes.
pub(super) fn launch(
    spec: &ContainerSpec,
    cgroup: &AnyCgroupManager,
    netns_ready: bool,
) -> Result<Launched, StartFailure> {
    let (parent_io, child_io) = stdio::create(spec)?;
    let (parent_chan, child_chan) = channel::pair()?;

    // v2: the cgroup is made first and the child born in it. v1: the cgroup is made while the
    // child builds its mounts, and the child moves itself into it once told it exists, before
    // anything of the container runs (see `CgroupManager::join_self` for why not the shim
    // writing its pid: that costs ~10 ms).
    let v2 = cgroup.version() == CgroupVersion::V2;
    if v2 {
        make_cgroup(spec, cgroup)?;
    }
    let flags =
        u64::try_from(clone_flags(spec, netns_ready).bits()).expect("clone flags are positive");
    let cgroup_fd = if v2 { cgroup.clone_into_fd()? } else { None };
    let mut cloned = clone3_fork(flags, cgroup_fd.as_ref().map(|f| f.as_fd()));
    let mut born_inside = cgroup_fd.is_some();
    if born_inside
        && matches!(
            cloned,
            Err(Errno::EINVAL | Errno::E2BIG | Errno::EOPNOTSUPP)
        )
    {
        // Kernels before 5.7 lack CLONE_INTO_CGROUP.
        cloned = clone3_fork(flags, None);
        born_inside = false;
    }
    let (pid, pidfd) = match cloned {
        Ok(CloneResult::Child) => {
            drop(parent_chan);
            drop(parent_io);
            child::run(
                spec,
                cgroup,
                !born_inside,
                netns_ready,
                child_io,
                child_chan,
            )
        }
        Ok(CloneResult::Parent { pid, pidfd }) => (pid, pidfd),
        Err(e) => return Err(Error::sys("clone3", e).into()),
    };
    drop(child_chan);
    drop(child_io);

    let abort = |f: StartFailure| {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
        Err(f)
    };
    if !v2 {
        if let Err(e) = make_cgroup(spec, cgroup) {
            return abort(e);
        }
    }
    if let Err(e) = parent_chan.send_ready() {
        // The child may have failed already (building its mounts): its report says why.
        if let Ok(ExecOutcome::Failed(f)) = parent_chan.wait_exec() {
            return abort(f);
        }
        return abort(e.into());
    }
    match parent_chan.wait_exec() {
        Ok(ExecOutcome::Execd { console }) => {
            if spec.tty && console.is_none() {
                return abort(StartFailure {
                    kind: FailKind::Other,
                    message: "container init exec'd without handing over its console".into(),
                });
            }
            Ok(Launched {
                pid,
                pidfd,
                stdio: parent_io,
                console,
            })
        }
        Ok(ExecOutcome::Failed(f)) => abort(f),
        Err(e) => abort(e.into()),
    }
}
