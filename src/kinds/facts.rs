//! What mooring does with a kind, beyond its shape: which target handles
//! it, in which tier it is applied, what deleting it takes along, what
//! "ready" means for it, and which of its fields are secret. One table,
//! looked up by API group and kind ([`facts()`]); the engine's routing,
//! ordering and deletion guard, the plan's masking, the validator's
//! messages and the backends read it, and none of them matches on kind
//! names for these facts.
//!
//! The table lists every kind of [`super::all`] (a test holds it to that)
//! and the built-in Kubernetes kinds mooring orders, waits for or masks
//! (Namespace, CustomResourceDefinition, ConfigMap, Secret, ServiceAccount,
//! and RBAC, classes, policies, volumes and webhooks, which go before
//! workloads). Any other group and kind (a user's own custom resource,
//! a built-in such as a Deployment) is a Kubernetes object of the last
//! tier with nothing secret; only a kind
//! mooring does not know in a group whose known kinds all go to other
//! targets (an Ignite or Flintlock kind it has no schema for) has no target.

use serde_json::Value;

use super::{KindType, flintlock, ignite, llamastack, pointer_token, wasmcloud};

/// Where objects of a kind go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A Kubernetes API server, as written (plus ownership labels).
    Kubernetes,
    /// flintlockd hosts, converted to their gRPC API.
    Flintlock,
    /// Declared in Git for other objects to refer to, with nothing to
    /// apply (Ignite `Kernel`, `Image`, `Pool`): planned as "declared".
    DeclarationOnly,
    /// Translated into another kind before planning (an Ignite `VM` becomes
    /// a Flintlock `MicroVM`); no target takes it as written.
    Translated,
    /// No target takes it: a kind mooring does not know, in a group whose
    /// known kinds all go to targets other than Kubernetes.
    Unhandled,
}

/// What an object of a kind holds besides itself, which goes when it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    Nothing,
    /// A Namespace: every object in it, mooring's or not. An object in a
    /// Namespace that could not be created is not attempted.
    NamespacedObjects,
    /// A CustomResourceDefinition: every instance of the kind it defines.
    Instances,
}

/// The condition an applied object is waited for before the next tier,
/// at most the request timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// `status.phase` is `Active` (a Namespace).
    Active,
    /// The `Established` condition is `True` (a CustomResourceDefinition:
    /// objects of its kinds can be applied).
    Established,
}

impl Ready {
    /// The condition's name, for messages ("not Active after 30s").
    pub fn name(self) -> &'static str {
        match self {
            Ready::Active => "Active",
            Ready::Established => "Established",
        }
    }
}

/// Which fields of an object of a kind are secret: plan output shows them
/// as `***` and messages never quote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretRule {
    /// Nothing is secret.
    Nothing,
    /// Every top-level field but `public` is secret, whatever its name or
    /// shape (`data`, `stringData`, and any typo of them), and so are the
    /// `within_public` subtrees (JSON pointers) of public fields.
    AllBut {
        public: &'static [&'static str],
        within_public: &'static [&'static str],
    },
    /// These subtrees (JSON pointers) are secret.
    Subtrees(&'static [&'static str]),
}

impl SecretRule {
    /// Whether the value at `pointer` (into the whole object) is secret.
    pub fn covers(&self, pointer: &str) -> bool {
        let under = |roots: &[&str]| {
            roots
                .iter()
                .any(|p| pointer == *p || pointer.starts_with(&format!("{p}/")))
        };
        match self {
            SecretRule::Nothing => false,
            SecretRule::AllBut {
                public,
                within_public,
            } => {
                let top = pointer.split('/').nth(1).unwrap_or("");
                (!top.is_empty() && !public.contains(&top)) || under(within_public)
            }
            SecretRule::Subtrees(roots) => under(roots),
        }
    }

    /// The pointers of the secret subtrees of objects shaped like `values`
    /// (for [`SecretRule::AllBut`], every non-public top-level field any of
    /// them has).
    pub fn roots(&self, values: &[&Value]) -> Vec<String> {
        match self {
            SecretRule::Nothing => Vec::new(),
            SecretRule::AllBut {
                public,
                within_public,
            } => {
                let mut roots: Vec<String> = Vec::new();
                for map in values.iter().filter_map(|v| v.as_object()) {
                    for k in map.keys() {
                        let p = format!("/{}", pointer_token(k));
                        if !public.contains(&k.as_str()) && !roots.contains(&p) {
                            roots.push(p);
                        }
                    }
                }
                roots.extend(within_public.iter().map(|p| (*p).to_string()));
                roots
            }
            SecretRule::Subtrees(roots) => roots.iter().map(|p| (*p).to_string()).collect(),
        }
    }
}

