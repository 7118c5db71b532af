//! Inspect and list.

use super::{Container, ContainerService};
use crate::error::{blocking, Result, ServiceError};
use api::container::{
    ContainerInspect, ContainerSummary, EndpointSettings, GraphDriverData, NetworkSettings,
    SummaryHostConfig, SummaryNetworkSettings,
};
use api::units::human_duration;
use api::Filters;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Query of `GET /containers/json`.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub all: bool,
    pub limit: Option<usize>,
    pub size: bool,
    pub filters: Filters,
}

const FILTERS: &[&str] = &[
    "id", "name", "label", "status", "ancestor", "exited", "before", "since", "network",
];
const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

impl ContainerService {
    /// `GET /containers/{id}/json`.
    pub async fn inspect(self: &Arc<Self>, name: &str, size: bool) -> Result<ContainerInspect> {
        let c = self.lookup(name)?.snapshot();
        let svc = self.clone();
        blocking(move || Ok(svc.inspect_blocking(&c, size))).await
    }

    fn inspect_blocking(&self, c: &Container, size: bool) -> ContainerInspect {
        let (size_rw, size_root_fs) = if size { self.sizes(c) } else { (None, None) };
        ContainerInspect {
            id: c.id.clone(),
            created: c.created.clone(),
            path: c.path.clone(),
            args: c.args.clone(),
            state: c.state.clone(),
            image: c.image.clone(),
            resolv_conf_path: self
                .paths
                .container_dir(&c.id)
                .join("resolv.conf")
                .display()
                .to_string(),
            hostname_path: self
                .paths
                .container_dir(&c.id)
                .join("hostname")
                .display()
                .to_string(),
            hosts_path: self
                .paths
                .container_dir(&c.id)
                .join("hosts")
                .display()
                .to_string(),
            log_path: self.paths.log_path(&c.id).display().to_string(),
            name: c.name.clone(),
            restart_count: c.restart_count,
            driver: c.driver.clone(),
            platform: "linux".into(),
            exec_ids: None,
            host_config: c.host_config.clone(),
            graph_driver: self.graph_data(c),
            size_rw,
            size_root_fs,
            mounts: Vec::new(),
            config: c.config.clone(),
            network_settings: NetworkSettings {
                networks: networks(c),
                sandbox_key: if c.state.running {
                    format!("/proc/{}/ns/net", c.state.pid)
                } else {
                    String::new()
                },
                ports: BTreeMap::new(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Docker's overlay2 `GraphDriver.Data`: the directories of the container's union mount.
    fn graph_data(&self, c: &Container) -> GraphDriverData {
        let mut data = BTreeMap::new();
        let dir = |id: &str| {
            super::create::layer_id(id)
                .ok()
                .and_then(|l| self.graph.diff_dir(&l).ok())
        };
        if self.graph.name() == "overlay2" {
            if let Some(upper) = dir(&c.mount_id) {
                let base = upper.parent().map(|p| p.to_path_buf()).unwrap_or_default();
                let mut lowers = Vec::new();
                if let Some(m) = self.images.mount(&c.id) {
                    lowers.push(dir(&m.init_id));
                    let mut cur = m.parent;
                    while let Some(chain) = cur {
                        let l = self.images.layer(&chain);
                        lowers.push(l.as_ref().and_then(|l| dir(&l.cache_id)));
                        cur = l.and_then(|l| l.parent);
                    }
                }
                let lower: Vec<String> = lowers
                    .into_iter()
                    .flatten()
                    .map(|p| p.display().to_string())
                    .collect();
                data.insert("LowerDir".into(), lower.join(":"));
                data.insert(
                    "MergedDir".into(),
                    base.join("merged").display().to_string(),
                );
                data.insert("UpperDir".into(), upper.display().to_string());
                data.insert("WorkDir".into(), base.join("work").display().to_string());
            }
        }
        GraphDriverData {
            name: self.graph.name().to_string(),
            data,
        }
    }

    /// (SizeRw, SizeRootFs): the read-write layer's bytes, and those plus the image's layers.
    fn sizes(&self, c: &Container) -> (Option<i64>, Option<i64>) {
        let rw = self.rw_size(c).unwrap_or(0) as i64;
        let image: u64 = c
            .image
            .parse()
            .ok()
            .and_then(|id| self.images.get(&id).ok())
            .map(|cfg| {
                cfg.chain_ids()
                    .iter()
                    .filter_map(|ch| self.images.layer(ch))
                    .map(|l| l.size)
                    .sum()
            })
            .unwrap_or(0);
        (Some(rw), Some(rw + image as i64))
    }

    pub(super) fn rw_size(&self, c: &Container) -> Result<u64> {
        let id = super::create::layer_id(&c.mount_id)?;
        Ok(self.graph.usage(&id)?.size)
    }

    /// `GET /containers/json`.
    pub async fn list(self: &Arc<Self>, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        if let Some(k) = opts.filters.unknown_keys(FILTERS).first() {
            return Err(ServiceError::invalid(format!("invalid filter '{k}'")));
        }
        for s in opts.filters.get("status") {
            if !STATUSES.contains(&s.as_str()) {
                return Err(ServiceError::invalid(format!(
                    "invalid filter 'status={s}'"
                )));
            }
        }
        let ancestors: Vec<String> = opts
            .filters
            .get("ancestor")
            .iter()
            .filter_map(|a| self.images.resolve(a).ok().map(|d| d.to_string()))
            .collect();
        let mut all: Vec<Container> = self.entries().iter().map(|e| e.snapshot()).collect();
        all.sort_by(|a, b| b.created.cmp(&a.created));
        let bound = |key: &str| -> Result<Option<String>> {
            match opts.filters.get(key).first() {
                Some(v) => Ok(Some(self.lookup(v)?.data().created.clone())),
                None => Ok(None),
            }
        };
        let (before, since) = (bound("before")?, bound("since")?);
        let show_all = opts.all || opts.limit.is_some() || before.is_some() || since.is_some();
        let mut out: Vec<Container> = all
            .into_iter()
            .filter(|c| show_all || c.state.running || !opts.filters.get("status").is_empty())
            .filter(|c| before.as_ref().is_none_or(|b| &c.created < b))
            .filter(|c| since.as_ref().is_none_or(|s| &c.created > s))
            .filter(|c| matches(c, &opts.filters, &ancestors))
            .collect();
        if let Some(n) = opts.limit {
            out.truncate(n);
        }
        let svc = self.clone();
        blocking(move || Ok(out.iter().map(|c| svc.summary(c, opts.size)).collect())).await
    }

    fn summary(&self, c: &Container, size: bool) -> ContainerSummary {
        let (size_rw, size_root_fs) = if size { self.sizes(c) } else { (None, None) };
        ContainerSummary {
            id: c.id.clone(),
            names: vec![c.name.clone()],
            image: c.config.image.clone(),
            image_id: c.image.clone(),
            command: command_line(c),
            created: chrono::DateTime::parse_from_rfc3339(&c.created)
                .map(|t| t.timestamp())
                .unwrap_or(0),
            ports: Vec::new(),
            size_rw,
            size_root_fs,
            labels: c.config.labels.clone(),
            state: c.state.status.clone(),
            status: human_status(c),
            host_config: SummaryHostConfig {
                network_mode: c.host_config.network_mode.clone(),
            },
            network_settings: SummaryNetworkSettings {
                networks: networks(c),
            },
            mounts: Vec::new(),
        }
    }
}

/// Docker's `Command` column: arguments with spaces in single quotes.
fn command_line(c: &Container) -> String {
    let mut out = c.path.clone();
    for a in &c.args {
        out.push(' ');
        if a.contains(' ') {
            out.push_str(&format!("'{a}'"));
        } else {
            out.push_str(a);
        }
    }
    out
}

fn networks(c: &Container) -> BTreeMap<String, EndpointSettings> {
    let name = if c.host_config.network_mode == "host" {
        "host"
    } else {
        "none"
    };
    BTreeMap::from([(name.to_string(), EndpointSettings::default())])
}

fn matches(c: &Container, f: &Filters, ancestors: &[String]) -> bool {
    let name = c.name.trim_start_matches('/');
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
        let vs = f.get(key);
        vs.is_empty() || vs.iter().any(|v| pred(v))
    };
    any("id", &|v| c.id.starts_with(v))
        && any("name", &|v| name.contains(v.trim_start_matches('/')))
        && any("status", &|v| c.state.status == v)
        && any("exited", &|v| {
            c.state.status == "exited" && v.parse::<i64>() == Ok(c.state.exit_code)
        })
        && any("network", &|v| networks(c).contains_key(v))
        && (f.get("ancestor").is_empty()
            || ancestors.contains(&c.image)
            || f.get("ancestor").contains(&c.config.image))
        && f.match_labels("label", &c.config.labels)
}

/// Docker's `Status` column: `Up 5 seconds`, `Exited (0) 2 minutes ago`, `Created`.
fn human_status(c: &Container) -> String {
    let since = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds())
            .map_or(0.0, |ms| ms as f64 / 1000.0)
    };
    match c.state.status.as_str() {
        "running" => format!("Up {}", human_duration(since(&c.state.started_at))),
        "exited" => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            human_duration(since(&c.state.finished_at))
        ),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        _ => "Created".into(),
    }
}

