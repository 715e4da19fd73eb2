// Command mooring-testenv runs a real Kubernetes control plane for mooring's
// tests, on 127.0.0.1 only: etcd (embedded), kube-apiserver (in process) and
// kube-controller-manager (a child process of this binary, with only the
// namespace, garbage-collector and service-account controllers, so that a
// deleted Namespace really goes through Terminating and is removed, owner
// references cascade, and every Namespace gets its `default` ServiceAccount).
//
//	mooring-testenv serve -dir DIR [-owner-pid PID]   # runs until SIGTERM or SIGINT (or PID's exit)
//	mooring-testenv version
//
// `serve` generates into DIR/pki a CA, the API server's serving certificate
// (127.0.0.1 and localhost), the service-account signing key and a static
// bearer token whose user is in system:masters; keeps etcd's data in
// DIR/etcd; and, once /readyz answers and the default ServiceAccount exists,
// writes DIR/kubeconfig (one context, the generated CA, the token). The
// kubeconfig appearing is the signal that the control plane is ready.
// DIR/etcd-endpoint holds etcd's client URL (plain HTTP on 127.0.0.1), so a
// test can compact etcd's history through its JSON gateway
// (`POST /v3/kv/compaction`).
//
// ConfigMaps are served without the API server's watch cache
// (`--watch-cache-sizes=configmaps#0`): their watches read etcd directly, so
// a watch resumed from a resourceVersion that etcd has compacted away gets
// the 410 Gone a long-disconnected client gets from a real cluster, which
// the cache would otherwise hide for as long as it keeps the old events.
// Every other resource keeps the watch cache, as in a cluster.
// scripts/kube-apiserver is the usual way to run this.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

// KubernetesVersion is the release this module pins (go.mod); printed by
// `version` so scripts can check the binary they run.
const KubernetesVersion = "v1.37.2"

const (
	readyTimeout = 180 * time.Second
	tokenUser    = "mooring-admin"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "controller-manager":
		// Internal: run by `serve` as its child process, because the
		// controller manager and the API server register the same
		// process-wide flags, feature gates and signal handler.
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(os.Args[2:])
		err = cmd.Execute()
	case "version":
		fmt.Println(KubernetesVersion)
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "mooring-testenv: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mooring-testenv: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, `mooring-testenv: etcd + kube-apiserver %s (+ namespace, garbage-collector and
service-account controllers) on 127.0.0.1, for mooring's tests.

usage:
  mooring-testenv serve -dir DIR [-owner-pid PID]
                                   run until SIGTERM (or until PID exits, then
                                   remove DIR); DIR/kubeconfig appears when ready
  mooring-testenv version          print the Kubernetes version built in

