//! One flintlockd host: a lazily connected gRPC channel (plain, TLS or
//! mTLS), the token interceptor, a semaphore bounding calls in flight, a
//! timeout on every call and retries with exponential backoff.
//!
//! Only reads and deletes are retried on `UNAVAILABLE` or a broken
//! connection (deleting twice is
//! harmless; a delete of a uid that is gone counts as done). A create is
//! not idempotent (flintlockd makes a second microVM with the same name),
//! so after an `UNAVAILABLE` create the host is listed by namespace and
//! name first, and the create is sent again only if the microVM does not
//! exist.
//!
//! The token is read once, sent as `authorization: basic <base64>` and
//! marked sensitive; it never appears in a log or an error.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::sync::Semaphore;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request, Status};

use super::FlintlockHost;
use super::proto::api::micro_vm_client::MicroVmClient;
use super::proto::{MicroVm, MicroVmSpec, MicroVmState, api};
use crate::backend::requests::{self, RequestOutcome};
use crate::backend::{BackendError, Cause};

const BACKEND: &str = "flintlock";

pub use crate::backend::retry::Retry;

/// Retries on `UNAVAILABLE`: 5 tries from 200 ms, at most 5 s apart.
pub const DEFAULT_RETRY: Retry = Retry {
    attempts: 5,
    base: Duration::from_millis(200),
    max: Duration::from_secs(5),
};

/// Adds the token to every call.
#[derive(Clone)]
struct Auth {
    header: Option<MetadataValue<Ascii>>,
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(h) = &self.header {
            request.metadata_mut().insert("authorization", h.clone());
        }
        Ok(request)
    }
}

type Client = MicroVmClient<InterceptedService<Channel, Auth>>;