/// Number of apply tiers: [`KindFacts::tier`] is below it.
pub const TIERS: u8 = 3;

/// What mooring does with one kind (any version of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindFacts {
    /// API group; empty for the Kubernetes core group.
    pub group: &'static str,
    pub kind: &'static str,
    pub target: Target,
    /// Lower tiers are applied first and deleted last:
    ///
    /// 0. Namespaces and CustomResourceDefinitions: everything else may
    ///    live in or be an instance of them.
    /// 1. What workloads refer to or need in place: ConfigMaps, Secrets,
    ///    ServiceAccounts, RBAC, PriorityClasses, StorageClasses,
    ///    NetworkPolicies, quotas and limit ranges, volumes and claims,
    ///    admission webhooks.
    /// 2. Everything else (custom resources, microVMs).
    pub tier: u8,
    pub holds: Holds,
    /// Waited for after it is applied; `None`: done when the write is.
    pub ready: Option<Ready>,
    pub secret: SecretRule,
}

impl KindFacts {
    /// Deleting an object of this kind deletes other objects, mooring's or
    /// not, so the deletion guard asks for `--force-prune`.
    pub fn deletes_contents(&self) -> bool {
        self.holds != Holds::Nothing
    }
}

/// A kind mooring knows nothing more of: a Kubernetes object of the last
/// tier, with nothing secret.
const KUBERNETES: KindFacts = KindFacts {
    group: "",
    kind: "",
    target: Target::Kubernetes,
    tier: 2,
    holds: Holds::Nothing,
    ready: None,
    secret: SecretRule::Nothing,
};

const UNHANDLED: KindFacts = KindFacts {
    target: Target::Unhandled,
    ..KUBERNETES
};

/// The group of RBAC's kinds.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The group of admission webhook configurations.
const ADMISSION_GROUP: &str = "admissionregistration.k8s.io";

/// The group of CustomResourceDefinitions.
const CRD_GROUP: &str = "apiextensions.k8s.io";

/// Facts of a built-in Kubernetes kind (its schema comes from
/// [`super::builtin`]), starting from [`KUBERNETES`].
const fn builtin(group: &'static str, kind: &'static str) -> KindFacts {
    KindFacts {
        group,
        kind,
        ..KUBERNETES
    }
}

/// A built-in kind applied before workloads (tier 1), because workloads
/// refer to it or need it in place.
const fn before_workloads(group: &'static str, kind: &'static str) -> KindFacts {
    KindFacts {
        tier: 1,
        ..builtin(group, kind)
    }
}

/// Facts of the kind `T` is, starting from [`KUBERNETES`].
const fn of<T: KindType>() -> KindFacts {
    KindFacts {
        group: T::GROUP,
        kind: T::KIND,
        ..KUBERNETES
    }
}

