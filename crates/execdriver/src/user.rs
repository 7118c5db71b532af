//! Resolving `--user` against the container's `/etc/passwd` and `/etc/group`, as runc's
//! `libcontainer/user.GetExecUser` does.

use crate::error::{Error, Result};

/// The identity the container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// All groups for `setgroups` (primary first).
    pub groups: Vec<u32>,
    /// Home directory (for `HOME` when the env has none).
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.trim().split(':').collect();
        if f.len() < 6 || f[0].starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.trim().split(':').collect();
        if f.len() < 3 || f[0].starts_with('#') {
            return None;
        }
        Some(GroupEntry {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f
                .get(3)
                .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
        })
    })
}

/// The id of group `name` in the contents of a group file (as dockerd finds its socket group:
/// from `/etc/group`, not through NSS).
pub fn group_id(group_file: &str, name: &str) -> Option<u32> {
    group_entries(group_file)
        .find(|g| g.name == name)
        .map(|g| g.gid)
}

/// Resolves `spec` (`""`, `uid`, `uid:gid`, `name`, `name:group`, `uid:group`, `name:gid`)
/// against the contents of the container's passwd and group files (`None` when missing).
pub fn resolve(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<ExecUser> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = passwd.unwrap_or("");
    let group = group.unwrap_or("");

    let numeric_uid = if user_arg.is_empty() {
        Some(0)
    } else {
        user_arg.parse::<u32>().ok()
    };
    let entry = match numeric_uid {
        Some(uid) => passwd_entries(passwd).find(|e| e.uid == uid),
        None => Some(
            passwd_entries(passwd)
                .find(|e| e.name == user_arg)
                .ok_or_else(|| Error::UserNotFound {
                    name: user_arg.to_string(),
                })?,
        ),
    };
    let (uid, mut gid, home, name) = match &entry {
        Some(e) => (e.uid, e.gid, e.home.to_string(), Some(e.name)),
        // Only a numeric uid can lack an entry (a missing name returned above).
        None => {
            let uid = numeric_uid.unwrap_or_default();
            let home = if uid == 0 { "/root" } else { "/" };
            (uid, 0, home.to_string(), None)
        }
    };

    let mut groups = Vec::new();
    match group_arg.filter(|g| !g.is_empty()) {
        Some(g) => {
            gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    group_entries(group)
                        .find(|e| e.name == g)
                        .ok_or_else(|| Error::GroupNotFound {
                            name: g.to_string(),
                        })?
                        .gid
                }
            };
            groups.push(gid);
        }
        None => {
            groups.push(gid);
            if let Some(name) = name {
                groups.extend(
                    group_entries(group)
                        .filter(|e| e.members.contains(&name))
                        .map(|e| e.gid),
                );
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    groups.retain(|g| seen.insert(*g));
    let home = if home.is_empty() {
        "/".to_string()
    } else {
        home
    };
    Ok(ExecUser {
        uid,
        gid,
        groups,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          # comment\n\
                          daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
                          bob:x:1000:1000:Bob:/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,bob\nstaff:x:50:bob\nbob:x:1000:\n";

    fn r(spec: &str) -> ExecUser {
        resolve(spec, Some(PASSWD), Some(GROUP)).unwrap()
    }

    #[test]
    fn default_is_root() {
        let u = r("");
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(u.groups, vec![0, 10]);
        let u = resolve("", None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
    }

    #[test]
    fn names_and_numbers() {
        let u = r("bob");
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/bob"));
        assert_eq!(u.groups, vec![1000, 10, 50]);
        let u = r("1000:1000");
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.groups, vec![1000]);
        let u = r("bob:staff");
        assert_eq!((u.uid, u.gid, u.groups.clone()), (1000, 50, vec![50]));
        let u = r("4242");
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        let u = r("4242:7");
        assert_eq!((u.uid, u.gid), (4242, 7));
    }

    #[test]
    fn unknown_names_fail_like_runc() {
        let e = resolve("alice", Some(PASSWD), Some(GROUP)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find user alice: no matching entries in passwd file"
        );
        let e = resolve("bob:nogroup", Some(PASSWD), Some(GROUP)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        assert!(resolve("bob", None, None).is_err());
    }

    #[test]
    fn group_ids_by_name() {
        let group = "root:x:0:\n# comment\nrdocker:x:998:alice,bob\nbad:x:notanumber:\n";
        assert_eq!(group_id(group, "rdocker"), Some(998));
        assert_eq!(group_id(group, "root"), Some(0));
        assert_eq!(group_id(group, "bad"), None);
        assert_eq!(group_id(group, "nosuch"), None);
    }
}
