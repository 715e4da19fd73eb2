//! Writes: server-side apply ([`Kubernetes::apply_manifest`]), deletion
//! with the observed uid as precondition ([`Kubernetes::delete`]), and the
//! replace of an immutable object (the two in a row). After a write the
//! object is waited for, at most the request timeout, until it reaches its
//! [`Condition`]: a Namespace `Active`, a CustomResourceDefinition
//! `Established`, a deleted object gone when the server's answer shows it
//! Terminating (held by finalizers). An apply whose object is not ready in
//! time is still reported as created or updated, with what it is not yet.

use kube::api::{DeleteParams, Patch, Preconditions};
use kube::core::Request;
use serde_json::Value;

use super::client::CallError;
use super::discovery::{Resource, split_api_version};
use super::errors::{conflict_owners, not_served, request_failed};
use super::{
    BACKEND, CRD_GROUP, CRD_KIND, Kubernetes, READY_POLL, apply_body, located, namespace_of,
};
use crate::backend::{BackendError, Done, waiting};
use crate::kinds::{self, Ready};
use crate::manifest::{Manifest, ObjectId};
use crate::plan::{Action, Change, Handle};

/// A state a written object is waited for, checked on each read of it
/// (`None`: the server answered 404), in the manner of kube-runtime's
/// `wait::conditions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Condition<'a> {
    /// A Namespace whose `status.phase` is `Active`.
    NamespaceActive,
    /// A CustomResourceDefinition whose `Established` condition is `True`:
    /// its kinds are served.
    CrdEstablished,
    /// Deleted: not found, or found with another uid than `uid` (deleted
    /// and created again since).
    Gone { uid: Option<&'a str> },
}

impl Condition<'_> {
    /// What an applied object of `resource` is waited for; `None`: it is
    /// ready as soon as the server accepted it.
    /// The kind table ([`kinds::facts()`]) says which kinds have one.
    pub(super) fn after_apply(resource: &Resource) -> Option<Condition<'static>> {
        match kinds::facts(&resource.group, &resource.kind).ready? {
            Ready::Active => Some(Condition::NamespaceActive),
            Ready::Established => Some(Condition::CrdEstablished),
        }
    }

    /// The condition's name in messages.
    fn name(self) -> &'static str {
        match self {
            Condition::NamespaceActive => Ready::Active.name(),
            Condition::CrdEstablished => Ready::Established.name(),
            Condition::Gone { .. } => "gone",
        }
    }

    /// What the object is waited for and where it stands, for the
    /// [`waiting`] hook: `to be Active (phase Terminating)`.
    fn standing(self, object: Option<&Value>) -> String {
        let phase = object
            .and_then(|o| o.pointer("/status/phase"))
            .and_then(Value::as_str);
        match (self, phase) {
            (Condition::Gone { .. }, _) => {
                let held = object.map(finalizers).unwrap_or_default();
                if held.is_empty() {
                    "to be gone: Terminating".to_string()
                } else {
                    format!("to be gone: Terminating, finalizers [{}]", held.join(", "))
                }
            }
            (_, Some(phase)) => format!("to be {} (phase {phase})", self.name()),
            (_, None) => format!("to be {}", self.name()),
        }
    }

    pub(super) fn is_met(self, object: Option<&Value>) -> bool {
        match (self, object) {
            (Condition::Gone { .. }, None) => true,
            (Condition::Gone { uid }, Some(o)) => uid.is_some() && uid_of(o) != uid,
            (Condition::NamespaceActive, Some(o)) => {
                o.pointer("/status/phase").and_then(Value::as_str) == Some("Active")
            }
            (Condition::CrdEstablished, Some(o)) => o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|conds| {
                    conds.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some("Established")
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                }),
            (_, None) => false,
        }
    }
}

/// How a wait ended: whether the condition was met, and the object as last
/// read (`None` if it was not found).
struct Waited {
    met: bool,
    last: Option<Value>,
}