Usually run through scripts/kube-apiserver up DIR.
`, KubernetesVersion)
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dir := fs.String("dir", "", "folder for certificates, etcd data, logs and the kubeconfig (created if missing)")
	owner := fs.Int("owner-pid", 0, "stop, and remove -dir, when the process with this pid has exited (a test binary that started this control plane for itself)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("serve: -dir DIR is required")
	}
	root, err := filepath.Abs(*dir)
	if err != nil {
		return fmt.Errorf("serve: -dir %s: %w", *dir, err)
	}
	if *owner > 0 {
		defer os.RemoveAll(root) // after etcd is closed (defers run last first)
	}
	pki := filepath.Join(root, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return fmt.Errorf("serve: creating %s: %w", pki, err)
	}
	creds, err := writeCredentials(pki)
	if err != nil {
		return err
	}

	etcdPort, err := freePort()
	if err != nil {
		return err
	}
	peerPort, err := freePort()
	if err != nil {
		return err
	}
	apiPort, err := freePort()
	if err != nil {
		return err
	}

	etcd, err := startEtcd(filepath.Join(root, "etcd"), etcdPort, peerPort)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	if err := writeAtomically(filepath.Join(root, "etcd-endpoint"), []byte(etcdURL+"\n")); err != nil {
		return err
	}
	defer func() {
		// A graceful close waits for every client stream, and the API
		// server does not close all of its etcd watches: bound the wait.
		// The data is a test store (and written without fsync anyway).
		closed := make(chan struct{})
		go func() { etcd.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(3 * time.Second):
		}
	}()

	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	cmd := apiserver.NewAPIServerCommand() // installs the SIGTERM/SIGINT handler
	ctx := cmd.Context()
	cmd.SetArgs([]string{
		"--etcd-servers=" + etcdURL,
		// See the package doc: a compaction must reach ConfigMap watches.
		"--watch-cache-sizes=configmaps#0",
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + pki,
		"--tls-cert-file=" + filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(pki, "apiserver.key"),
		"--token-auth-file=" + filepath.Join(pki, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		// No kubelets and a loopback address: nothing would serve the
		// `kubernetes` Service's endpoints (as in upstream's test server).
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
	})
	apiDone := make(chan error, 1)
	go func() { apiDone <- cmd.Execute() }()
	if *owner > 0 {
		go stopWithOwner(*owner)
	}

	kubeconfig := kubeconfigYAML(server, creds.caPEM, creds.token)
	var (
		managerMu sync.Mutex
		manager   *exec.Cmd
	)
	stopManager := func() {
		managerMu.Lock()
		defer managerMu.Unlock()
		if manager != nil && manager.Process != nil {
			_ = manager.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = manager.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = manager.Process.Kill()
			}
			manager = nil
		}
	}
	defer stopManager()

	ready := make(chan error, 1)
	go func() {
		client := httpClient(creds.caPEM)
		if err := waitFor(ctx, client, server+"/readyz", creds.token); err != nil {
			ready <- err
			return
		}
		internal := filepath.Join(pki, "admin.kubeconfig")
		if err := os.WriteFile(internal, kubeconfig, 0o600); err != nil {
			ready <- fmt.Errorf("writing %s: %w", internal, err)
			return
		}
		managerMu.Lock()
		manager, err = startControllerManager(root, internal)
		managerMu.Unlock()
		if err != nil {
			ready <- err
			return
		}
		// The service-account controller has run once this exists: Pods
		// can be admitted (the ServiceAccount admission plugin is on).
		if err := waitFor(ctx, client, server+"/api/v1/namespaces/default/serviceaccounts/default", creds.token); err != nil {
			ready <- err
			return
		}
		ready <- writeAtomically(filepath.Join(root, "kubeconfig"), kubeconfig)
	}()

	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("serve: control plane did not become ready (see %s): %w", root, err)
		}
		fmt.Fprintf(os.Stderr, "mooring-testenv: ready at %s (Kubernetes %s); kubeconfig %s\n",
			server, KubernetesVersion, filepath.Join(root, "kubeconfig"))
	case err := <-apiDone:
		return fmt.Errorf("serve: kube-apiserver stopped before it was ready: %v", err)
	case <-ctx.Done():
	}
	select {
	case err := <-apiDone:
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("serve: kube-apiserver: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	// SIGTERM or SIGINT: the controller manager first (it watches the API
	// server, and the API server waits for its clients' requests), then the
	// API server, within a bound.
	stopManager()
	select {
	case <-apiDone:
	case <-time.After(15 * time.Second):
		fmt.Fprintln(os.Stderr, "mooring-testenv: kube-apiserver had not stopped 15s after the signal; exiting anyway")
	}
	return nil
}

// stopWithOwner sends this process SIGTERM (the API server's own shutdown
// path) once `pid` no longer exists.
func stopWithOwner(pid int) {
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func startEtcd(dataDir string, clientPort, peerPort int) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "mooring-testenv"
	cfg.Dir = dataDir
	client := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(clientPort)}
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(peerPort)}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	// A test store: losing it on a power cut is fine, and fsync is most of
	// etcd's write latency.
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting etcd in %s: %w", dataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcd in %s was not ready after 60s", dataDir)
	}
}

func startControllerManager(root, kubeconfig string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary to start the controller manager: %w", err)
	}
	logPath := filepath.Join(root, "kube-controller-manager.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", logPath, err)
	}
	cmd := exec.Command(self, "controller-manager",
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller",
		"--leader-elect=false",
		"--secure-port=0",
	)
	cmd.Stdout = log
	cmd.Stderr = log
	// Dies with this process, even on SIGKILL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting the controller manager: %w", err)
	}
	return cmd, nil
}

func waitFor(ctx context.Context, client *http.Client, target, token string) error {
	deadline := time.Now().Add(readyTimeout)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("GET %s not 200 after %s (last: %s)", target, readyTimeout, last)
}

func httpClient(caPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		},
	}
}

type credentials struct {
	caPEM []byte
	token string
}

// writeCredentials creates, once per DIR, the CA, the serving certificate,
// the service-account key pair and the token file; a restart in the same
// DIR reuses them.
func writeCredentials(pki string) (credentials, error) {
	caPath := filepath.Join(pki, "ca.crt")
	tokenPath := filepath.Join(pki, "token")
	if caPEM, err := os.ReadFile(caPath); err == nil {
		token, err := os.ReadFile(tokenPath)
		if err != nil {
			return credentials{}, fmt.Errorf("%s exists but %s cannot be read (remove %s to start afresh): %w", caPath, tokenPath, pki, err)
		}
		return credentials{caPEM: caPEM, token: string(token)}, nil
	}

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return credentials{}, err
	}
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mooring-testenv-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return credentials{}, fmt.Errorf("creating the CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return credentials{}, err
	}

	serveKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return credentials{}, err
	}
	serveTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
	}
	serveDER, err := x509.CreateCertificate(rand.Reader, serveTemplate, caCert, &serveKey.PublicKey, caKey)
	if err != nil {
		return credentials{}, fmt.Errorf("creating the serving certificate: %w", err)
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return credentials{}, err
	}

	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return credentials{}, err
	}
	token := hex.EncodeToString(secret)

	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	serveKeyPEM, err := ecKeyPEM(serveKey)
	if err != nil {
		return credentials{}, err
	}
	saKeyPEM, err := ecKeyPEM(saKey)
	if err != nil {
		return credentials{}, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return credentials{}, err
	}
	files := []struct {
		name string
		data []byte
	}{
		{"apiserver.crt", append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serveDER}), caPEM...)},
		{"apiserver.key", serveKeyPEM},
		{"sa.key", saKeyPEM},
		{"sa.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER})},
		// token,user,uid,"group1,group2"
		{"tokens.csv", []byte(fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", token, tokenUser, tokenUser))},
		{"token", []byte(token)},
		{"ca.crt", caPEM}, // last: its presence means the rest is there
	}
	for _, f := range files {
		if err := writeAtomically(filepath.Join(pki, f.name), f.data); err != nil {
			return credentials{}, err
		}
	}
	return credentials{caPEM: caPEM, token: token}, nil
}

func ecKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func kubeconfigYAML(server string, caPEM []byte, token string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: mooring-testenv
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: mooring-testenv
  context:
    cluster: mooring-testenv
    user: %s
current-context: mooring-testenv
`, server, base64.StdEncoding.EncodeToString(caPEM), tokenUser, token, tokenUser))
}

func writeAtomically(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	return nil
}

// freePort asks the kernel for a free loopback port. It is closed again
// before etcd or the API server binds it, so another process could take it
// in between; on loopback in a test run that is rare, and `up` fails loudly.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
