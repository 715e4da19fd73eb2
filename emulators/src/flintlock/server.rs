//! The gRPC side: the `MicroVM` service over the state, the token check,
//! and connections that break when the emulator stops.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::{Stream, StreamExt};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

use super::api::micro_vm_server::{MicroVm as MicroVmService, MicroVmServer};
use super::state::{Phase, State, echo, lock, now_timestamp};
use super::validate::validate;
use super::{FlintlockOptions, MicroVm, api};

#[derive(Clone)]
struct Service {
    state: Arc<Mutex<State>>,
}

impl Service {
    /// Counts the call, waits the injected latency and answers an injected
    /// UNAVAILABLE; then applies due transitions.
    async fn enter(&self, rpc: &str) -> Result<(), Status> {
        let latency = {
            let mut s = lock(&self.state);
            *s.calls.entry(rpc.to_string()).or_default() += 1;
            s.latency
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut s = lock(&self.state);
        if s.unavailable > 0 {
            s.unavailable -= 1;
            return Err(Status::unavailable("flintlockd is unavailable (injected)"));
        }
        s.advance();
        Ok(())
    }

    fn list(&self, req: &api::ListMicroVMsRequest) -> Vec<MicroVm> {
        let s = lock(&self.state);
        let name = req.name.as_deref().filter(|n| !n.is_empty());
        s.vms
            .values()
            .filter(|vm| req.namespace.is_empty() || vm.spec.namespace == req.namespace)
            .filter(|vm| name.is_none_or(|n| vm.spec.id == n))
            .map(echo)
            .collect()
    }
}

fn not_found(uid: &str) -> Status {
    Status::not_found(format!("microvm spec {uid} not found"))
}

type ListStream = Pin<Box<dyn Stream<Item = Result<api::ListMessage, Status>> + Send>>;

#[tonic::async_trait]
impl MicroVmService for Service {
    async fn create_micro_vm(
        &self,
        request: Request<api::CreateMicroVmRequest>,
    ) -> Result<Response<api::CreateMicroVmResponse>, Status> {
        self.enter("CreateMicroVM").await?;
        let Some(spec) = request.into_inner().microvm else {
            return Err(Status::invalid_argument(
                "invalid create microvm request: MicroVMSpec required",
            ));
        };
        let problems = validate(&spec);
        if !problems.is_empty() {
            return Err(Status::invalid_argument(format!(
                "an error occurred when attempting to validate microvm spec: {}",
                problems.join("; ")
            )));
        }
        let mut s = lock(&self.state);
        let uid = s.store(spec, Phase::Pending);
        if s.lost_creates > 0 {
            s.lost_creates -= 1;
            return Err(Status::unavailable(
                "the connection broke before the answer (injected; the microVM was created)",
            ));
        }
        let vm = echo(&s.vms[&uid]);
        Ok(Response::new(api::CreateMicroVmResponse {
            microvm: Some(vm),
        }))
    }

    async fn delete_micro_vm(
        &self,
        request: Request<api::DeleteMicroVmRequest>,
    ) -> Result<Response<()>, Status> {
        self.enter("DeleteMicroVM").await?;
        let uid = request.into_inner().uid;
        if uid.is_empty() {
            return Err(Status::invalid_argument("invalid request"));
        }
        let mut s = lock(&self.state);
        let vm = s.vms.get_mut(&uid).ok_or_else(|| not_found(&uid))?;
        vm.phase = Phase::Deleting;
        vm.retry = 0;
        vm.since = Instant::now();
        vm.version += 1;
        vm.spec.deleted_at = Some(now_timestamp());
        Ok(Response::new(()))
    }

    async fn get_micro_vm(
        &self,
        request: Request<api::GetMicroVmRequest>,
    ) -> Result<Response<api::GetMicroVmResponse>, Status> {
        self.enter("GetMicroVM").await?;
        let uid = request.into_inner().uid;
        if uid.is_empty() {
            return Err(Status::invalid_argument("invalid request"));
        }
        let s = lock(&self.state);
        let vm = s.vms.get(&uid).ok_or_else(|| not_found(&uid))?;
        Ok(Response::new(api::GetMicroVmResponse {
            microvm: Some(echo(vm)),
        }))
    }

