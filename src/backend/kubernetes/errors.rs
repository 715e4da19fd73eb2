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
    /// A failed request as a [`BackendError`] about `object`.
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
                    message: format!("{} {}: {}", s.code, s.reason, s.message),
                },
                400 | 422 => BackendError::Invalid {
                    backend: BACKEND,
                    object: object.to_string(),
                    message: s.message.clone(),
                },
                429 | 500..=599 => BackendError::Unreachable {
                    backend: BACKEND,
                    endpoint: self.endpoint.clone(),
                    message: format!(
                        "{object}: answered {} {} ({attempts} attempts): {}",
                        s.code, s.reason, s.message
                    ),
                },
                code => failed(format!("{object}: {code} {}: {}", s.reason, s.message)),
            },
            CallError::Transport(m) => BackendError::Unreachable {
                backend: BACKEND,
                endpoint: self.endpoint.clone(),
                message: format!("{m} ({attempts} attempts)"),
            },
            CallError::Auth(m) => BackendError::Unauthorized {
                backend: BACKEND,
                endpoint: self.endpoint.clone(),
                message: m,
            },
            CallError::Other(m) => failed(format!("{object}: {m}")),
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

pub(crate) fn failed(message: String) -> BackendError {
    BackendError::Failed {
        backend: BACKEND,
        message,
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