impl Kubernetes {
    /// Server-side apply of `manifest` (a create or an update, as `action`
    /// says), then the wait for its [`Condition`].
    pub(super) async fn apply_manifest(
        &self,
        manifest: &Manifest,
        action: Action,
    ) -> Result<Done, BackendError> {
        let object = located(manifest);
        let (group, version) = split_api_version(&manifest.api_version);
        let resource = self
            .resolve(group, version, &manifest.id.kind)
            .await
            .map_err(|e| self.error(e, &object))?
            .ok_or_else(|| not_served(manifest))?;
        let namespace = namespace_of(manifest, &resource);
        // A heal (a forced apply of an object that exists, or any update
        // with selfHeal) first takes the fields kubectl-style managers
        // took, so it restores Git's object.
        let taken = if (self.force || self.heal) && action != Action::Create {
            self.take_over(
                &resource,
                namespace.as_deref(),
                &manifest.id.name,
                &manifest.api_version,
            )
            .await
            .map_err(|e| self.error(e, &object))?
        } else {
            Vec::new()
        };
        // Once it exists, its ignored fields are sent as they are live, so
        // no other manager's value is taken back.
        let manifest = if action != Action::Create && !manifest.ignore.is_empty() {
            match self
                .read_object(&resource, namespace.as_deref(), &manifest.id.name)
                .await
                .map_err(|e| self.error(e, &object))?
            {
                Some(live) => super::fields::with_ignored_from_live(manifest, &live),
                None => std::borrow::Cow::Borrowed(manifest),
            }
        } else {
            std::borrow::Cow::Borrowed(manifest)
        };
        let body = apply_body(&manifest, &resource, &self.applyset.id);
        let request = Request::new(resource.collection_path(namespace.as_deref()))
            .patch(
                &manifest.id.name,
                &self.patch_params(),
                &Patch::Apply(&body),
            )
            .map_err(|e| request_failed(&object, e))?;
        let (applied, warnings) = match self.caller.call(request).await {
            Ok(answer) => (answer.value, answer.warnings),
            Err(CallError::Status(s)) if s.code == 409 => {
                let managers: Vec<String> =
                    conflict_owners(&s).into_iter().map(|(m, _)| m).collect();
                return Err(BackendError::Conflict {
                    backend: BACKEND,
                    object,
                    manager: managers.join(", "),
                    message: s.message.clone(),
                });
            }
            Err(e) => return Err(self.error(e, &object)),
        };
        let summary = match action {
            Action::Create => "created",
            _ => "updated",
        };
        let unhealthy = self
            .wait_ready(&resource, namespace.as_deref(), &manifest.id, applied)
            .await
            .map_err(|e| self.error(e, &object))?;
        // Written, and reported so; `unhealthy` says what it is not yet,
        // and the server's warnings are shown with the object.
        let mut summary = summary.to_string();
        if !taken.is_empty() {
            summary.push_str(&format!("; took the fields of {}", taken.join(", ")));
        }
        for warning in warnings {
            summary.push_str(&format!("; the server warns: {warning}"));
        }
        Ok(Done { summary, unhealthy })
    }

    /// An immutable ConfigMap or Secret whose data changed: deleted (only
    /// the object observed: the uid precondition), then created from Git.
    pub(super) async fn replace(
        &self,
        change: &Change,
        manifest: &Manifest,
    ) -> Result<Done, BackendError> {
        let deleted = self.delete(change).await?;
        if deleted.unhealthy.is_some() {
            return Ok(deleted);
        }
        let mut created = self.apply_manifest(manifest, Action::Create).await?;
        if created.unhealthy.is_none() {
            created.summary = "replaced".to_string();
        }
        Ok(created)
    }

    /// Waits for the [`Condition::after_apply`] of `resource`, if it has
    /// one; `applied` is the server's answer to the apply. A CRD's group is
    /// dropped from discovery, so its kind is looked up afresh.
    async fn wait_ready(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        id: &ObjectId,
        applied: Value,
    ) -> Result<Option<String>, CallError> {
        let Some(condition) = Condition::after_apply(resource) else {
            return Ok(None);
        };
        let path = resource.object_path(namespace, &id.name);
        let waited = self
            .wait_for(&id.to_string(), &path, condition, Some(applied))
            .await?;
        if resource.kind == CRD_KIND
            && let Some(group) = waited
                .last
                .as_ref()
                .and_then(|o| o.pointer("/spec/group"))
                .and_then(Value::as_str)
        {
            self.discovery.forget_group(group);
            if waited.met
                && let Some(crd) = &waited.last
                && let Some(not_served) = self.wait_served(crd).await?
            {
                return Ok(Some(not_served));
            }
        }
        Ok((!waited.met).then(|| {
            format!(
                "not {} after {}s",
                condition.name(),
                self.caller.timeout().as_secs()
            )
        }))
    }

