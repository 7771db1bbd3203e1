package cluster_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
)

// envNode, when set, makes the test binary an app instance instead of a test
// run: its value is the instance's nodeSpec as JSON.
const envNode = "FM_CLUSTER_NODE"

// listenPrefix starts the stdout line in which an instance tells its address.
const listenPrefix = "FM_CLUSTER_LISTENING "

// The first admin, created by the first instance of each pair.
const (
	adminEmail = "admin@example.com"
	adminPass  = "correct horse battery"
)

// Ticket is named by a gapless series: its counter advances inside the
// create's transaction, whose row lock others wait for.
type Ticket struct {
	doctype.Base
	Title string `json:"title"`
}

var ticketMeta = doctype.Meta{
	Name:        "Ticket",
	Naming:      "TK-.#####",
	Permissions: []doctype.Rule{{Role: "Writer", Actions: doctype.All}},
}

// FastTicket is named by a series with gaps allowed: its counter advances in
// a statement of its own, before the create's transaction.
type FastTicket struct {
	doctype.Base
	Title string `json:"title"`
}

var fastTicketMeta = doctype.Meta{
	Name:        "Fast Ticket",
	Naming:      "FT-.#####",
	SeriesGaps:  true,
	Permissions: []doctype.Rule{{Role: "Writer", Actions: doctype.All}},
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(envNode); spec != "" {
		os.Exit(runNode(spec))
	}
	code := m.Run()
	stopSharedCluster()
	os.Exit(code)
}

// nodeSpec is what an instance is started with.
type nodeSpec struct {
	Name string
	DSN  string
	// RedisURL, when set, puts sessions and rate limits (and so the login
	// throttle) in that Redis; else sessions are in the database and limits
	// in memory.
	RedisURL        string
	JWTSecret       string
	DataDir         string
	LockTimeoutMS   int
	IdleInTxMS      int
	ThrottleOnError string
	BootstrapAdmin  bool
	// Hub, when set, is [hub] backend (default: auto, LISTEN/NOTIFY).
	Hub string
	// RecheckSeconds, when set, is [notifications] recheck_seconds.
	RecheckSeconds int
	// SMTPHost and SMTPPort, when set, send email through that SMTP server
	// (no TLS); EmailWorkers, EmailBatch and EmailLeaseSeconds set
	// [email.queue] when positive.
	SMTPHost          string
	SMTPPort          int
	EmailWorkers      int
	EmailBatch        int
	EmailLeaseSeconds int
	// FreezeFile arms the freeze hook: when that file exists and the SQL
	// of a statement the instance just ran contains its content, the
	// instance removes it and stops itself (SIGSTOP).
	FreezeFile string
}

// config is the instance's configuration: test-friendly values (cheap
// password hashing, no Secure cookies, limits out of the way) on the
// private PostgreSQL and Redis.
func (s nodeSpec) config() config.Config {
	cfg := config.Default()
	cfg.App.DataDir = s.DataDir
	cfg.App.Address = "127.0.0.1:0"
	cfg.App.ShutdownTimeoutSeconds = 2
	cfg.Auth.Password.Argon2MemoryKiB = 1024
	cfg.Auth.Password.Argon2Iterations = 1
	cfg.Auth.JWT.Secret = s.JWTSecret
	cfg.Auth.Session.CookieSecure = false
	cfg.Auth.Throttle.AttemptsPerIP = 1_000_000
	cfg.RateLimit.Requests = 1_000_000
	cfg.RateLimit.RequestsPerIP = 1_000_000
	cfg.Database.Driver = "postgres"
	cfg.Database.DSN = s.DSN
	if s.LockTimeoutMS > 0 {
		cfg.Database.LockTimeoutMS = s.LockTimeoutMS
	}
	if s.IdleInTxMS > 0 {
		cfg.Database.IdleInTransactionTimeoutMS = s.IdleInTxMS
	}
	if s.RedisURL != "" {
		cfg.Redis.URL = s.RedisURL
		cfg.Auth.Session.Backend = "redis"
		cfg.RateLimit.Backend = "redis"
	}
	if s.ThrottleOnError != "" {
		cfg.Auth.Throttle.OnError = s.ThrottleOnError
	}
	if s.Hub != "" {
		cfg.Hub.Backend = s.Hub
	}
	if s.RecheckSeconds > 0 {
		cfg.Notifications.RecheckSeconds = s.RecheckSeconds
	}
	if s.SMTPHost != "" {
		cfg.Email.Sender = "smtp"
		cfg.SetSection("email.smtp", map[string]any{"host": s.SMTPHost, "port": s.SMTPPort, "security": "none", "timeout_ms": 10000})
	}
	if s.EmailWorkers > 0 {
		cfg.Email.Queue.Workers = s.EmailWorkers
	}
	if s.EmailBatch > 0 {
		cfg.Email.Queue.BatchSize = s.EmailBatch
	}
	if s.EmailLeaseSeconds > 0 {
		cfg.Email.Queue.LeaseSeconds = s.EmailLeaseSeconds
	}
	cfg.Email.Queue.PollIntervalMS = 100
	if s.BootstrapAdmin {
		cfg.Auth.BootstrapAdmin = config.BootstrapAdmin{Email: adminEmail, Password: adminPass}
	}
	return cfg
}