    async fn list_micro_v_ms(
        &self,
        request: Request<api::ListMicroVMsRequest>,
    ) -> Result<Response<api::ListMicroVMsResponse>, Status> {
        self.enter("ListMicroVMs").await?;
        let req = request.into_inner();
        if req.namespace.is_empty() && lock(&self.state).options.namespace_required {
            return Err(Status::invalid_argument("invalid request"));
        }
        Ok(Response::new(api::ListMicroVMsResponse {
            microvm: self.list(&req),
        }))
    }

    type ListMicroVMsStreamStream = ListStream;

    async fn list_micro_v_ms_stream(
        &self,
        request: Request<api::ListMicroVMsRequest>,
    ) -> Result<Response<ListStream>, Status> {
        self.enter("ListMicroVMsStream").await?;
        let mut req = request.into_inner();
        if req.namespace.is_empty() {
            return Err(Status::invalid_argument("invalid request"));
        }
        // Upstream's stream ignores the name filter.
        req.name = None;
        let items: Vec<Result<api::ListMessage, Status>> = self
            .list(&req)
            .into_iter()
            .map(|vm| Ok(api::ListMessage { microvm: Some(vm) }))
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }
}

/// Checks `authorization: basic <base64 token>` when a token is set.
#[derive(Clone)]
struct Auth {
    expected: Option<String>,
}

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Ok(request);
        };
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let Some(given) = given else {
            return Err(Status::unauthenticated(
                "no authorization token was supplied",
            ));
        };
        let token = given
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .map(|(_, t)| t.trim());
        if token != Some(expected.as_str()) {
            return Err(Status::unauthenticated(
                "the authorization token is not valid",
            ));
        }
        Ok(request)
    }
}

/// An accepted connection that breaks as soon as the emulator stops, so
/// that a stopped emulator is down for clients already connected too
/// (tonic serves each connection on a task of its own).
struct Conn {
    io: TcpStream,
    stopped: Pin<Box<dyn Future<Output = ()> + Send>>,
    dead: bool,
}

impl Conn {
    fn new(io: TcpStream, mut stop: watch::Receiver<bool>) -> Conn {
        Conn {
            io,
            // Resolves when the emulator says stop or is dropped.
            stopped: Box::pin(async move {
                let _ = stop.wait_for(|s| *s).await;
            }),
            dead: false,
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> std::io::Result<()> {
        if !self.dead && self.stopped.as_mut().poll(cx).is_ready() {
            self.dead = true;
        }
        if self.dead {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the emulator stopped",
            ));
        }
        Ok(())
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.io.connect_info()
    }
}

/// Serves the `MicroVM` service on `listener` until the returned sender is
/// dropped; then the listener closes and open connections break.
pub(super) fn serve(
    listener: TcpListener,
    state: Arc<Mutex<State>>,
    options: &FlintlockOptions,
) -> std::io::Result<(watch::Sender<bool>, JoinHandle<()>)> {
    let auth = Auth {
        expected: options.token.as_ref().map(|t| BASE64.encode(t)),
    };
    let service = InterceptedService::new(MicroVmServer::new(Service { state }), auth);
    let mut builder = Server::builder();
    if let Some(tls) = &options.tls {
        let mut config =
            ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem));
        if let Some(ca) = &tls.client_ca_pem {
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        builder = builder
            .tls_config(config)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    let (stop, stopped) = watch::channel(false);
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener)
        .map(move |io| io.map(|io| Conn::new(io, stopped.clone())));
    let router = builder.add_service(service);
    let task = tokio::spawn(async move {
        let _ = router.serve_with_incoming(incoming).await;
    });
    Ok((stop, task))
}