    /// After a CRD is Established, its kinds may still be missing from the
    /// discovery documents for a moment (a loaded API server takes longer):
    /// polls discovery until every served version lists the kind, so that
    /// the custom resources applied next find it. `Some`: what is not
    /// served yet when the request timeout has passed.
    async fn wait_served(&self, crd: &Value) -> Result<Option<String>, CallError> {
        let text = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let (group, kind) = (text("/spec/group"), text("/spec/names/kind"));
        let versions: Vec<&str> = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
            .filter_map(|v| v.get("name").and_then(Value::as_str))
            .collect();
        let deadline = tokio::time::Instant::now() + self.caller.timeout();
        let name = format!("{CRD_KIND}/{}", text("/metadata/name"));
        let mut notice = waiting::Notice::start(BACKEND, &name);
        for version in versions {
            loop {
                if self.resolve(group, version, kind).await?.is_some() {
                    break;
                }
                notice.still(&format!(
                    "to be served: {kind} ({group}/{version}) not in discovery yet"
                ));
                if tokio::time::Instant::now() >= deadline {
                    return Ok(Some(format!(
                        "Established, but {kind} ({group}/{version}) is not served by discovery after {}s",
                        self.caller.timeout().as_secs()
                    )));
                }
                self.discovery.forget_group(group);
                tokio::time::sleep(READY_POLL).await;
            }
        }
        Ok(None)
    }