/// The table: every kind of [`super::all`] (one entry per group and kind,
/// whatever its versions), and the built-ins mooring orders or waits for.
static FACTS: [KindFacts; 29] = [
    KindFacts {
        tier: 0,
        holds: Holds::NamespacedObjects,
        ready: Some(Ready::Active),
        ..builtin("", "Namespace")
    },
    KindFacts {
        tier: 0,
        holds: Holds::Instances,
        ready: Some(Ready::Established),
        ..builtin(CRD_GROUP, "CustomResourceDefinition")
    },
    before_workloads("", "ConfigMap"),
    KindFacts {
        secret: SecretRule::AllBut {
            public: &["apiVersion", "kind", "metadata", "type", "immutable"],
            // `kubectl apply` keeps the whole object, data included, in
            // this annotation.
            within_public: &[
                "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
            ],
        },
        ..before_workloads("", "Secret")
    },
    before_workloads("", "ServiceAccount"),
    // What workloads need in place before they start, as Helm and Argo CD
    // order them: RBAC, scheduling and storage classes, policies and
    // quotas, volumes, admission webhooks.
    before_workloads(RBAC_GROUP, "ClusterRole"),
    before_workloads(RBAC_GROUP, "ClusterRoleBinding"),
    before_workloads(RBAC_GROUP, "Role"),
    before_workloads(RBAC_GROUP, "RoleBinding"),
    before_workloads("scheduling.k8s.io", "PriorityClass"),
    before_workloads("storage.k8s.io", "StorageClass"),
    before_workloads("networking.k8s.io", "NetworkPolicy"),
    before_workloads("", "ResourceQuota"),
    before_workloads("", "LimitRange"),
    before_workloads("", "PersistentVolume"),
    before_workloads("", "PersistentVolumeClaim"),
    before_workloads(ADMISSION_GROUP, "MutatingWebhookConfiguration"),
    before_workloads(ADMISSION_GROUP, "ValidatingWebhookConfiguration"),
    of::<llamastack::LlamaStackDistribution>(),
    of::<wasmcloud::Artifact>(),
    of::<wasmcloud::Host>(),
    of::<wasmcloud::Workload>(),
    of::<wasmcloud::WorkloadDeployment>(),
    of::<wasmcloud::WorkloadReplicaSet>(),
    KindFacts {
        target: Target::Flintlock,
        // The metadata service's values (cloud-init user data, tokens).
        secret: SecretRule::Subtrees(&["/spec/metadata"]),
        ..of::<flintlock::MicroVm>()
    },
    KindFacts {
        target: Target::Translated,
        ..of::<ignite::Vm>()
    },
    KindFacts {
        target: Target::DeclarationOnly,
        ..of::<ignite::Kernel>()
    },
    KindFacts {
        target: Target::DeclarationOnly,
        ..of::<ignite::Image>()
    },
    KindFacts {
        target: Target::DeclarationOnly,
        ..of::<ignite::Pool>()
    },
];

/// The facts of the kind `kind` in API group `group` (empty for the core
/// group), whatever the version: the table's entry, or, for a kind it does
/// not list, a Kubernetes object of the last tier (no target if every
/// listed kind of its group goes elsewhere).
pub fn facts(group: &str, kind: &str) -> &'static KindFacts {
    if let Some(f) = FACTS.iter().find(|f| f.group == group && f.kind == kind) {
        return f;
    }
    let mut same_group = FACTS.iter().filter(|f| f.group == group).peekable();
    if same_group.peek().is_some() && same_group.all(|f| f.target != Target::Kubernetes) {
        &UNHANDLED
    } else {
        &KUBERNETES
    }
}