// runNode is an instance's main: it builds the app, prints its address and
// serves until SIGTERM. It returns the exit code.
func runNode(raw string) int {
	var spec nodeSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "cluster node: bad spec:", err)
		return 2
	}
	// The test holds our stdin open: if the test process dies without
	// stopping us, we read EOF and go too, leaving no stray instance.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		fmt.Fprintln(os.Stderr, "cluster node: the test process is gone; exiting")
		os.Exit(3)
	}()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", spec.Name)
	app, err := frameworkm.New(spec.config(), frameworkm.WithLogger(log),
		frameworkm.WithDocType[Ticket](ticketMeta), frameworkm.WithDocType[FastTicket](fastTicketMeta))
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster node: new app:", err)
		return 1
	}
	if spec.FreezeFile != "" {
		if err := db.OnStatement(app.DB, "cluster:freeze", freezeHook(spec.FreezeFile)); err != nil {
			fmt.Fprintln(os.Stderr, "cluster node: freeze hook:", err)
			return 1
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster node: listen:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fmt.Printf("%s%s\n", listenPrefix, ln.Addr())
	if err := app.ServeListener(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, "cluster node: serve:", err)
		return 1
	}
	return 0
}

// freezeHook stops the process right after a statement whose SQL contains
// the content of the file trigger, once per arming (the file is removed).
// Inside a create's transaction that is while it holds the locks it took.
func freezeHook(trigger string) func(context.Context, string) {
	return func(_ context.Context, sql string) {
		want, err := os.ReadFile(trigger)
		if err != nil || len(want) == 0 || !strings.Contains(sql, string(want)) {
			return
		}
		if os.Remove(trigger) != nil {
			return // another statement took it
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ---- the private PostgreSQL cluster ----

// pgCluster is a PostgreSQL cluster of this package run, in a temporary
// directory, on a free loopback port.
type pgCluster struct {
	bin, base, data string
	port            int
	cred            *syscall.Credential // run as postgres when we are root

	mu      sync.Mutex
	stopped bool
}

var shared struct {
	once sync.Once
	c    *pgCluster
	err  error
}

// postgresCluster returns the package's PostgreSQL cluster, starting it on
// first use; it skips the test when FM_TEST_PG_BIN is unset.
func postgresCluster(t *testing.T) *pgCluster {
	t.Helper()
	bin := fmtest.SkipUnlessServer(t, "FM_TEST_PG_BIN", "a PostgreSQL server binary")
	shared.once.Do(func() { shared.c, shared.err = startCluster(t, bin) })
	if shared.err != nil {
		t.Fatalf("private PostgreSQL: %v", shared.err)
	}
	return shared.c
}

func startCluster(t *testing.T, bin string) (*pgCluster, error) {
	base, err := os.MkdirTemp("", "fm-cluster-pg-")
	if err != nil {
		return nil, err
	}
	c := &pgCluster{bin: bin, base: base, data: filepath.Join(base, "data"), port: freePort(t)}
	if os.Geteuid() == 0 { // initdb refuses root
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and no postgres user to run the cluster as: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(base, int(uid), int(gid)); err != nil {
			return nil, err
		}
	}
	if out, err := c.run("initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := c.startServer(); err != nil {
		return nil, err
	}
	return c, nil
}

func stopSharedCluster() {
	if c := shared.c; c != nil {
		_ = c.stopServer()
		_ = os.RemoveAll(c.base)
	}
}

func (c *pgCluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.base
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd.CombinedOutput()
}

func (c *pgCluster) startServer() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
		c.port, c.base)
	out, err := c.run("pg_ctl", "-D", c.data, "-w", "-t", "60", "-l", filepath.Join(c.base, "server.log"), "-o", opts, "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.base, "server.log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	c.mu.Lock()
	c.stopped = false
	c.mu.Unlock()
	return nil
}

func (c *pgCluster) stopServer() error {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	out, err := c.run("pg_ctl", "-D", c.data, "-m", "fast", "-w", "-t", "60", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// stop stops the server (pg_ctl stop -m fast); it is started again when the
// test ends if the test has not done it, for the tests after it.
func (c *pgCluster) stop(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		c.mu.Lock()
		stopped := c.stopped
		c.mu.Unlock()
		if stopped {
			if err := c.startServer(); err != nil {
				t.Errorf("restart PostgreSQL after the test: %v", err)
			}
		}
	})
	if err := c.stopServer(); err != nil {
		t.Fatal(err)
	}
}

func (c *pgCluster) start(t *testing.T) {
	t.Helper()
	if err := c.startServer(); err != nil {
		t.Fatal(err)
	}
}

func (c *pgCluster) dsn(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

// newDatabase creates a database of the test's own and returns its DSN.
func (c *pgCluster) newDatabase(t *testing.T) string {
	t.Helper()
	name := "fm_" + randomHex(6)
	admin := openDB(t, c.dsn("postgres"))
	if err := admin.Exec(`CREATE DATABASE "` + name + `"`).Error; err != nil {
		t.Fatalf("create database: %v", err)
	}
	closeDB(admin)
	return c.dsn(name)
}

func openDB(t *testing.T, dsn string) *gorm.DB {
	t.Helper()
	gdb, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	return gdb
}

func closeDB(gdb *gorm.DB) {
	if sqlDB, err := gdb.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

// ---- the private Redis ----

// redisServer is a redis-server of the test's own, on a port that stays the
// same across restarts.
type redisServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int

	mu  sync.Mutex
	cmd *exec.Cmd
}

// startRedis starts a private redis-server (FM_TEST_REDIS_BIN); it skips the
// test when that is unset.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin := fmtest.SkipUnlessServer(t, "FM_TEST_REDIS_BIN", "a redis-server binary")
	r := &redisServer{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.cmd != nil {
			_ = r.cmd.Process.Signal(syscall.SIGCONT)
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
			r.cmd = nil
		}
	})
	r.start()
	return r
}

func (r *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

func (r *redisServer) url() string { return "redis://" + r.addr() + "/0" }

// start starts the server (again) and returns once it answers PING.
func (r *redisServer) start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.mu.Lock()
	r.cmd = cmd
	r.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !r.answers() {
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server does not answer PING")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// answers reports whether the server accepts a connection and answers PING.
func (r *redisServer) answers() bool {
	c, err := net.DialTimeout("tcp", r.addr(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// kill kills the server (SIGKILL) and waits until it is gone.
func (r *redisServer) kill() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.cmd.Process.Kill(); err != nil {
		r.t.Fatalf("kill redis-server: %v", err)
	}
	_ = r.cmd.Wait()
	r.cmd = nil
}

func (r *redisServer) signal(sig syscall.Signal) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signal redis-server: %v", err)
	}
}

// ---- app instances ----

// logBuffer collects an instance's output.
type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func (b *logBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf)
}

// since returns what was written after the first n bytes.
func (b *logBuffer) since(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf[n:])
}

// errorLines returns the lines logged at ERROR level after the first n bytes.
func (b *logBuffer) errorLines(n int) []string {
	var out []string
	for _, line := range strings.Split(b.since(n), "\n") {
		if strings.Contains(line, "level=ERROR") {
			out = append(out, line)
		}
	}
	return out
}

// problemLines returns the lines logged at WARN or ERROR after the first n
// bytes, but for the access log's (one per request, its level by status).
func (b *logBuffer) problemLines(n int) []string {
	var out []string
	for _, line := range strings.Split(b.since(n), "\n") {
		if (strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN")) && !strings.Contains(line, "msg=request ") {
			out = append(out, line)
		}
	}
	return out
}

// node is a running app instance: a process of the test binary.
type node struct {
	name   string
	url    string
	spec   nodeSpec
	cmd    *exec.Cmd
	logs   *logBuffer
	exited chan struct{}
	err    error // Wait's, once exited is closed
	stdin  io.WriteCloser

	stopOnce sync.Once
}

// newSpecs returns the specs of n instances of one deployment on dsn: one
// JWT secret, the first creating the admin.
func newSpecs(t *testing.T, n int, dsn string, mutate func(*nodeSpec)) []nodeSpec {
	secret := "cluster-secret-" + randomHex(24)
	specs := make([]nodeSpec, n)
	for i := range specs {
		specs[i] = nodeSpec{Name: string(rune('a' + i)), DSN: dsn, JWTSecret: secret, DataDir: t.TempDir(), BootstrapAdmin: i == 0}
		if mutate != nil {
			mutate(&specs[i])
		}
	}
	return specs
}

// startNodes starts one instance per spec, the first before the others (it
// migrates and creates the admin), and returns once each is ready.
func startNodes(t *testing.T, specs ...nodeSpec) []*node {
	t.Helper()
	began := time.Now()
	defer func() { t.Logf("%d instances ready in %v", len(specs), time.Since(began).Round(time.Millisecond)) }()
	nodes := make([]*node, len(specs))
	nodes[0] = startNode(t, specs[0])
	nodes[0].waitReady(t)
	for i := 1; i < len(specs); i++ {
		nodes[i] = startNode(t, specs[i])
	}
	for _, n := range nodes[1:] {
		n.waitReady(t)
	}
	// Stopped together, before each node's own cleanup (which then finds
	// it stopped): a graceful stop takes about a second.
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() { n.stop(t) })
		}
		wg.Wait()
	})
	return nodes
}