    /// Polls `object` at `path` (starting from `seen`, if given) until
    /// `condition` is met or the request timeout has passed, telling each
    /// round to the [`waiting`] hook. A 404 is an error unless the
    /// condition is met by absence.
    async fn wait_for(
        &self,
        object: &str,
        path: &str,
        condition: Condition<'_>,
        mut seen: Option<Value>,
    ) -> Result<Waited, CallError> {
        let deadline = tokio::time::Instant::now() + self.caller.timeout();
        let mut notice = waiting::Notice::start(BACKEND, object);
        loop {
            let object = match seen.take() {
                Some(object) => Some(object),
                None => {
                    let request = http::Request::get(path.to_string())
                        .body(Vec::new())
                        .map_err(|e| CallError::Other(e.to_string()))?;
                    match self.caller.json(request).await {
                        Ok(object) => Some(object),
                        Err(e) if e.code() == Some(404) && condition.is_met(None) => None,
                        Err(e) => return Err(e),
                    }
                }
            };
            let met = condition.is_met(object.as_ref());
            if met || tokio::time::Instant::now() >= deadline {
                return Ok(Waited { met, last: object });
            }
            notice.still(&condition.standing(object.as_ref()));
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Deletes the object a change names: with the uid observe saw as a
    /// precondition, so an object recreated since is left alone; then
    /// waits for it to be gone.
    pub(super) async fn delete(&self, change: &Change) -> Result<Done, BackendError> {
        let object = change.id.to_string();
        let (uid, collection, name) = match &change.handle {
            Some(Handle::Kubernetes {
                uid,
                collection,
                name,
            }) => (Some(uid.clone()), collection.clone(), name.clone()),
            Some(_) => {
                return Err(BackendError::NoLiveObject {
                    backend: BACKEND,
                    object,
                });
            }
            None => {
                let (group, version) = split_api_version(&change.api_version);
                let resource = self
                    .resolve(group, version, &change.id.kind)
                    .await
                    .map_err(|e| self.error(e, &object))?
                    .ok_or_else(|| BackendError::Invalid {
                        backend: BACKEND,
                        object: object.clone(),
                        message: format!(
                            "kind {} ({}) is not served by the cluster",
                            change.id.kind, change.api_version
                        ),
                    })?;
                let namespace = resource.namespaced.then(|| {
                    change
                        .id
                        .namespace
                        .clone()
                        .unwrap_or_else(|| "default".into())
                });
                (
                    None,
                    resource.collection_path(namespace.as_deref()),
                    change.id.name.clone(),
                )
            }
        };
        let path = format!("{collection}/{name}");
        let mut params = DeleteParams::background();
        if let Some(uid) = &uid {
            params.preconditions = Some(Preconditions {
                uid: Some(uid.clone()),
                resource_version: None,
            });
        }
        let request = Request::new(collection)
            .delete(&name, &params)
            .map_err(|e| request_failed(&object, e))?;
        let (summary, answer) = match self.caller.json(request).await {
            Ok(answer) => ("deleted", answer),
            Err(e) if e.code() == Some(404) => ("already gone", Value::Null),
            Err(CallError::Status(s)) if s.code == 409 && uid.is_some() => {
                return Err(BackendError::Replaced {
                    backend: BACKEND,
                    object,
                    uid: uid.unwrap_or_default(),
                    message: s.message.clone(),
                });
            }
            Err(e) => return Err(self.error(e, &object)),
        };
        // A Namespace (or anything with finalizers) is only marked for
        // deletion: it is not reported deleted until it is gone.
        let unhealthy = if terminating(&answer) {
            self.wait_gone(&object, &path, uid_of(&answer))
                .await
                .map_err(|e| self.error(e, &object))?
        } else {
            None
        };
        if change.id.group == CRD_GROUP
            && change.id.kind == CRD_KIND
            && let Some((_, group)) = change.id.name.split_once('.')
        {
            self.discovery.forget_group(group);
        }
        Ok(deleted(summary, unhealthy))
    }

    /// Waits for the object at `path` to be [`Condition::Gone`]; if it is
    /// not, says why it is still there.
    async fn wait_gone(
        &self,
        object: &str,
        path: &str,
        uid: Option<&str>,
    ) -> Result<Option<String>, CallError> {
        let waited = self
            .wait_for(object, path, Condition::Gone { uid }, None)
            .await?;
        if waited.met {
            return Ok(None);
        }
        let live = waited.last.unwrap_or_default();
        Ok(Some(format!(
            "deletion started but still Terminating after {}s, waiting for finalizers [{}]; `mooring plan` shows nothing more to do while it goes",
            self.caller.timeout().as_secs(),
            finalizers(&live).join(", ")
        )))
    }
}

/// The finalizers holding `object` (a Namespace's are in its spec).
fn finalizers(object: &Value) -> Vec<&str> {
    let mut finalizers: Vec<&str> = ["/metadata/finalizers", "/spec/finalizers"]
        .iter()
        .filter_map(|p| object.pointer(p).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    finalizers.dedup();
    finalizers
}

/// What a delete reports: `summary`, or "deletion started" when the object
/// was not gone in time (`unhealthy` says what holds it).
fn deleted(summary: &str, unhealthy: Option<String>) -> Done {
    let summary = if unhealthy.is_some() {
        "deletion started"
    } else {
        summary
    };
    Done {
        summary: summary.to_string(),
        unhealthy,
    }
}

/// A live object marked for deletion, waiting for its finalizers
/// (a Namespace always is, until the namespace controller empties it).
pub(super) fn terminating(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

fn uid_of(object: &Value) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_read_the_live_object() {
        let active = json!({"status": {"phase": "Active"}});
        let terminating = json!({"status": {"phase": "Terminating"}});
        assert!(Condition::NamespaceActive.is_met(Some(&active)));
        assert!(!Condition::NamespaceActive.is_met(Some(&terminating)));
        assert!(!Condition::NamespaceActive.is_met(None));

        let established = json!({"status": {"conditions": [
            {"type": "NamesAccepted", "status": "True"},
            {"type": "Established", "status": "True"},
        ]}});
        let pending =
            json!({"status": {"conditions": [{"type": "Established", "status": "False"}]}});
        assert!(Condition::CrdEstablished.is_met(Some(&established)));
        assert!(!Condition::CrdEstablished.is_met(Some(&pending)));

        let old = json!({"metadata": {"uid": "1"}});
        let new = json!({"metadata": {"uid": "2"}});
        let gone = Condition::Gone { uid: Some("1") };
        assert!(gone.is_met(None));
        assert!(!gone.is_met(Some(&old)));
        assert!(gone.is_met(Some(&new)));
        // Without a uid to compare, only absence counts.
        assert!(!Condition::Gone { uid: None }.is_met(Some(&new)));
    }

    #[test]
    fn a_wait_says_what_it_waits_for_and_where_the_object_stands() {
        let terminating = json!({
            "metadata": {"deletionTimestamp": "2026-12-05T00:00:00Z"},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Terminating"},
        });
        assert_eq!(
            Condition::Gone { uid: None }.standing(Some(&terminating)),
            "to be gone: Terminating, finalizers [kubernetes]"
        );
        assert_eq!(
            Condition::Gone { uid: None }.standing(Some(&json!({}))),
            "to be gone: Terminating"
        );
        assert_eq!(
            Condition::NamespaceActive.standing(Some(&terminating)),
            "to be Active (phase Terminating)"
        );
        assert_eq!(
            Condition::CrdEstablished.standing(Some(&json!({}))),
            "to be Established"
        );
    }

    #[test]
    fn namespaces_and_crds_are_waited_for_other_kinds_are_not() {
        let resource = |group: &str, kind: &str| Resource {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            plural: String::new(),
            namespaced: false,
        };
        assert_eq!(
            Condition::after_apply(&resource("", "Namespace")),
            Some(Condition::NamespaceActive)
        );
        assert_eq!(
            Condition::after_apply(&resource(CRD_GROUP, CRD_KIND)),
            Some(Condition::CrdEstablished)
        );
        assert_eq!(Condition::after_apply(&resource("", "ConfigMap")), None);
    }
}