/// A configured flintlockd.
pub struct Host {
    pub name: String,
    /// As configured, for messages.
    pub endpoint: String,
    client: Client,
    permits: Arc<Semaphore>,
    timeout: Duration,
    pub retry: Retry,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn read_file(host: &str, field: &str, path: &Path) -> Result<Vec<u8>, BackendError> {
    crate::file::read(path).map_err(|e| BackendError::Invalid {
        backend: BACKEND,
        object: format!("targets.flintlock `{host}`"),
        message: format!("{field} {}: cannot be read: {e}", path.display()),
    })
}

impl Host {
    /// Reads the host's token and TLS files and prepares a channel that
    /// connects on first use. Must be called inside a tokio runtime.
    pub fn new(
        config: &FlintlockHost,
        permits: usize,
        timeout: Duration,
    ) -> Result<Host, BackendError> {
        let invalid = |message: String| BackendError::Invalid {
            backend: BACKEND,
            object: format!("targets.flintlock `{}`", config.name),
            message,
        };
        let mut endpoint = Endpoint::from_shared(config.endpoint.clone())
            .map_err(|e| invalid(format!("endpoint `{}`: {e}", config.endpoint)))?
            .connect_timeout(timeout)
            .timeout(timeout)
            .tcp_nodelay(true);
        let https = config.endpoint.starts_with("https://");
        match (&config.tls, https) {
            (Some(tls), true) => {
                let mut tls_config = ClientTlsConfig::new();
                match &tls.ca {
                    Some(ca) => {
                        let pem = read_file(&config.name, "tls.ca", ca)?;
                        tls_config = tls_config.ca_certificate(Certificate::from_pem(pem));
                    }
                    None => tls_config = tls_config.with_native_roots(),
                }
                match (&tls.cert, &tls.key) {
                    (Some(cert), Some(key)) => {
                        let cert = read_file(&config.name, "tls.cert", cert)?;
                        let key = read_file(&config.name, "tls.key", key)?;
                        tls_config = tls_config.identity(Identity::from_pem(cert, key));
                    }
                    (None, None) => {}
                    _ => {
                        return Err(invalid(
                            "tls.cert and tls.key go together (a client certificate needs its key)"
                                .into(),
                        ));
                    }
                }
                endpoint = endpoint
                    .tls_config(tls_config)
                    .map_err(|e| invalid(format!("tls: {e}")))?;
            }
            (None, true) => {
                endpoint = endpoint
                    .tls_config(ClientTlsConfig::new().with_native_roots())
                    .map_err(|e| invalid(format!("tls: {e}")))?;
            }
            (Some(_), false) => {
                return Err(invalid(format!(
                    "tls is configured but the endpoint `{}` is plain http; use https://",
                    config.endpoint
                )));
            }
            (None, false) => {}
        }
        let header = match &config.token_file {
            None => None,
            Some(path) => {
                let bytes = read_file(&config.name, "tokenFile", path)?;
                let token = String::from_utf8(bytes).map_err(|_| {
                    invalid(format!("tokenFile {}: is not UTF-8 text", path.display()))
                })?;
                let token = token.trim();
                if token.is_empty() {
                    return Err(invalid(format!("tokenFile {}: is empty", path.display())));
                }
                let mut value: MetadataValue<Ascii> = format!("basic {}", BASE64.encode(token))
                    .parse()
                    .map_err(|_| {
                        invalid(format!(
                            "tokenFile {}: cannot be sent as a header",
                            path.display()
                        ))
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let channel = endpoint.connect_lazy();
        Ok(Host {
            name: config.name.clone(),
            endpoint: config.endpoint.clone(),
            client: MicroVmClient::with_interceptor(channel, Auth { header }),
            permits: Arc::new(Semaphore::new(permits.max(1))),
            timeout,
            retry: DEFAULT_RETRY,
        })
    }

    /// One call: a permit, the timeout, no retry; reported to
    /// [`requests`] as `operation`.
    async fn once<T, F, Fut>(&self, operation: &'static str, call: F) -> Result<T, Status>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Status::cancelled("the backend is shutting down"))?;
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(self.timeout, call(self.client.clone())).await {
            Ok(result) => result.map(tonic::Response::into_inner),
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        };
        let outcome = match &result {
            Ok(_) => RequestOutcome::Ok,
            Err(s) if is_not_found(s) => RequestOutcome::NotFound,
            Err(s) if is_transient(s) || s.code() == Code::DeadlineExceeded => {
                RequestOutcome::Unreachable
            }
            Err(_) => RequestOutcome::Error,
        };
        requests::record(BACKEND, operation, outcome, started.elapsed());
        result
    }

    /// A call that is safe to repeat, retried on `UNAVAILABLE`.
    async fn retried<T, F, Fut>(&self, operation: &'static str, mut call: F) -> Result<T, Status>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let mut attempt = 0;
        loop {
            match self.once(operation, &mut call).await {
                Err(s) if is_transient(&s) && attempt + 1 < self.retry.attempts => {
                    tracing::debug!(host = %self.name, attempt, "flintlockd unavailable, retrying");
                    tokio::time::sleep(self.retry.delay(attempt)).await;
                    attempt += 1;
                }
                Err(s) if is_transient(&s) => {
                    let message =
                        format!("{} (after {} attempts)", describe(&s), self.retry.attempts);
                    return Err(Status::unavailable(message));
                }
                other => return other,
            }
        }
    }

    /// `ListMicroVMs`; an empty namespace lists every namespace (flintlockd
    /// since listing became a query).
    pub async fn list(&self, namespace: &str, name: Option<&str>) -> Result<Vec<MicroVm>, Status> {
        let request = api::ListMicroVMsRequest {
            namespace: namespace.to_string(),
            name: name.map(str::to_string),
        };
        self.retried("list", |mut c| {
            let request = request.clone();
            async move { c.list_micro_v_ms(request).await }
        })
        .await
        .map(|r| r.microvm)
    }

    /// `GetMicroVM`; `None` when the uid is unknown.
    pub async fn get(&self, uid: &str) -> Result<Option<MicroVm>, Status> {
        let request = api::GetMicroVmRequest {
            uid: uid.to_string(),
        };
        match self
            .retried("get", |mut c| {
                let request = request.clone();
                async move { c.get_micro_vm(request).await }
            })
            .await
        {
            Ok(r) => Ok(r.microvm),
            Err(s) if is_not_found(&s) => Ok(None),
            Err(s) => Err(s),
        }
    }

    /// `DeleteMicroVM`; `false` when the uid was already gone.
    pub async fn delete(&self, uid: &str) -> Result<bool, Status> {
        let request = api::DeleteMicroVmRequest {
            uid: uid.to_string(),
        };
        match self
            .retried("delete", |mut c| {
                let request = request.clone();
                async move { c.delete_micro_vm(request).await }
            })
            .await
        {
            Ok(()) => Ok(true),
            Err(s) if is_not_found(&s) => Ok(false),
            Err(s) => Err(s),
        }
    }

    /// `CreateMicroVM`, never sent twice for a microVM that exists.
    pub async fn create(&self, spec: &MicroVmSpec) -> Result<MicroVm, Status> {
        let request = api::CreateMicroVmRequest {
            microvm: Some(spec.clone()),
            metadata: Default::default(),
        };
        let mut attempt = 0;
        loop {
            let sent = request.clone();
            match self
                .once(
                    "create",
                    |mut c| async move { c.create_micro_vm(sent).await },
                )
                .await
            {
                Ok(r) => {
                    return r
                        .microvm
                        .ok_or_else(|| Status::internal("the create answer holds no microVM"));
                }
                Err(s) if is_transient(&s) && attempt + 1 < self.retry.attempts => {
                    tokio::time::sleep(self.retry.delay(attempt)).await;
                    attempt += 1;
                    // The lost request may have been carried out.
                    let found = self.list(&spec.namespace, Some(&spec.id)).await?;
                    // Only a microVM carrying the record this request sent
                    // is ours; a namesake made by someone else is not.
                    let record = spec.metadata.get(super::convert::RECORD_KEY);
                    if let Some(vm) = found.into_iter().find(|vm| {
                        state(vm) != MicroVmState::Deleting
                            && record.is_some()
                            && vm
                                .spec
                                .as_ref()
                                .and_then(|s| s.metadata.get(super::convert::RECORD_KEY))
                                == record
                    }) {
                        return Ok(vm);
                    }
                }
                Err(s) if is_transient(&s) => {
                    let message =
                        format!("{} (after {} attempts)", describe(&s), self.retry.attempts);
                    return Err(Status::unavailable(message));
                }
                Err(s) => return Err(s),
            }
        }
    }

    /// `Host (endpoint)`, as errors name it.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.endpoint)
    }

    /// The error a failed call becomes. `object` is the object the call
    /// was about. The status is kept as the error's source
    /// ([`GrpcError`]), and its text ends the message.
    pub fn error(&self, status: &Status, object: &str) -> BackendError {
        let message = describe(status);
        let source = || -> Option<Cause> { Some(Box::new(GrpcError(status.clone()))) };
        if certificate_refused(status) {
            return BackendError::Unauthorized {
                backend: BACKEND,
                endpoint: self.label(),
                message: format!("the client certificate was refused: {message}"),
                source: source(),
            };
        }
        if is_transient(status) {
            return BackendError::Unreachable {
                backend: BACKEND,
                endpoint: self.label(),
                message,
                source: source(),
            };
        }
        match status.code() {
            Code::Unauthenticated | Code::PermissionDenied => BackendError::Unauthorized {
                backend: BACKEND,
                endpoint: self.label(),
                message,
                source: source(),
            },
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                BackendError::Unreachable {
                    backend: BACKEND,
                    endpoint: self.label(),
                    message,
                    source: source(),
                }
            }
            Code::InvalidArgument => BackendError::Invalid {
                backend: BACKEND,
                object: object.to_string(),
                message: format!("{} refused it: {message}", self.name),
            },
            code => BackendError::Refused {
                backend: BACKEND,
                object: object.to_string(),
                message: format!("{}: {code:?}: {message}", self.label()),
                source: source(),
            },
        }
    }
}

/// A failed gRPC call, kept whole as the source of a [`BackendError`].
/// Shown as [`describe`] says it: the status's message and the transport
/// error behind it (tonic's own `Display` adds the code's description and
/// a `Debug` of that error).
#[derive(Debug)]
pub struct GrpcError(pub Status);

impl std::fmt::Display for GrpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(&self.0))
    }
}