/// Whether the value at `pointer` of an object of this kind is secret.
pub fn is_secret(group: &str, kind: &str, pointer: &str) -> bool {
    facts(group, kind).secret.covers(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_registered_kind_is_in_the_table_once() {
        for info in super::super::all() {
            let entries = FACTS
                .iter()
                .filter(|f| f.group == info.group && f.kind == info.kind)
                .count();
            assert_eq!(entries, 1, "{}/{}", info.api_version(), info.kind);
        }
        for (i, f) in FACTS.iter().enumerate() {
            assert!(f.tier < TIERS, "{}/{}", f.group, f.kind);
            assert!(
                FACTS[..i]
                    .iter()
                    .all(|g| (g.group, g.kind) != (f.group, f.kind)),
                "{}/{} listed twice",
                f.group,
                f.kind
            );
        }
    }

    #[test]
    fn each_kind_goes_where_it_did() {
        let target = |g: &str, k: &str| facts(g, k).target;
        for kind in ["Namespace", "ConfigMap", "Secret", "ServiceAccount"] {
            assert_eq!(target("", kind), Target::Kubernetes, "{kind}");
        }
        assert_eq!(
            target("runtime.wasmcloud.dev", "Workload"),
            Target::Kubernetes
        );
        assert_eq!(
            target("llamastack.io", "LlamaStackDistribution"),
            Target::Kubernetes
        );
        assert_eq!(
            target("flintlock.liquidmetal.dev", "MicroVM"),
            Target::Flintlock
        );
        assert_eq!(target("ignite.weave.works", "VM"), Target::Translated);
        for kind in ["Kernel", "Image", "Pool"] {
            assert_eq!(
                target("ignite.weave.works", kind),
                Target::DeclarationOnly,
                "{kind}"
            );
        }
        // Kinds mooring does not know: users' own custom resources and
        // built-ins go to Kubernetes, unknown kinds of the Ignite and
        // Flintlock groups nowhere.
        assert_eq!(target("example.com", "Widget"), Target::Kubernetes);
        assert_eq!(target("apps", "Deployment"), Target::Kubernetes);
        assert_eq!(target("", "Pod"), Target::Kubernetes);
        assert_eq!(
            target("apiextensions.k8s.io", "CustomResourceDefinition"),
            Target::Kubernetes
        );
        assert_eq!(target("ignite.weave.works", "Widget"), Target::Unhandled);
        assert_eq!(
            target("flintlock.liquidmetal.dev", "Widget"),
            Target::Unhandled
        );
        // A kind is known by group and kind together.
        assert_eq!(target("example.com", "MicroVM"), Target::Kubernetes);
    }

    #[test]
    fn namespaces_and_crds_come_first_then_config_then_the_rest() {
        let tier = |g: &str, k: &str| facts(g, k).tier;
        assert_eq!(tier("", "Namespace"), 0);
        assert_eq!(tier("apiextensions.k8s.io", "CustomResourceDefinition"), 0);
        assert_eq!(tier("", "ConfigMap"), 1);
        assert_eq!(tier("", "Secret"), 1);
        assert_eq!(tier("", "ServiceAccount"), 1);
        assert_eq!(tier("llamastack.io", "LlamaStackDistribution"), 2);
        assert_eq!(tier("flintlock.liquidmetal.dev", "MicroVM"), 2);
        assert_eq!(tier("apps", "Deployment"), 2);
        // RBAC and the rest of what workloads need go before them.
        for (group, kind) in [
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("scheduling.k8s.io", "PriorityClass"),
            ("storage.k8s.io", "StorageClass"),
            ("networking.k8s.io", "NetworkPolicy"),
            ("", "PersistentVolumeClaim"),
            (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration",
            ),
        ] {
            assert_eq!(tier(group, kind), 1, "{kind}");
        }
        assert_eq!(tier("apps", "StatefulSet"), 2);
        // A kind named Namespace in another group is just a custom resource.
        assert_eq!(tier("example.com", "Namespace"), 2);
    }

    #[test]
    fn only_namespaces_and_crds_take_contents_along_and_are_waited_for() {
        let ns = facts("", "Namespace");
        assert_eq!(ns.holds, Holds::NamespacedObjects);
        assert_eq!(ns.ready, Some(Ready::Active));
        let crd = facts("apiextensions.k8s.io", "CustomResourceDefinition");
        assert_eq!(crd.holds, Holds::Instances);
        assert_eq!(crd.ready.map(Ready::name), Some("Established"));
        for f in FACTS.iter().filter(|f| f.tier != 0) {
            assert!(!f.deletes_contents(), "{}/{}", f.group, f.kind);
            assert_eq!(f.ready, None, "{}/{}", f.group, f.kind);
        }
        assert!(!facts("example.com", "Namespace").deletes_contents());
    }

    #[test]
    fn secret_pointers() {
        assert!(is_secret("", "Secret", "/data/token"));
        assert!(is_secret("", "Secret", "/stringdata"));
        assert!(!is_secret("", "Secret", "/metadata/name"));
        assert!(!is_secret("", "Secret", "/type"));
        assert!(!is_secret("", "Secret", ""));
        assert!(is_secret(
            "",
            "Secret",
            "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"
        ));
        assert!(!is_secret("", "ConfigMap", "/data/x"));
        assert!(!is_secret("example.com", "Secret", "/data/x"));
        assert!(is_secret(
            "flintlock.liquidmetal.dev",
            "MicroVM",
            "/spec/metadata/user-data"
        ));
        assert!(!is_secret(
            "flintlock.liquidmetal.dev",
            "MicroVM",
            "/spec/metadataX"
        ));
        assert!(!is_secret("ignite.weave.works", "VM", "/spec/ssh"));
    }

    #[test]
    fn a_secrets_roots_are_its_private_fields_on_either_side() {
        let rule = facts("", "Secret").secret;
        let old = json!({"kind": "Secret", "data": {"a": "b"}, "type": "Opaque"});
        let new = json!({"kind": "Secret", "stringData": {}, "a/b": 1, "data": {}});
        let mut roots = rule.roots(&[&old, &new]);
        roots.sort();
        assert_eq!(
            roots,
            vec![
                "/a~1b",
                "/data",
                "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
                "/stringData",
            ]
        );
        assert_eq!(
            facts("flintlock.liquidmetal.dev", "MicroVM")
                .secret
                .roots(&[&old]),
            vec!["/spec/metadata"]
        );
        assert!(facts("", "ConfigMap").secret.roots(&[&old]).is_empty());
    }
}