impl ContainerService {
    /// `GET /containers/{id}/changes`: what the container changed in its read-write layer.
    pub async fn changes(
        self: &Arc<Self>,
        name: &str,
    ) -> Result<Vec<api::container::ContainerChange>> {
        let c = self.lookup(name)?.snapshot();
        let svc = self.clone();
        blocking(move || {
            let rw = super::create::layer_id(&c.mount_id)?;
            Ok(svc
                .graph
                .changes(&rw)?
                .into_iter()
                .map(|ch| api::container::ContainerChange {
                    path: ch.path,
                    kind: ch.kind.as_docker(),
                })
                .collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_labels_status_and_names() {
        let mut c = Container {
            name: "/web_1".into(),
            id: "abc".into(),
            ..Default::default()
        };
        c.state.status = "exited".into();
        c.state.exit_code = 3;
        c.config.labels.insert("tier".into(), "front".into());
        let f = |q: &str| Filters::parse(q).unwrap();
        assert!(matches(
            &c,
            &f(r#"{"name":["web"],"label":["tier=front"],"exited":["3"]}"#),
            &[]
        ));
        assert!(matches(&c, &f(r#"{"label":["tier"]}"#), &[]));
        assert!(!matches(&c, &f(r#"{"label":["tier=back"]}"#), &[]));
        assert!(!matches(&c, &f(r#"{"status":["running"]}"#), &[]));
        assert!(!matches(&c, &f(r#"{"exited":["0"]}"#), &[]));
    }
}