/// No `source()`: [`describe`] already says the causes behind the status.
impl std::error::Error for GrpcError {}

/// The state a microVM reports (`PENDING` when unknown).
pub fn state(vm: &MicroVm) -> MicroVmState {
    vm.status
        .as_ref()
        .and_then(|s| MicroVmState::try_from(s.state).ok())
        .unwrap_or(MicroVmState::Pending)
}

/// A connection that breaks after the handshake reaches the caller as
/// `Unknown` with the transport error behind it.
fn is_transport_error(status: &Status) -> bool {
    status.code() == Code::Unknown && describe(status).contains("transport error")
}

/// The server ended the TLS session over the client certificate.
fn certificate_refused(status: &Status) -> bool {
    let text = describe(status);
    is_transport_error(status) && text.contains("fatal alert") && text.contains("Certificate")
}

/// Worth another try: the server was unavailable or the connection broke
/// (but not over credentials).
fn is_transient(status: &Status) -> bool {
    status.code() == Code::Unavailable
        || (is_transport_error(status) && !certificate_refused(status))
}

/// flintlockd answers an unknown uid with `NotFound`, or (upstream today)
/// with `Unknown` and "… not found".
fn is_not_found(status: &Status) -> bool {
    status.code() == Code::NotFound
        || (status.code() == Code::Unknown && status.message().contains("not found"))
}

