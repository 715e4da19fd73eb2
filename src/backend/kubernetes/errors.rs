//! How a failed request to the API server becomes a [`BackendError`]:
//! credentials refused, unreachable (after retries), invalid input (a 400
//! or 422, or the 500 a real server answers for a field its schema does not
//! declare), a kind the cluster does not serve, and the field managers a
//! server-side apply conflicted with.

use kube::core::Status;

use super::client::{self, CallError};
use super::{BACKEND, Kubernetes, located};
use crate::backend::BackendError;
use crate::manifest::Manifest;

impl Kubernetes {
    /// A failed request as a [`BackendError`] about `object`. An answer's
    /// `Status` or the client's error is kept as the error's source, and
    /// its text ends the message.
    pub(super) fn error(&self, err: CallError, object: &str) -> BackendError {
        let attempts = self.caller.retry.attempts;
        match err {
            CallError::Status(s) if client::schema_rejection(&s).is_some() => {
                BackendError::Invalid {
                    backend: BACKEND,
                    object: object.to_string(),
                    message: schema_message(&s),
                }
            }
            CallError::Status(s) => match s.code {
                401 | 403 => BackendError::Unauthorized {
                    backend: BACKEND,
                    endpoint: self.endpoint.clone(),
                    message: format!("answered {}: {s}", s.code),
                    source: Some(s),
                },
                400 | 422 => BackendError::Invalid {
                    backend: BACKEND,
                    object: object.to_string(),
                    message: s.message.clone(),
                },
                429 | 500..=599 => BackendError::Unreachable {
                    backend: BACKEND,
                    endpoint: self.endpoint.clone(),
                    message: format!("{object}: answered {} ({attempts} attempts): {s}", s.code),
                    source: Some(s),
                },
                code => BackendError::Refused {
                    backend: BACKEND,
                    object: object.to_string(),
                    message: format!("answered {code}: {s}"),
                    source: Some(s),
                },
            },
            CallError::Transport { message, source } => BackendError::Unreachable {
                backend: BACKEND,
                endpoint: self.endpoint.clone(),
                message: format!("{message} ({attempts} attempts)"),
                source,
            },
            CallError::Auth { message, source } => BackendError::Unauthorized {
                backend: BACKEND,
                endpoint: self.endpoint.clone(),
                message,
                source,
            },
            CallError::Other(m) => request_failed(object, m),
        }
    }
}

/// What to tell a user whose apply the server's schema refused
/// ([`client::schema_rejection`]): each field, and what to do.
pub(super) fn schema_message(status: &Status) -> String {
    let fields = client::schema_rejection(status).unwrap_or_default();
    let mut undeclared = Vec::new();
    let mut wrong = Vec::new();
    for (path, reason) in fields {
        if reason == "field not declared in schema" {
            undeclared.push(format!("`{path}`"));
        } else if path.is_empty() {
            wrong.push(reason);
        } else {
            wrong.push(format!("`{path}`: {reason}"));
        }
    }
    let mut parts = Vec::new();
    if !undeclared.is_empty() {
        parts.push(format!(
            "field {} is not declared in the server's schema for this kind: remove it or correct its name in the manifest (for a custom resource, check that its CustomResourceDefinition declares it)",
            undeclared.join(", ")
        ));
    }
    if !wrong.is_empty() {
        parts.push(format!(
            "the server's schema refuses {}: correct the value in the manifest",
            wrong.join("; ")
        ));
    }
    parts.join("; ")
}

/// A request about `object` that could not be made.
pub(super) fn request_failed(object: &str, message: impl std::fmt::Display) -> BackendError {
    BackendError::Request {
        backend: BACKEND,
        object: object.to_string(),
        message: message.to_string(),
    }
}

/// What a kubeconfig or client problem becomes.
pub(super) fn config(message: String) -> BackendError {
    BackendError::Config {
        backend: BACKEND,
        message,
        source: None,
    }
}

/// [`config`], with the error underneath kept as its source.
pub(super) fn config_from(
    message: String,
    cause: impl std::error::Error + Send + Sync + 'static,
) -> BackendError {
    BackendError::Config {
        backend: BACKEND,
        message,
        source: Some(Box::new(cause)),
    }
}

