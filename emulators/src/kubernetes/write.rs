//! Writes: server-side apply, update (merge patch, PUT, POST), delete, and
//! `commit`, the one place an object is stored (server fields, the watch
//! event, CRDs served and unserved).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::fields::{self, Path};
use super::objects::{
    conflict_error, crd_resources, defaults, identity, immutable_error, now_rfc3339, render,
    strip_server_fields, undeclared_field_error, without_meta,
};
use super::{ApiError, Key, ManagerEntry, Managers, ResourceDef, State, Stored};

impl State {
    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn next_uid(&mut self) -> String {
        self.uids += 1;
        let n = self.uids;
        let port = self.addr.port();
        format!("{port:08x}-0000-4000-8000-{n:012x}")
    }

    /// Checks a request body against the URL and returns it as a map.
    fn body_object(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: Option<&str>,
        body: &[u8],
        yaml: bool,
    ) -> Result<Value, ApiError> {
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(json_err) if yaml => {
                let text = std::str::from_utf8(body)
                    .map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
                serde_saphyr::from_str(text).map_err(|e| {
                    ApiError::bad_request(format!("error decoding YAML: {e} (as JSON: {json_err})"))
                })?
            }
            Err(e) => return Err(ApiError::bad_request(format!("error decoding JSON: {e}"))),
        };
        if !value.is_object() {
            return Err(ApiError::bad_request("the body must be an object"));
        }
        let api_version = value.get("apiVersion").and_then(Value::as_str);
        if api_version.is_some_and(|a| a != def.api_version()) {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({}) does not match the expected API version ({})",
                api_version.unwrap_or_default(),
                def.api_version()
            )));
        }
        let kind = value.get("kind").and_then(Value::as_str);
        if kind.is_some_and(|k| k != def.kind) {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({}) does not match the expected kind ({})",
                kind.unwrap_or_default(),
                def.kind
            )));
        }
        let meta = value.get("metadata");
        if meta
            .and_then(|m| m.get("name"))
            .is_some_and(|n| !n.is_string())
        {
            return Err(ApiError::bad_request("metadata.name must be a string"));
        }
        let body_name = meta.and_then(|m| m.get("name")).and_then(Value::as_str);
        if let Some(url_name) = name
            && body_name.is_some_and(|n| n != url_name)
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({url_name})",
                body_name.unwrap_or_default()
            )));
        }
        let body_ns = meta
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str);
        if def.namespaced
            && let (Some(b), Some(u)) = (body_ns, namespace)
            && b != u
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        Ok(value)
    }

    fn require_namespace(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
    ) -> Result<(), ApiError> {
        if !def.namespaced {
            return Ok(());
        }
        let Some(ns) = namespace else {
            return Err(ApiError::bad_request(
                "a namespaced object needs a namespace",
            ));
        };
        let key = Key {
            group: String::new(),
            plural: "namespaces".into(),
            namespace: String::new(),
            name: ns.to_string(),
        };
        if self.objects.contains_key(&key) {
            Ok(())
        } else {
            Err(ApiError {
                details: Some(json!({"name": ns, "kind": "namespaces"})),
                ..ApiError::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            })
        }
    }

    /// Server-side apply.
    #[allow(clippy::too_many_arguments)] // one request's parts
    pub(super) fn apply(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        body: &[u8],
        manager: &str,
        force: bool,
        dry: bool,
    ) -> Result<(u16, Value), ApiError> {
        if manager.is_empty() {
            return Err(ApiError::bad_request(
                "PATCH /apply requests require a fieldManager",
            ));
        }
        let config = self.body_object(def, namespace, Some(name), body, true)?;
        if config.get("apiVersion").is_none() || config.get("kind").is_none() {
            return Err(ApiError::bad_request(
                "an apply configuration needs apiVersion and kind",
            ));
        }
        if let Some(e) = undeclared_field_error(def, namespace, name, &config) {
            return Err(e);
        }
        let key = Key::new(def, namespace, name);
        let existing = self.objects.get(&key);
        if existing.is_none() {
            self.require_namespace(def, namespace)?;
        }
        let before = existing.map_or(Value::Null, |s| s.content.clone());
        let mut managers = existing.map(|s| s.managers.clone()).unwrap_or_default();
        let applied = fields::leaves(&config);
        let me = (manager.to_string(), "Apply".to_string());
        let previous = managers
            .get(&me)
            .map(|e| e.fields.clone())
            .unwrap_or_default();
        let owned_by_others = |p: &Path, managers: &Managers| {
            managers
                .iter()
                .filter(|((m, _), _)| m != manager)
                .any(|(_, e)| e.fields.iter().any(|q| fields::overlaps(p, q)))
        };

        let mut result = if before.is_null() {
            json!({})
        } else {
            before.clone()
        };
        for p in previous.difference(&applied) {
            if !owned_by_others(p, &managers) {
                fields::remove(&mut result, p);
            }
        }
        for p in &applied {
            if let Some(v) = fields::get(&config, p) {
                fields::set(&mut result, p, v.clone());
            }
        }

        // Conflicts: fields another manager owns whose value this apply changes.
        let mut conflicts: Vec<(String, String, Path)> = Vec::new();
        for ((m, op), e) in &managers {
            if m == manager {
                continue;
            }
            for q in &e.fields {
                let touched = applied.iter().any(|p| fields::overlaps(p, q));
                if touched && fields::get(&before, q) != fields::get(&result, q) {
                    conflicts.push((m.clone(), op.clone(), q.clone()));
                }
            }
        }
        if !conflicts.is_empty() {
            if !force {
                return Err(conflict_error(&conflicts, &managers));
            }
            for (m, op, q) in &conflicts {
                if let Some(e) = managers.get_mut(&(m.clone(), op.clone())) {
                    e.fields.remove(q);
                }
            }
        }

        let now = now_rfc3339();
        let time = match managers.get(&me) {
            Some(e) if e.fields == applied => e.time.clone(),
            _ => now,
        };
        managers.insert(
            me,
            ManagerEntry {
                api_version: def.api_version(),
                time,
                fields: applied,
            },
        );
        identity(def, &mut result, namespace, name);
        defaults(def, &mut result);
        self.commit(def, key, result, managers, dry)
    }

    /// A write recorded as an `Update` by `manager`: it takes the fields it
    /// changes from every other manager.
    pub(super) fn update(
        &mut self,
        def: &ResourceDef,
        key: Key,
        mut content: Value,
        manager: &str,
        dry: bool,
    ) -> Result<(u16, Value), ApiError> {
        defaults(def, &mut content);
        let existing = self.objects.get(&key);
        let before = existing.map_or(Value::Null, |s| s.content.clone());
        let mut managers = existing.map(|s| s.managers.clone()).unwrap_or_default();
        let after = fields::leaves(&content);
        let changed: BTreeSet<Path> = after
            .iter()
            .filter(|p| fields::get(&before, p) != fields::get(&content, p))
            .cloned()
            .collect();
        let removed: Vec<Path> = fields::leaves(&before)
            .into_iter()
            .filter(|p| fields::get(&content, p).is_none())
            .collect();
        let me = (manager.to_string(), "Update".to_string());
        for (id, e) in managers.iter_mut() {
            if *id == me {
                continue;
            }
            e.fields.retain(|q| {
                !changed
                    .iter()
                    .chain(removed.iter())
                    .any(|p| fields::overlaps(p, q))
            });
        }
        if !changed.is_empty() {
            let entry = managers.entry(me).or_insert_with(|| ManagerEntry {
                api_version: def.api_version(),
                time: String::new(),
                fields: BTreeSet::new(),
            });
            entry.fields.extend(changed);
            entry.time = now_rfc3339();
        }
        self.commit(def, key, content, managers, dry)
    }

    pub(super) fn create(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        body: &[u8],
        manager: &str,
        dry: bool,
    ) -> Result<(u16, Value), ApiError> {
        let mut content = self.body_object(def, namespace, None, body, false)?;
        let name = content
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ApiError::new(422, "Invalid", "metadata.name: Required value: name is required (generateName is not emulated)"))?;
        let key = Key::new(def, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", def.qualified()),
            ));
        }
        self.require_namespace(def, namespace)?;
        strip_server_fields(&mut content);
        identity(def, &mut content, namespace, &name);
        self.update(def, key, content, manager, dry)
    }

    pub(super) fn merge_patch(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        body: &[u8],
        manager: &str,
        dry: bool,
    ) -> Result<(u16, Value), ApiError> {
        let patch: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding JSON: {e}")))?;
        let (key, stored) = self.stored(def, namespace, name)?;
        let mut content = stored.content.clone();
        fields::merge_patch(&mut content, &patch);
        strip_server_fields(&mut content);
        identity(def, &mut content, namespace, name);
        self.update(def, key, content, manager, dry)
    }

    pub(super) fn replace(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        body: &[u8],
        manager: &str,
        dry: bool,
    ) -> Result<(u16, Value), ApiError> {
        let mut content = self.body_object(def, namespace, Some(name), body, false)?;
        let (key, stored) = self.stored(def, namespace, name)?;
        let sent_rv = content
            .get("metadata")
            .and_then(|m| m.get("resourceVersion"))
            .and_then(Value::as_str)
            .filter(|rv| !rv.is_empty());
        if let Some(rv) = sent_rv
            && rv != stored.rv.to_string()
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    def.qualified()
                ),
            ));
        }
        if def.subresources.iter().any(|s| s == "status") {
            match stored.content.get("status") {
                Some(s) => content["status"] = s.clone(),
                None => {
                    if let Some(m) = content.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        strip_server_fields(&mut content);
        identity(def, &mut content, namespace, name);
        self.update(def, key, content, manager, dry)
    }

    pub(super) fn delete(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        body: &[u8],
        dry: bool,
    ) -> Result<Value, ApiError> {
        let (key, stored) = self.stored(def, namespace, name)?;
        let options: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
        };
        let pre = options.get("preconditions");
        let uid = pre.and_then(|p| p.get("uid")).and_then(Value::as_str);
        let rv = pre
            .and_then(|p| p.get("resourceVersion"))
            .and_then(Value::as_str);
        if uid.is_some_and(|u| u != stored.uid) || rv.is_some_and(|r| r != stored.rv.to_string()) {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {}, UID in object meta: {}",
                    def.qualified(),
                    uid.unwrap_or_default(),
                    stored.uid
                ),
            ));
        }
        let out = render(stored, def, true);
        if dry {
            return Ok(out);
        }
        self.remove_object(&key);
        if def.group.is_empty() && def.plural == "namespaces" {
            let inside: Vec<Key> = self
                .objects
                .keys()
                .filter(|k| k.namespace == name)
                .cloned()
                .collect();
            for k in inside {
                self.remove_object(&k);
            }
        }
        if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
            self.unregister_crd(&out);
        }
        Ok(out)
    }

    /// Stores `content` (unless `dry`) and returns it as the server would.
    pub(super) fn commit(
        &mut self,
        def: &ResourceDef,
        key: Key,
        content: Value,
        mut managers: Managers,
        dry: bool,
    ) -> Result<(u16, Value), ApiError> {
        managers.retain(|_, e| !e.fields.is_empty());
        let existing = self.objects.get(&key);
        if let Some(s) = existing {
            let same_managers = s.managers.len() == managers.len()
                && s.managers
                    .iter()
                    .zip(managers.iter())
                    .all(|((a, ea), (b, eb))| {
                        a == b && ea.fields == eb.fields && ea.api_version == eb.api_version
                    });
            if s.content == content && same_managers {
                return Ok((200, render(s, def, true)));
            }
        }
        if let Some(e) =
            existing.and_then(|s| immutable_error(def, &key.name, &s.content, &content))
        {
            return Err(e);
        }
        let created = existing.is_none();
        let stored = match existing {
            Some(s) => {
                let spec_changed = without_meta(&s.content) != without_meta(&content);
                Stored {
                    content,
                    uid: s.uid.clone(),
                    rv: if dry { s.rv } else { self.rv + 1 },
                    generation: s.generation + u64::from(spec_changed),
                    created: s.created.clone(),
                    managers,
                }
            }
            None => Stored {
                content,
                uid: if dry { String::new() } else { self.next_uid() },
                rv: if dry { self.rv } else { self.rv + 1 },
                generation: 1,
                created: now_rfc3339(),
                managers,
            },
        };
        let out = render(&stored, def, true);
        if !dry {
            let rv = self.next_rv();
            let kind = if created { "ADDED" } else { "MODIFIED" };
            self.watch_log.push(rv, kind, key.clone(), out.clone());
            if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
                self.register_crd(&stored.content);
            }
            self.objects.insert(key, stored);
        }
        Ok((if created { 201 } else { 200 }, out))
    }

    fn register_crd(&mut self, crd: &Value) {
        for def in crd_resources(crd) {
            self.resources.retain(|d| {
                !(d.group == def.group && d.version == def.version && d.plural == def.plural)
            });
            self.resources.push(def);
        }
    }

    fn unregister_crd(&mut self, crd: &Value) {
        let defs = crd_resources(crd);
        for def in &defs {
            let instances: Vec<Key> = self
                .objects
                .keys()
                .filter(|k| k.group == def.group && k.plural == def.plural)
                .cloned()
                .collect();
            for k in instances {
                self.remove_object(&k);
            }
            self.resources
                .retain(|d| !(d.group == def.group && d.plural == def.plural));
        }
    }

    /// Removes a stored object, recording a `DELETED` event with a new
    /// resourceVersion.
    fn remove_object(&mut self, key: &Key) {
        let Some(stored) = self.objects.remove(key) else {
            return;
        };
        let rv = self.next_rv();
        let Some(def) = self.def_for_key(key) else {
            return;
        };
        let mut object = render(&stored, def, true);
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.watch_log.push(rv, "DELETED", key.clone(), object);
    }
}

#[cfg(test)]
mod tests;
