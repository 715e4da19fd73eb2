//! The rules of `mooring.yaml` that serde cannot say, one function per
//! section. They run once, over the file with the command-line flags laid
//! over it ([`super::Overrides`]); each problem carries the JSON pointer of
//! the setting, so that `parse` can name the file's line or the flag that
//! set it.

use std::collections::BTreeSet;

use super::{Config, KubernetesTarget, Source, Targets, is_label_value};

/// One broken rule: where (a JSON pointer into the file) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub pointer: String,
    /// The setting as a user writes it (`sources[1].webhook`), when the
    /// message is about one setting.
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    fn at(
        pointer: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            pointer: pointer.into(),
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// `field: message`, as the file's errors read.
    pub fn text(&self) -> String {
        match &self.field {
            Some(field) => format!("{field}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

type Checked = Result<(), Problem>;

/// The file's shape: `source` or `sources`, not both. Checked on the file
/// alone, before flags, since `--source-name` names the run's source
/// whichever the file uses.
pub(super) fn shape(config: &Config) -> Checked {
    if !config.sources.is_empty() && config.source != Source::default() {
        return Err(Problem::at(
            "/sources",
            "sources",
            "give either `source` or `sources`, not both",
        ));
    }
    Ok(())
}

/// Every other rule, in the order a reader meets the settings.
pub(super) fn all(config: &Config) -> Checked {
    source_names(config)?;
    for (i, src) in config.all_sources().into_iter().enumerate() {
        schedule(&at(config, i).0, src)?;
    }
    limits(config)?;
    labels(config)?;
    for (i, src) in config.all_sources().into_iter().enumerate() {
        let (at, field) = at(config, i);
        auth(&at, &field, src)?;
        target_namespace(&at, &field, src)?;
        exclude(&at, &field, src)?;
        plain_http(&at, &field, src)?;
        webhook(&at, &field, src)?;
    }
    targets(&config.targets)
}

/// A target namespace is a Namespace name: a DNS-1123 label.
fn target_namespace(at: &str, field: &str, src: &Source) -> Checked {
    match &src.target_namespace {
        Some(ns) if !crate::validate::meta::is_dns1123_label(ns) => Err(Problem::at(
            format!("{at}/targetNamespace"),
            format!("{field}.targetNamespace"),
            format!(
                "`{ns}` is not a Namespace name: at most 63 lowercase letters, digits and \
                 '-', starting and ending with a letter or digit"
            ),
        )),
        _ => Ok(()),
    }
}

/// Each exclude pattern is one gitignore's syntax reads.
fn exclude(at: &str, field: &str, src: &Source) -> Checked {
    for (i, pattern) in src.exclude.iter().enumerate() {
        if let Err(why) = crate::source::exclude::check_pattern(pattern) {
            return Err(Problem::at(
                format!("{at}/exclude/{i}"),
                format!("{field}.exclude[{i}]"),
                format!("`{pattern}`: {why}"),
            ));
        }
    }
    Ok(())
}

/// The pointer and the name of the `i`th of [`Config::all_sources`].
fn at(config: &Config, i: usize) -> (String, String) {
    if config.sources.is_empty() {
        ("/source".to_string(), "source".to_string())
    } else {
        (format!("/sources/{i}"), format!("sources[{i}]"))
    }
}

/// Each source prunes by its name, so no two may share one.
fn source_names(config: &Config) -> Checked {
    let mut seen = BTreeSet::new();
    for (i, src) in config.sources.iter().enumerate() {
        if !seen.insert(src.name.as_str()) {
            return Err(Problem::at(
                format!("/sources/{i}/name"),
                format!("sources[{i}].name"),
                format!(
                    "`{}` is used twice; each source prunes by its name",
                    src.name
                ),
            ));
        }
    }
    Ok(())
}

/// A source's sync schedule or interval, its sync windows, and its drift
/// interval.
fn schedule(at: &str, src: &Source) -> Checked {
    if src.schedule.is_some() && src.interval.is_some() {
        return Err(Problem::at(
            format!("{at}/schedule"),
            "schedule",
            "give `interval` or `schedule`, not both",
        ));
    }
    if let Some(Err(e)) = src.sync_schedule() {
        let field = match e {
            super::ScheduleError::Zone(_) => "timeZone",
            super::ScheduleError::Pattern { .. } => "schedule",
        };
        return Err(Problem::at(format!("{at}/{field}"), field, e.to_string()));
    }
    if let (None, Some(zone)) = (&src.schedule, &src.time_zone)
        && let Err(e) = super::schedule::zone(zone)
    {
        return Err(Problem::at(
            format!("{at}/timeZone"),
            "timeZone",
            e.to_string(),
        ));
    }
    for (j, w) in src.windows.iter().enumerate() {
        if let Err(e) = w.parsed(src.time_zone.as_deref()) {
            let (pointer, field) = match (&e, &w.time_zone) {
                (super::ScheduleError::Zone(_), Some(_)) => ("timeZone", "timeZone"),
                (super::ScheduleError::Zone(_), None) => {
                    return Err(Problem::at(
                        format!("{at}/timeZone"),
                        "timeZone",
                        e.to_string(),
                    ));
                }
                _ => ("schedule", "schedule"),
            };
            return Err(Problem::at(
                format!("{at}/windows/{j}/{pointer}"),
                format!("windows[{j}].{field}"),
                e.to_string(),
            ));
        }
        if w.duration.is_zero() {
            return Err(Problem::at(
                format!("{at}/windows/{j}/duration"),
                format!("windows[{j}].duration"),
                "must be above zero",
            ));
        }
    }
    if src.interval.is_some_and(|d| d.is_zero()) || src.drift_interval.is_zero() {
        return Err(Problem {
            pointer: at.to_string(),
            field: None,
            message: "interval and driftInterval must be above zero".into(),
        });
    }
    Ok(())
}

/// Requests in flight and their time limit.
fn limits(config: &Config) -> Checked {
    if config.concurrency == 0 {
        return Err(Problem::at(
            "/concurrency",
            "concurrency",
            "must be at least 1",
        ));
    }
    if config.timeout.is_zero() {
        return Err(Problem::at("/timeout", "timeout", "must be above zero"));
    }
    Ok(())
}

/// Source names are written into a label, so they must be label values.
/// `source` is checked too when `sources` is used: `--source-name` sets it
/// for `plan` and `apply`.
fn labels(config: &Config) -> Checked {
    let sources = config
        .sources
        .iter()
        .enumerate()
        .map(|(i, src)| (format!("/sources/{i}"), format!("sources[{i}]"), src));
    let named = std::iter::once(("/source".to_string(), "source".to_string(), &config.source))
        .chain(sources);
    for (at, field, src) in named {
        // No name and no URL: the command names it after its folders.
        if src.name.is_empty() && src.url.is_none() && !src.name_derived {
            continue;
        }
        if !is_label_value(&src.name) {
            return Err(Problem::at(
                format!("{at}/name"),
                format!("{field}.name"),
                format!(
                    "`{}` must be a valid label value (letters, digits, `-`, `_`, `.`; at most 63)",
                    src.name
                ),
            ));
        }
    }
    Ok(())
}

/// Git credentials: ssh keys only with verified host keys, one token.
fn auth(at: &str, field: &str, src: &Source) -> Checked {
    let Some(auth) = &src.auth else {
        return Ok(());
    };
    if auth.ssh_key_file.is_some() && auth.known_hosts_file.is_none() {
        return Err(Problem::at(
            format!("{at}/auth"),
            format!("{field}.auth"),
            "sshKeyFile needs knownHostsFile: host keys are verified, never accepted blindly",
        ));
    }
    if auth.token_file.is_some() && auth.token_env.is_some() {
        return Err(Problem::at(
            format!("{at}/auth"),
            format!("{field}.auth"),
            "give tokenFile or tokenEnv, not both",
        ));
    }
    Ok(())
}

/// A token (or a password in the URL) crosses the network only encrypted,
/// unless the source says `insecure: true`.
fn plain_http(at: &str, field: &str, src: &Source) -> Checked {
    let Some(url) = &src.url else {
        return Ok(());
    };
    let plain = url
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
    let token = src
        .auth
        .as_ref()
        .is_some_and(|a| a.token_file.is_some() || a.token_env.is_some());
    let password = crate::source::url::SourceUrl::new(url.as_str()).has_password();
    if !plain || src.insecure || !(token || password) {
        return Ok(());
    }
    let what = if token {
        "the token of auth"
    } else {
        "the password in the URL"
    };
    Err(Problem::at(
        format!("{at}/url"),
        format!("{field}.url"),
        format!(
            "source `{}` is plain http://, which would send {what} unencrypted: \
             use https://, or set `insecure: true` on this source to allow it",
            src.name
        ),
    ))
}

/// A push webhook's secret: from exactly one place.
fn webhook(at: &str, field: &str, src: &Source) -> Checked {
    let Some(hook) = &src.webhook else {
        return Ok(());
    };
    let message = match (&hook.secret_file, &hook.secret_env) {
        (Some(_), Some(_)) => "give secretFile or secretEnv, not both",
        (None, None) => {
            "give secretFile or secretEnv (leave `webhook` out to accept unsigned pushes)"
        }
        _ => return Ok(()),
    };
    Err(Problem::at(
        format!("{at}/webhook"),
        format!("{field}.webhook"),
        message,
    ))
}

/// Flintlock hosts (unique names, endpoints with a scheme) and the
/// Kubernetes target.
fn targets(targets: &Targets) -> Checked {
    let mut names = BTreeSet::new();
    for (i, host) in targets.flintlock.iter().enumerate() {
        if !names.insert(host.name.as_str()) {
            return Err(Problem::at(
                format!("/targets/flintlock/{i}/name"),
                format!("targets.flintlock[{i}].name"),
                format!("`{}` is used twice", host.name),
            ));
        }
        if !(host.endpoint.starts_with("http://") || host.endpoint.starts_with("https://")) {
            return Err(Problem::at(
                format!("/targets/flintlock/{i}/endpoint"),
                format!("targets.flintlock[{i}].endpoint"),
                format!(
                    "`{}` needs a scheme: http://host:9090 or https://host:9090",
                    host.endpoint
                ),
            ));
        }
    }
    if let Some(KubernetesTarget { field_manager, .. }) = &targets.kubernetes
        && field_manager.is_empty()
    {
        return Err(Problem::at(
            "/targets/kubernetes/fieldManager",
            "targets.kubernetes.fieldManager",
            "must not be empty",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Config;

    /// The error `mooring.yaml` text is refused with.
    fn refused(text: &str) -> String {
        Config::parse(text, "m.yaml").unwrap_err().to_string()
    }

    #[test]
    fn a_target_namespace_must_be_a_namespace_name() {
        let err = refused("source:\n  url: https://g.example/r.git\n  targetNamespace: my.team\n");
        assert!(err.contains("source.targetNamespace"), "{err}");
        assert!(err.contains("`my.team` is not a Namespace name"), "{err}");
    }

    #[test]
    fn ssh_keys_need_known_hosts() {
        let err = refused("source:\n  url: ssh://git@host/repo\n  auth:\n    sshKeyFile: /k\n");
        assert!(err.contains("knownHostsFile"), "{err}");
        assert!(err.starts_with("m.yaml:3:"), "{err}");
    }

    #[test]
    fn duplicate_hosts_and_schemeless_endpoints_are_refused() {
        let err = refused(
            "targets:\n  flintlock:\n    - {name: a, endpoint: 'http://x:1'}\n    - {name: a, endpoint: 'http://y:1'}\n",
        );
        assert!(err.contains("used twice"), "{err}");
        let err = refused("targets:\n  flintlock:\n    - {name: a, endpoint: 'x:1'}\n");
        assert!(err.contains("needs a scheme"), "{err}");
    }

    #[test]
    fn sources_schedules_and_intervals() {
        let c = Config::parse(
            "sources:\n  - {name: a, url: /r, interval: 30s}\n  - {name: b, url: /s, schedule: '0 */5 * * * *', driftInterval: 10s}\n",
            "m.yaml",
        )
        .unwrap();
        let names: Vec<&str> = c.all_sources().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(c.sources[0].sync_interval(), Duration::from_secs(30));
        assert_eq!(c.sources[1].drift_interval, Duration::from_secs(10));
        let err = refused("source: {name: x, schedule: 'every minute'}\n");
        assert!(err.contains("not a cron schedule"), "{err}");
        let err = refused("sources:\n  - {name: a}\n  - {name: a}\n");
        assert!(err.contains("used twice"), "{err}");
        assert_eq!(Config::default().all_sources().len(), 1);
    }

    #[test]
    fn a_token_or_password_over_plain_http_needs_insecure() {
        let err = refused(
            "sources:\n  - name: edge\n    url: http://git.lan/r.git\n    auth: {tokenEnv: T}\n",
        );
        assert_eq!(
            err,
            "m.yaml:3: sources[0].url: source `edge` is plain http://, which would send the \
             token of auth unencrypted: use https://, or set `insecure: true` on this source \
             to allow it"
        );
        let err = refused("source: {url: 'HTTP://alice:pw@git.lan/r.git'}\n");
        assert!(err.contains("the password in the URL unencrypted"), "{err}");
        for allowed in [
            "source: {url: http://git.lan/r.git, insecure: true, auth: {tokenEnv: T}}\n",
            "source: {url: https://git.lan/r.git, auth: {tokenEnv: T}}\n",
            "source: {url: http://git.lan/r.git}\n",
            "source: {url: http://git.lan/r.git, auth: {sshKeyFile: /k, knownHostsFile: /h}}\n",
        ] {
            let parsed = Config::parse(allowed, "m.yaml");
            assert!(parsed.is_ok(), "{allowed}: {:?}", parsed.err());
        }
    }

    #[test]
    fn every_source_has_its_auth_and_webhook_checked() {
        let err = refused(
            "sources:\n  - {name: a, url: /r}\n  - name: b\n    url: /r\n    webhook: {secretFile: /s, secretEnv: S}\n",
        );
        let text = err;
        assert!(text.starts_with("m.yaml:5:"), "{text}");
        assert!(text.contains("sources[1].webhook"), "{text}");
        let err = refused("sources:\n  - name: a\n    url: /r\n    auth: {sshKeyFile: /k}\n");
        assert!(err.contains("sources[0].auth"), "{err}");
        let err = refused("source: {url: /r, webhook: {}}\n");
        assert!(err.contains("secretFile or secretEnv"), "{err}");
        let c = Config::parse("source: {url: /r, webhook: {secretEnv: HOOK}}\n", "m.yaml").unwrap();
        assert_eq!(
            c.source.webhook.unwrap().secret_env.as_deref(),
            Some("HOOK")
        );
    }

    #[test]
    fn a_window_schedule_is_checked() {
        let err = refused("source:\n  windows: [{kind: allow, schedule: nightly, duration: 1h}]\n");
        assert!(err.contains("windows[0].schedule"), "{err}");
        assert!(err.starts_with("m.yaml:2:"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");

        // Five fields and a time zone, per window or from the source.
        let c = Config::parse(
            "source:\n  schedule: '*/5 * * * *'\n  timeZone: Europe/Berlin\n  windows:\n    - {kind: allow, schedule: '0 22 * * Mon-Fri', duration: 8h}\n    - {kind: deny, schedule: '0 0 24 12 *', duration: 48h, timeZone: America/New_York}\n",
            "m.yaml",
        )
        .unwrap();
        assert_eq!(c.source.time_zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(
            c.source.windows[1].time_zone.as_deref(),
            Some("America/New_York")
        );
        let err = refused(
            "source:\n  windows:\n    - {kind: allow, schedule: '0 22 * * *', duration: 1h, timeZone: Europe/Berlln}\n",
        );
        assert_eq!(
            err,
            "m.yaml:3: windows[0].timeZone: `Europe/Berlln` is not an IANA time zone (e.g. `Europe/Berlin`, `America/New_York`, `UTC`)"
        );
        let err = refused("source:\n  schedule: '0 2 * * *'\n  timeZone: CEST\n");
        assert!(
            err.starts_with("m.yaml:3: timeZone: `CEST` is not"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_name_among_sources_names_its_own_line() {
        let err = refused("sources:\n  - {name: a, url: /r}\n  - {name: 'b c', url: /s}\n");
        assert!(
            err.starts_with("m.yaml:3: sources[1].name: `b c` must be a valid label value"),
            "{err}"
        );
    }
}