/// A kind the cluster does not serve (its CRD is neither installed nor in
/// Git).
pub(super) fn not_served(m: &Manifest) -> BackendError {
    BackendError::Invalid {
        backend: BACKEND,
        object: located(m),
        message: format!(
            "kind {} ({}) is not served by the cluster: is its CustomResourceDefinition installed?",
            m.id.kind, m.api_version
        ),
    }
}

/// The managers (and their fields) a server-side apply conflicted with,
/// from the `Status` causes (`conflict with "kubectl-edit" using v1`,
/// field `.data.x`) or, lacking those, its message.
pub(super) fn conflict_owners(status: &Status) -> Vec<(String, Vec<String>)> {
    fn add(out: &mut Vec<(String, Vec<String>)>, manager: String, field: Option<String>) {
        let pos = match out.iter().position(|(m, _)| *m == manager) {
            Some(p) => p,
            None => {
                out.push((manager, Vec::new()));
                out.len() - 1
            }
        };
        if let Some(f) = field.filter(|f| !f.is_empty()) {
            out[pos].1.push(f);
        }
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or_default();
    for cause in causes {
        if let Some(manager) = quoted(&cause.message) {
            add(&mut out, manager, Some(cause.field.clone()));
        }
    }
    if out.is_empty() {
        let mut rest = status.message.as_str();
        while let Some(at) = rest.find("with \"") {
            rest = &rest[at + 5..];
            if let Some(manager) = quoted(rest) {
                add(&mut out, manager, None);
            }
            rest = &rest[1..];
        }
    }
    if out.is_empty() {
        out.push(("an unknown field manager".to_string(), Vec::new()));
    }
    out
}

/// The first `"quoted"` text in `s`.
fn quoted(s: &str) -> Option<String> {
    let start = s.find('"')? + 1;
    let len = s[start..].find('"')?;
    Some(s[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn backend() -> Kubernetes {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        Kubernetes::from_client(
            client,
            "http://127.0.0.1:9",
            &super::super::KubernetesTarget::default(),
            "test",
            1,
            Duration::from_secs(1),
        )
    }

    #[tokio::test]
    async fn an_answer_is_kept_as_the_source_and_said_once() {
        let k = backend();
        let status = |code| {
            CallError::Status(Box::new(
                Status::failure("the token expired", "Unauthorized").with_code(code),
            ))
        };
        let err = k.error(status(401), "LIST /api/v1/secrets");
        assert!(matches!(err, BackendError::Unauthorized { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "kubernetes: http://127.0.0.1:9 refused the credentials: answered 401: the token expired: Unauthorized"
        );
        let kept = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<Status>())
            .map(|s| s.code);
        assert_eq!(kept, Some(401));
        // The cause is not repeated where errors are joined with their
        // causes (the daemon's status).
        assert_eq!(crate::error::with_causes(&err), err.to_string());

        let err = k.error(status(503), "LIST /api/v1/secrets");
        assert!(matches!(err, BackendError::Unreachable { .. }), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(crate::error::with_causes(&err), err.to_string());

        let err = k.error(status(404), "ConfigMap/default/a");
        assert!(matches!(err, BackendError::Refused { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "kubernetes: ConfigMap/default/a: answered 404: the token expired: Unauthorized"
        );
    }

    #[test]
    fn conflict_owners_come_from_causes_or_the_message() {
        let mut s = Status::failure(
            "Apply failed with 2 conflicts: conflicts with \"kubectl-edit\" using v1:\n- .data.a\n- .data.b",
            "Conflict",
        )
        .with_code(409);
        assert_eq!(
            conflict_owners(&s),
            vec![("kubectl-edit".to_string(), Vec::new())]
        );
        s.details = Some(
            serde_json::from_value(serde_json::json!({"causes": [
                {"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-edit\" using v1", "field": ".data.a"},
                {"reason": "FieldManagerConflict", "message": "conflict with \"helm\" using v1", "field": ".data.b"},
            ]}))
            .unwrap(),
        );
        assert_eq!(
            conflict_owners(&s),
            vec![
                ("kubectl-edit".to_string(), vec![".data.a".to_string()]),
                ("helm".to_string(), vec![".data.b".to_string()]),
            ]
        );
        let bare = Status::failure("injected", "Conflict").with_code(409);
        assert_eq!(conflict_owners(&bare)[0].0, "an unknown field manager");
    }
}
