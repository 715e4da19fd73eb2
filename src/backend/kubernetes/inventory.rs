//! The inventory's requests: reading this source's ApplySet parent (at
//! the start of every observe) and writing its record, widened before an
//! apply and narrowed after it ([`applyset`] holds the convention).
//!
//! The parent is written with a forced server-side apply by mooring's
//! field manager: it is mooring's own bookkeeping, and a field someone
//! else took must not stop every later apply.

use kube::api::{Patch, PatchParams};
use kube::core::Request;
use serde_json::Value;

use super::applyset::{self, Record};
use super::client::CallError;
use super::errors::request_failed;
use super::{BACKEND, Kubernetes};
use crate::backend::BackendError;
use crate::plan::Change;

impl Kubernetes {
    /// `Secret/NAMESPACE/NAME` of the parent, for messages.
    fn parent_label(&self) -> String {
        format!(
            "{}/{}/{}",
            applyset::PARENT_KIND,
            self.applyset.namespace,
            self.applyset.name
        )
    }

    /// The record of this source's parent; `None` when there is no parent
    /// yet. A parent of another tool, or one whose id is not derived from
    /// it, is an error: nothing is planned from it.
    pub(super) async fn read_inventory(&self) -> Result<Option<Record>, BackendError> {
        let path = format!(
            "/api/v1/namespaces/{}/secrets/{}",
            self.applyset.namespace, self.applyset.name
        );
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| request_failed(&self.parent_label(), e))?;
        let parent: Option<Value> = match self.caller.json(request).await {
            Ok(v) => Some(v),
            Err(e) if e.code() == Some(404) => None,
            Err(e) => return Err(self.error(e, &self.parent_label())),
        };
        self.applyset
            .read(parent.as_ref())
            .map_err(|e| BackendError::Invalid {
                backend: BACKEND,
                object: self.parent_label(),
                message: e.to_string(),
            })
    }

    /// Applies the parent holding `record`.
    async fn write_inventory(&self, record: &Record) -> Result<(), BackendError> {
        let body = self.applyset.parent(&self.source, record);
        let request = Request::new(format!(
            "/api/v1/namespaces/{}/secrets",
            self.applyset.namespace
        ))
        .patch(
            &self.applyset.name,
            &PatchParams::apply(&self.field_manager).force(),
            &Patch::Apply(&body),
        )
        .map_err(|e| request_failed(&self.parent_label(), e))?;
        match self.caller.json(request).await {
            Ok(_) => Ok(()),
            Err(CallError::Status(s)) if s.code == 404 => Err(BackendError::Invalid {
                backend: BACKEND,
                object: self.parent_label(),
                message: format!(
                    "the inventory cannot be written: {} (does Namespace/{} exist? targets.kubernetes.inventoryNamespace names it)",
                    s.message, self.applyset.namespace
                ),
            }),
            Err(e) => Err(self.error(e, &self.parent_label())),
        }
    }

    /// Before an apply: the parent's record grows to every kind and
    /// namespace of `rows` (written only when it does not cover them yet),
    /// so that no member is ever of a kind the record does not name.
    pub(super) async fn widen_inventory(&self, rows: &[&Change]) -> Result<(), BackendError> {
        let want = self.record_of(rows);
        match self.read_inventory().await? {
            Some(current) if current.covers(&want) => Ok(()),
            Some(current) => self.write_inventory(&current.widened(&want)).await,
            None => self.write_inventory(&want).await,
        }
    }

    /// After an apply: the record becomes exactly the kinds and namespaces
    /// of what remains (written only when that changes it).
    pub(super) async fn narrow_inventory(&self, remaining: &[&Change]) -> Result<(), BackendError> {
        let want = self.record_of(remaining);
        if self.read_inventory().await?.as_ref() == Some(&want) {
            return Ok(());
        }
        self.write_inventory(&want).await
    }

    /// The record of these rows' objects (the parent's own namespace
    /// included, as [`applyset::ApplySet::read`] reads it).
    fn record_of(&self, rows: &[&Change]) -> Record {
        let mut record = Record::default();
        record.namespaces.insert(self.applyset.namespace.clone());
        for c in rows {
            record.add(&c.id.group, &c.id.kind, c.id.namespace.as_deref());
        }
        record
    }
}