// startNode starts an instance and returns once it listens. The test's
// cleanup stops it (thawing it first) and fails the test if it saw a race.
func startNode(t *testing.T, spec nodeSpec) *node {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: spec.Name, spec: spec, logs: &logBuffer{}, exited: make(chan struct{})}
	n.cmd = exec.Command(os.Args[0], "-test.run=^$")
	n.cmd.Env = append(os.Environ(), envNode+"="+string(raw))
	n.cmd.Stderr = n.logs
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Never written nor closed by us: it closes when this process ends,
	// which tells the node to go (see runNode).
	if n.stdin, err = n.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", n.name, err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), listenPrefix); ok {
				addr <- a
				continue
			}
			_, _ = fmt.Fprintln(n.logs, sc.Text())
		}
		n.err = n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() { n.stop(t) })
	select {
	case a := <-addr:
		n.url = "http://" + a
	case <-n.exited:
		t.Fatalf("node %s exited before listening: %v\n%s", n.name, n.err, n.logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("node %s did not listen within 60s\n%s", n.name, n.logs)
	}
	return n
}

func (n *node) pid() int { return n.cmd.Process.Pid }

// waitReady waits until /readyz answers 200 with every check ok (the hub
// subscribed, so the caches serve from memory).
func (n *node) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last response
	for time.Now().Before(deadline) {
		last = n.do(http10s, "GET", "/readyz", nil, nil)
		if last.status == 200 && !strings.Contains(string(last.body), "down") {
			return
		}
		select {
		case <-n.exited:
			t.Fatalf("node %s exited: %v\n%s", n.name, n.err, n.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("node %s not ready within 60s: %d %s %v\n%s", n.name, last.status, last.body, last.err, n.logs)
}

// stop thaws the instance, asks it to stop (SIGTERM), kills it if it does
// not within a few seconds, and fails t if the race detector reported. It
// runs once; later calls do nothing.
func (n *node) stop(t *testing.T) {
	n.stopOnce.Do(func() {
		select {
		case <-n.exited:
		default:
			_ = n.cmd.Process.Signal(syscall.SIGCONT)
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-n.exited:
			case <-time.After(8 * time.Second):
				_ = n.cmd.Process.Kill()
				<-n.exited
			}
		}
		logs := n.logs.String()
		if strings.Contains(logs, "WARNING: DATA RACE") {
			t.Errorf("node %s: the race detector reported:\n%s", n.name, logs)
		} else if t.Failed() {
			t.Logf("node %s output (last lines):\n%s", n.name, tail(logs, 80))
		}
	})
}

// kill kills the instance (SIGKILL), frozen or not, and waits for its end.
func (n *node) kill(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill node %s: %v", n.name, err)
	}
	<-n.exited
}

func (n *node) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal node %s: %v", n.name, err)
	}
}

// state returns the process state letter of /proc/PID/stat ('T': stopped).
func (n *node) state() byte {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.pid()))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 || i+2 >= len(raw) {
		return 0
	}
	return raw[i+2]
}

// waitStopped waits until the instance's process is stopped.
func (n *node) waitStopped(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for n.state() != 'T' {
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not stop itself (state %q)\n%s", n.name, n.state(), tail(n.logs.String(), 40))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