/// A status's message with its causes (the transport error behind an
/// `UNAVAILABLE`, e.g. "connection refused").
fn describe(status: &Status) -> String {
    let mut out = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        source = e.source();
    }
    if out.is_empty() {
        out = format!("{:?}", status.code());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_read_from_either_code() {
        assert!(is_not_found(&Status::not_found("x")));
        assert!(is_not_found(&Status::unknown(
            "getting microvm: microvm spec 01X not found"
        )));
        assert!(!is_not_found(&Status::unknown("disk full")));
    }

    #[test]
    fn broken_connections_are_transient_but_refused_certificates_are_not() {
        assert!(is_transient(&Status::unavailable("down")));
        assert!(is_transient(&Status::unknown(
            "transport error: connection error: stream closed because of a broken pipe"
        )));
        let refused = Status::unknown(
            "transport error: connection error: received fatal alert: CertificateRequired",
        );
        assert!(certificate_refused(&refused));
        assert!(!is_transient(&refused));
        assert!(!is_transient(&Status::unknown("microvm spec x not found")));
    }

    #[tokio::test]
    async fn a_status_is_kept_as_the_source_and_said_once() {
        let host = Host::new(
            &FlintlockHost {
                name: "edge-1".into(),
                endpoint: "http://127.0.0.1:9".into(),
                tls: None,
                token_file: None,
            },
            1,
            Duration::from_secs(1),
        )
        .unwrap();
        let err = host.error(
            &Status::unauthenticated("bad token"),
            "vm.yaml:1: MicroVM/default/web",
        );
        assert!(matches!(err, BackendError::Unauthorized { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "flintlock: edge-1 (http://127.0.0.1:9) refused the credentials: bad token"
        );
        let kept = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<GrpcError>())
            .map(|g| g.0.code());
        assert_eq!(kept, Some(Code::Unauthenticated));
        assert_eq!(crate::error::with_causes(&err), err.to_string());

        let err = host.error(
            &Status::internal("disk full"),
            "vm.yaml:1: MicroVM/default/web",
        );
        assert!(matches!(err, BackendError::Refused { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "flintlock: vm.yaml:1: MicroVM/default/web: edge-1 (http://127.0.0.1:9): Internal: disk full"
        );
    }
}
