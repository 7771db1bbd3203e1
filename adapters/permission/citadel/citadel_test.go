package citadel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/permission/citadel"
	"github.com/framework-m/framework-m/adapters/permission/rbac"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/permtest"
	"github.com/framework-m/framework-m/ports"
)

// Environment of the real-server tests (set by .ci/run).
const (
	envOPAURL = "FM_TEST_OPA_URL" // a running `opa run --server`
	envOPABin = "FM_TEST_OPA_BIN" // the opa binary, to start (and kill) a second server
)

// policyID is the id under which the tests load testdata/policy.rego.
const policyID = "fmtest/citadel/policy.rego"

// authzPath is the Data API path of the policy's decision.
const authzPath = "/v1/data/framework/authz"

var quiet = slog.New(slog.DiscardHandler)

// opaURL returns the base URL of the shared OPA server, with the test policy
// loaded, or skips.
func opaURL(t testing.TB) string {
	t.Helper()
	base := strings.TrimRight(fmtest.SkipUnlessServer(t, envOPAURL, "OPA"), "/")
	loadPolicy(t, base)
	return base
}

// loadPolicy PUTs testdata/policy.rego into the OPA at base.
func loadPolicy(t testing.TB, base string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "policy.rego"))
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPut, base+"/v1/policies/"+policyID, bytes.NewReader(src))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "load the policy into OPA at %s", base)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "OPA refused the policy: %s", body)
}

func newAdapter(t testing.TB, cfg citadel.Config, opts ...citadel.Option) *citadel.Adapter {
	t.Helper()
	a, err := citadel.New(cfg, append([]citadel.Option{citadel.WithLogger(quiet)}, opts...)...)
	require.NoError(t, err)
	return a
}

func opaConfig(base string) citadel.Config {
	return citadel.Config{Endpoint: base + authzPath, Format: citadel.FormatOPA, TimeoutMS: 2000}
}

func rbacEvaluator() *rbac.Adapter {
	return rbac.New(permtest.Registry(), rbac.Options{AdminRoles: []string{ports.RoleAdmin}, AdminBypass: true})
}

func tenantCtx() context.Context { return ports.WithTenantID(context.Background(), "t") }

// --- the real OPA ------------------------------------------------------------------

func TestOPAContract(t *testing.T) {
	base := opaURL(t)
	permtest.Run(t, func(t *testing.T) ports.PermissionEvaluator { return newAdapter(t, opaConfig(base)) })
}

func TestOPADecisionDetails(t *testing.T) {
	a := newAdapter(t, opaConfig(opaURL(t)))
	ctx := tenantCtx()

	res, err := a.Evaluate(ctx, permtest.Case{Who: permtest.Manager, Action: ports.ActionDelete, Doc: permtest.BobSouth}.Request())
	require.NoError(t, err)
	assert.Equal(t, ports.PolicyResult{Authorized: true, Source: ports.SourceCustom, Reason: "role Accounts Manager", PolicyID: "invoice/accounts-manager"}, res)

	res, err = a.Evaluate(ctx, permtest.Case{Who: permtest.Ann, Action: ports.ActionCreate, Doc: permtest.BobSouth}.Request())
	require.NoError(t, err)
	assert.False(t, res.Authorized)
	assert.Equal(t, "no rule grants this action on this document", res.Reason)

	fs, err := a.PermittedFilters(ctx, permtest.Sam.UserContext(), "Invoice", ports.ActionRead)
	require.NoError(t, err)
	assert.Equal(t, []ports.Filter{{Field: "department", Op: ports.OpEq, Value: "north"}}, fs)

	fs, err = a.PermittedFilters(ctx, permtest.AnnAndRep.UserContext(), "Invoice", ports.ActionRead)
	require.NoError(t, err)
	assert.Equal(t, []ports.Filter{{Any: [][]ports.Filter{
		{{Field: "owner", Op: ports.OpEq, Value: "ann"}},
		{{Field: "department", Op: ports.OpEq, Value: "north"}},
	}}}, fs)

	fs, err = a.PermittedFilters(ctx, permtest.Audrey.UserContext(), "Invoice", ports.ActionRead)
	require.NoError(t, err)
	assert.Nil(t, fs, "an unconditional grant: every row")

	// A Sales Rep without a department may open the list form (type-level
	// check) but a list gives them no rows.
	res, err = a.Evaluate(ctx, permtest.Case{Who: permtest.Stray, Action: ports.ActionRead}.Request())
	require.NoError(t, err)
	assert.True(t, res.Authorized, res.Reason)
	_, err = a.PermittedFilters(ctx, permtest.Stray.UserContext(), "Invoice", ports.ActionRead)
	assert.ErrorIs(t, err, core.ErrForbidden)

	// Admin holds for every DocType; nobody else gets anything on an unknown one.
	res, err = a.Evaluate(ctx, ports.PolicyRequest{PrincipalID: "root", Roles: []string{"Admin"}, DocType: "Customer", Action: ports.ActionDelete, DocName: "C-1"})
	require.NoError(t, err)
	assert.True(t, res.Authorized)
	res, err = a.Evaluate(ctx, ports.PolicyRequest{PrincipalID: "mia", Roles: []string{"Accounts Manager"}, DocType: "Customer", Action: ports.ActionRead})
	require.NoError(t, err)
	assert.False(t, res.Authorized)
}

// TestOPAConcurrent runs the decision table from many goroutines at once (for
// the race detector and the connection pool).
func TestOPAConcurrent(t *testing.T) {
	a := newAdapter(t, opaConfig(opaURL(t)))
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(permtest.Cases))
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range permtest.Cases {
				res, err := a.Evaluate(tenantCtx(), c.Request())
				if err != nil || res.Authorized != c.Want {
					errs <- fmt.Sprintf("%s: %+v, %v", c, res, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestOPAStoppedFallback starts its own OPA, checks it decides, kills it, and
// checks every fallback mode against the dead endpoint.
func TestOPAStoppedFallback(t *testing.T) {
	base, stop := startOPA(t)
	loadPolicy(t, base)
	cfg := opaConfig(base)

	live := newAdapter(t, cfg)
	res, err := live.Evaluate(tenantCtx(), permtest.Case{Who: permtest.Sam, Action: ports.ActionRead, Doc: permtest.BobNorth}.Request())
	require.NoError(t, err)
	require.True(t, res.Authorized, "the live OPA decides: %+v", res)
	require.Equal(t, "invoice/sales-rep-department", res.PolicyID)

	stop()

	bobReadsAnn := permtest.Case{Who: permtest.Bob, Action: ports.ActionRead, Doc: permtest.AnnNorth}.Request()
	t.Run("default denies", func(t *testing.T) {
		a := newAdapter(t, cfg)
		res, err := a.Evaluate(tenantCtx(), permtest.Case{Who: permtest.Manager, Action: ports.ActionRead, Doc: permtest.AnnNorth}.Request())
		require.NoError(t, err)
		assert.False(t, res.Authorized)
		assert.Equal(t, ports.SourceCustom, res.Source)
		assert.Contains(t, res.Reason, "unreachable")
		assert.Contains(t, res.Reason, "fallback denies")
		_, err = a.PermittedFilters(tenantCtx(), permtest.Manager.UserContext(), "Invoice", ports.ActionRead)
		assert.ErrorIs(t, err, core.ErrForbidden)
	})
	t.Run("fallback_on_error allows", func(t *testing.T) {
		c := cfg
		c.FallbackOnError = true
		a := newAdapter(t, c)
		res, err := a.Evaluate(tenantCtx(), bobReadsAnn)
		require.NoError(t, err)
		assert.True(t, res.Authorized)
		assert.Contains(t, res.Reason, "fallback allows")
		fs, err := a.PermittedFilters(tenantCtx(), permtest.Bob.UserContext(), "Invoice", ports.ActionRead)
		require.NoError(t, err)
		assert.Nil(t, fs)
	})
	t.Run("fallback rbac decides", func(t *testing.T) {
		c := cfg
		c.Fallback = citadel.FallbackRBAC
		c.FallbackOnError = true // rbac wins over it
		a := newAdapter(t, c, citadel.WithFallback(rbacEvaluator()))
		permtest.RunDecisions(t, a)
		permtest.RunRowSecurity(t, a)
		res, err := a.Evaluate(tenantCtx(), bobReadsAnn)
		require.NoError(t, err)
		assert.False(t, res.Authorized)
		assert.Equal(t, ports.SourceRBAC, res.Source)
		assert.Contains(t, res.Reason, "fallback rbac")
	})
}

// startOPA runs a second OPA server from FM_TEST_OPA_BIN on a free port; stop
// kills it (also at cleanup).
func startOPA(t *testing.T) (base string, stop func()) {
	t.Helper()
	base, _, stop = startOPAProcess(t)
	return base, stop
}

// startOPAProcess is startOPA that also returns the process, to signal it.
func startOPAProcess(t *testing.T) (base string, proc *os.Process, stop func()) {
	t.Helper()
	bin := fmtest.SkipUnlessServer(t, envOPABin, "OPA process")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	logPath := filepath.Join(t.TempDir(), "opa.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, "run", "--server", "--addr", addr, "--log-level", "error", "--skip-version-check")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start(), "start %s", bin)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = logFile.Close()
		})
	}
	t.Cleanup(stop)

	base = "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, cmd.Process, stop
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logPath)
			t.Fatalf("OPA on %s did not become healthy: %v\n%s", addr, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOPASlowTimesOut freezes a real OPA (SIGSTOP: it still accepts
// connections but never answers) and checks the timeout's fallbacks.
func TestOPASlowTimesOut(t *testing.T) {
	base, proc, _ := startOPAProcess(t)
	loadPolicy(t, base)
	live := opaConfig(base) // a timeout a loaded machine cannot miss
	samReadsBobNorth := permtest.Case{Who: permtest.Sam, Action: ports.ActionRead, Doc: permtest.BobNorth}.Request()
	res, err := newAdapter(t, live).Evaluate(tenantCtx(), samReadsBobNorth)
	require.NoError(t, err)
	require.True(t, res.Authorized, "the live OPA decides within %d ms: %+v", live.TimeoutMS, res)
	require.Equal(t, "invoice/sales-rep-department", res.PolicyID, "the decision is OPA's, not a fallback: %+v", res)

	require.NoError(t, proc.Signal(syscall.SIGSTOP))
	t.Cleanup(func() { _ = proc.Signal(syscall.SIGCONT) })
	waitStopped(t, proc.Pid, base)

	cfg := live
	cfg.TimeoutMS = 100
	timeout := time.Duration(cfg.TimeoutMS) * time.Millisecond
	started := time.Now()
	res, err = newAdapter(t, cfg).Evaluate(tenantCtx(), samReadsBobNorth)
	took := time.Since(started)
	require.NoError(t, err)
	assert.False(t, res.Authorized, "a slow service gets the fallback: deny")
	assert.Contains(t, res.Reason, fmt.Sprintf("did not answer within %s", timeout))
	assert.Contains(t, res.Reason, "fallback denies")
	assert.GreaterOrEqual(t, took, timeout, "the fallback comes when the configured timeout ends, not before")

	c := cfg
	c.Fallback = citadel.FallbackRBAC
	res, err = newAdapter(t, c, citadel.WithFallback(rbacEvaluator())).Evaluate(tenantCtx(), samReadsBobNorth)
	require.NoError(t, err)
	assert.True(t, res.Authorized, "the RBAC fallback decides while OPA hangs")
	assert.Equal(t, ports.SourceABAC, res.Source)
	assert.Contains(t, res.Reason, fmt.Sprintf("did not answer within %s", timeout))
}

// waitStopped returns once every thread of process pid is stopped, so that no
// thread of a SIGSTOPped server can still answer: the signal reaches threads
// one by one, and a request sent at once may be served by one not yet
// stopped. Where /proc/<pid>/task is missing (not Linux), it waits instead
// until a probe of base's health endpoint goes unanswered for a second.
func waitStopped(t *testing.T, pid int, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		for !probeHangs(base, time.Second) {
			require.True(t, time.Now().Before(deadline), "OPA (pid %d) still answers 20 s after SIGSTOP", pid)
		}
		return
	}
	for {
		running := runningThreads(t, pid)
		if len(running) == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "OPA (pid %d) threads not stopped 20 s after SIGSTOP: %v", pid, running)
		time.Sleep(time.Millisecond)
	}
}

// runningThreads lists the threads of pid, as "tid:state", whose state in
// /proc/<pid>/task/<tid>/stat is not stopped (T, t) or dead (Z, X).
func runningThreads(t *testing.T, pid int) []string {
	t.Helper()
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	require.NoError(t, err)
	require.NotEmpty(t, stats, "OPA (pid %d) has threads", pid)
	var running []string
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited
		}
		require.NoError(t, err)
		// "tid (comm) state …": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		require.True(t, i > 0 && i+2 < len(b), "unexpected %s: %q", path, b)
		switch state := b[i+2]; state {
		case 'T', 't', 'Z', 'X':
		default:
			running = append(running, filepath.Base(filepath.Dir(path))+":"+string(state))
		}
	}
	return running
}

// probeHangs reports whether a GET of base's health endpoint goes unanswered
// for wait.
func probeHangs(base string, wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err == nil {
		_ = resp.Body.Close()
		return false
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// --- a slow service ----------------------------------------------------------------

func TestSlowServiceTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(500 * time.Millisecond):
		case <-r.Context().Done():
		case <-release:
		}
		_, _ = io.WriteString(w, `{"allowed": true, "reason": "too late"}`)
	}))
	t.Cleanup(func() {
		close(release) // unblock handlers so Close returns at once
		srv.Close()
	})
	cfg := citadel.Config{Endpoint: srv.URL, TimeoutMS: 50}
	req := permtest.Case{Who: permtest.Manager, Action: ports.ActionRead, Doc: permtest.AnnNorth}.Request()

	res, err := newAdapter(t, cfg).Evaluate(tenantCtx(), req)
	require.NoError(t, err)
	assert.False(t, res.Authorized)
	assert.Contains(t, res.Reason, "did not answer within 50ms")
	assert.Contains(t, res.Reason, "fallback denies")

	allow := cfg
	allow.FallbackOnError = true
	res, err = newAdapter(t, allow).Evaluate(tenantCtx(), req)
	require.NoError(t, err)
	assert.True(t, res.Authorized)
	assert.Contains(t, res.Reason, "fallback allows")

	withRBAC := cfg
	withRBAC.Fallback = citadel.FallbackRBAC
	a := newAdapter(t, withRBAC, citadel.WithFallback(rbacEvaluator()))
	res, err = a.Evaluate(tenantCtx(), permtest.Case{Who: permtest.Ann, Action: ports.ActionWrite, Doc: permtest.BobNorth}.Request())
	require.NoError(t, err)
	assert.False(t, res.Authorized, "RBAC: Ann may not write Bob's invoice")
	assert.Equal(t, ports.SourceRBAC, res.Source)
	fs, err := a.PermittedFilters(tenantCtx(), permtest.Ann.UserContext(), "Invoice", ports.ActionRead)
	require.NoError(t, err)
	assert.Equal(t, []ports.Filter{{Field: "owner", Op: ports.OpEq, Value: "ann"}}, fs)
}

// TestCallerCancellation: when the caller's own context ends, there is nobody
// to answer, so Evaluate fails instead of falling back.
func TestCallerCancellation(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"allowed": true}`)
	}))
	t.Cleanup(srv.Close)
	a := newAdapter(t, citadel.Config{Endpoint: srv.URL, FallbackOnError: true})
	ctx, cancel := context.WithCancel(tenantCtx())
	cancel()
	res, err := a.Evaluate(ctx, permtest.Case{Who: permtest.Manager, Action: ports.ActionRead}.Request())
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, res.Authorized)
	_, err = a.PermittedFilters(ctx, permtest.Manager.UserContext(), "Invoice", ports.ActionRead)
	assert.ErrorIs(t, err, context.Canceled)
}

// --- garbage -----------------------------------------------------------------------

// answer is a canned HTTP answer of a test service.
type answer struct {
	status      int
	contentType string
	body        string
}

func serve(t *testing.T, ans answer) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		ct := ans.contentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		if ans.status != 0 {
			w.WriteHeader(ans.status)
		}
		_, _ = io.WriteString(w, ans.body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGarbageFallsBack(t *testing.T) {
	huge := `{"allowed": true, "reason": "` + strings.Repeat("x", 2<<20) + `"}`
	deep := `{"allowed": true, "filters": ` + strings.Repeat(`[{"any": [`, 10) + `[]` + strings.Repeat(`]}]`, 10) + `}`
	cases := []struct {
		name   string
		format string
		ans    answer
		list   bool // the garbage is in the filters: only lists notice it
	}{
		{"HTTP 500", "", answer{status: 500, body: `{"allowed": true}`}, false},
		{"HTTP 403", "", answer{status: 403, body: `{"allowed": true}`}, false},
		{"redirect", "", answer{status: 302, body: `{"allowed": true}`}, false},
		{"HTML", "", answer{contentType: "text/html", body: "<html><body>502 Bad Gateway</body></html>"}, false},
		{"empty body", "", answer{}, false},
		{"null", "", answer{body: "null"}, false},
		{"array", "", answer{body: "[true]"}, false},
		{"allowed is a string", "", answer{body: `{"allowed": "yes"}`}, false},
		{"allowed is a number", "", answer{body: `{"allowed": 1}`}, false},
		{"no allowed", "", answer{body: `{"reason": "fine"}`}, false},
		{"reason is a number", "", answer{body: `{"allowed": true, "reason": 5}`}, false},
		{"truncated JSON", "", answer{body: `{"allowed": true, "reason": "o`}, false},
		{"trailing garbage", "", answer{body: `{"allowed": true} {"allowed": true}`}, false},
		{"huge body", "", answer{body: huge}, false},
		{"opa: result is a string", citadel.FormatOPA, answer{body: `{"result": "yes"}`}, false},
		{"opa: result is a list", citadel.FormatOPA, answer{body: `{"result": [true]}`}, false},
		{"opa: allowed is a string", citadel.FormatOPA, answer{body: `{"result": {"allowed": "true"}}`}, false},
		{"opa: HTTP 500", citadel.FormatOPA, answer{status: 500, body: `{"code": "internal_error", "message": "eval_conflict_error"}`}, false},
		{"filters: a string", "", answer{body: `{"allowed": true, "filters": "owner = 'ann'"}`}, true},
		{"filters: unknown operator", "", answer{body: `{"allowed": true, "filters": [{"field": "owner", "op": "~", "value": "ann"}]}`}, true},
		{"filters: no operator", "", answer{body: `{"allowed": true, "filters": [{"field": "owner", "value": "ann"}]}`}, true},
		{"filters: no field", "", answer{body: `{"allowed": true, "filters": [{"op": "=", "value": "ann"}]}`}, true},
		{"filters: bad field", "", answer{body: `{"allowed": true, "filters": [{"field": "owner; drop table", "op": "=", "value": "ann"}]}`}, true},
		{"filters: no value", "", answer{body: `{"allowed": true, "filters": [{"field": "owner", "op": "="}]}`}, true},
		{"filters: object value", "", answer{body: `{"allowed": true, "filters": [{"field": "owner", "op": "=", "value": {"a": 1}}]}`}, true},
		{"filters: in without a list", "", answer{body: `{"allowed": true, "filters": [{"field": "owner", "op": "in", "value": "ann"}]}`}, true},
		{"filters: in with objects", "", answer{body: `{"allowed": true, "filters": [{"field": "owner", "op": "in", "value": [{}]}]}`}, true},
		{"filters: like a number", "", answer{body: `{"allowed": true, "filters": [{"field": "owner", "op": "like", "value": 5}]}`}, true},
		{"filters: a plain object", "", answer{body: `{"allowed": true, "filters": {"field": "owner", "op": "=", "value": "ann"}}`}, true},
		{"filters: group of filters, not of lists", "", answer{body: `{"allowed": true, "filters": {"any": [{"field": "owner", "op": "=", "value": "ann"}]}}`}, true},
		{"filters: group and filter at once", "", answer{body: `{"allowed": true, "filters": [{"any": [[]], "field": "owner", "op": "=", "value": "ann"}]}`}, true},
		{"filters: nested too deep", "", answer{body: deep}, true},
		{"opa: bad filters", citadel.FormatOPA, answer{body: `{"result": {"allowed": true, "filters": [{"field": "owner", "op": "==", "value": "ann"}]}}`}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, tc.ans)
			cfg := citadel.Config{Endpoint: srv.URL, Format: tc.format, TimeoutMS: 5000}
			ask := func(a *citadel.Adapter, who permtest.Principal) (ports.PolicyResult, []ports.Filter, error) {
				if tc.list {
					fs, err := a.PermittedFilters(tenantCtx(), who.UserContext(), "Invoice", ports.ActionRead)
					return ports.PolicyResult{}, fs, err
				}
				res, err := a.Evaluate(tenantCtx(), permtest.Case{Who: who, Action: ports.ActionRead, Doc: permtest.BobSouth}.Request())
				return res, nil, err
			}

			deny := newAdapter(t, cfg)
			res, fs, err := ask(deny, permtest.Manager)
			if tc.list {
				assert.ErrorIs(t, err, core.ErrForbidden)
				assert.ErrorContains(t, err, "fallback denies")
				assert.Nil(t, fs)
			} else {
				require.NoError(t, err)
				assert.False(t, res.Authorized, "%+v", res)
				assert.Contains(t, res.Reason, "fallback denies")
			}

			allowCfg := cfg
			allowCfg.FallbackOnError = true
			res, fs, err = ask(newAdapter(t, allowCfg), permtest.Nobody)
			require.NoError(t, err)
			if tc.list {
				assert.Nil(t, fs)
			} else {
				assert.True(t, res.Authorized, "%+v", res)
				assert.Contains(t, res.Reason, "fallback allows")
			}

			rbacCfg := cfg
			rbacCfg.Fallback = citadel.FallbackRBAC
			withRBAC := newAdapter(t, rbacCfg, citadel.WithFallback(rbacEvaluator()))
			res, fs, err = ask(withRBAC, permtest.Sam)
			require.NoError(t, err)
			if tc.list {
				assert.Equal(t, []ports.Filter{{Field: "department", Op: ports.OpEq, Value: "north"}}, fs)
			} else {
				assert.False(t, res.Authorized, "RBAC: Sam (north) may not read a south invoice")
				assert.Equal(t, ports.SourceRBAC, res.Source)
				assert.Contains(t, res.Reason, "fallback rbac")
			}
		})
	}
}

func TestConnectionDropped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	res, err := newAdapter(t, citadel.Config{Endpoint: srv.URL, FallbackOnError: true}).Evaluate(tenantCtx(), permtest.Case{Who: permtest.Nobody, Action: ports.ActionRead}.Request())
	require.NoError(t, err)
	assert.True(t, res.Authorized)
	assert.Contains(t, res.Reason, "unreachable")
}

// TestOPAAnswers: the shapes of OPA answers that are decisions, not failures.
func TestOPAAnswers(t *testing.T) {
	cases := []struct {
		body   string
		want   bool
		reason string
	}{
		{`{"result": true}`, true, "policy service allowed"},
		{`{"result": false}`, false, "policy service denied"},
		{`{}`, false, "undefined"},
		{`{"result": null}`, false, "undefined"},
		{`{"decision_id": "x", "result": {}}`, false, `no "allowed"`},
		{`{"result": {"allowed": true, "reason": "ok", "policy_id": "p1", "unknown": [1, 2]}}`, true, "ok"},
		{`{"result": {"allowed": false, "reason": "nope"}, "warning": {"code": "api_usage_warning"}}`, false, "nope"},
	}
	for _, tc := range cases {
		t.Run(tc.body, func(t *testing.T) {
			srv := serve(t, answer{body: tc.body})
			// fallback_on_error is on: a denial here is the policy's, not the fallback's.
			a := newAdapter(t, citadel.Config{Endpoint: srv.URL, Format: citadel.FormatOPA, FallbackOnError: true})
			res, err := a.Evaluate(tenantCtx(), permtest.Case{Who: permtest.Manager, Action: ports.ActionRead}.Request())
			require.NoError(t, err)
			assert.Equal(t, tc.want, res.Authorized)
			assert.Contains(t, res.Reason, tc.reason)
			assert.NotContains(t, res.Reason, "fallback")
			assert.Equal(t, ports.SourceCustom, res.Source)

			_, err = a.PermittedFilters(tenantCtx(), permtest.Manager.UserContext(), "Invoice", ports.ActionRead)
			if tc.want {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, core.ErrForbidden)
			}
		})
	}
}

// --- the request on the wire -------------------------------------------------------

// recorder is a test policy service that records what it is asked.
type recorder struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	answer  func(body map[string]any) string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.bodies = append(rec.bodies, body)
	rec.headers = append(rec.headers, r.Header.Clone())
	rec.mu.Unlock()
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, rec.answer(m))
}

func (rec *recorder) last(t *testing.T) (map[string]json.RawMessage, http.Header) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.NotEmpty(t, rec.bodies)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(rec.bodies[len(rec.bodies)-1], &m))
	return m, rec.headers[len(rec.headers)-1]
}

func keys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestCitadelFormat(t *testing.T) {
	rec := &recorder{answer: func(body map[string]any) string {
		return `{"allowed": true, "reason": "ann owns INV-1", "policy_id": "invoice-owner", "decision_source": "abac"}`
	}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	a := newAdapter(t, citadel.Config{Endpoint: srv.URL, Format: citadel.FormatCitadel, Token: "s3cret"})

	req := permtest.Case{Who: permtest.AnnAndRep, Action: ports.ActionRead, Doc: permtest.AnnNorth}.Request()
	res, err := a.Evaluate(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, ports.PolicyResult{Authorized: true, Source: ports.SourceABAC, Reason: "ann owns INV-1", PolicyID: "invoice-owner"}, res)

	got, hdr := rec.last(t)
	assert.ElementsMatch(t, []string{"principal", "action", "resource", "tenant_id", "context", "principal_attributes", "resource_attributes", "roles"}, keys(got))
	assert.JSONEq(t, `"ann"`, string(got["principal"]))
	assert.JSONEq(t, `"Invoice:read"`, string(got["action"]))
	assert.JSONEq(t, `"Invoice:INV-1"`, string(got["resource"]))
	assert.JSONEq(t, `"t"`, string(got["tenant_id"]))
	doc, err := json.Marshal(permtest.AnnNorth)
	require.NoError(t, err)
	assert.JSONEq(t, string(doc), string(got["context"]))
	assert.JSONEq(t, string(doc), string(got["resource_attributes"]))
	assert.Contains(t, string(got["context"]), `"owner":"ann"`)
	assert.JSONEq(t, `{"department": "north", "roles": ["Accounts User", "Sales Rep"]}`, string(got["principal_attributes"]))
	assert.JSONEq(t, `["Accounts User", "Sales Rep"]`, string(got["roles"]))
	assert.Equal(t, "Bearer s3cret", hdr.Get("Authorization"))
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))

	// A type-level check: resource "<DocType>:*", empty context, no nulls.
	_, err = a.Evaluate(tenantCtx(), ports.PolicyRequest{PrincipalID: "nora", DocType: "Invoice", Action: ports.ActionCreate})
	require.NoError(t, err)
	got, _ = rec.last(t)
	assert.JSONEq(t, `"Invoice:create"`, string(got["action"]))
	assert.JSONEq(t, `"Invoice:*"`, string(got["resource"]))
	assert.JSONEq(t, `"t"`, string(got["tenant_id"]), "the tenant comes from the context when the request has none")
	assert.JSONEq(t, `{}`, string(got["context"]))
	assert.JSONEq(t, `{}`, string(got["resource_attributes"]))
	assert.JSONEq(t, `{}`, string(got["principal_attributes"]))
	assert.JSONEq(t, `[]`, string(got["roles"]))

	// A document without a name yet (a create): named by its JSON name when it has one.
	unnamed := &permtest.Invoice{Customer: "ACME"}
	unnamed.Owner = "ann"
	_, err = a.Evaluate(tenantCtx(), ports.PolicyRequest{PrincipalID: "ann", DocType: "Invoice", Action: ports.ActionCreate, Doc: unnamed})
	require.NoError(t, err)
	got, _ = rec.last(t)
	assert.JSONEq(t, `"Invoice:*"`, string(got["resource"]))
	assert.Contains(t, string(got["context"]), `"customer":"ACME"`)

	// A list: the type-level request plus "list": true.
	_, err = a.PermittedFilters(tenantCtx(), permtest.Sam.UserContext(), "Invoice", ports.ActionRead)
	require.NoError(t, err)
	got, _ = rec.last(t)
	assert.JSONEq(t, `true`, string(got["list"]))
	assert.JSONEq(t, `"Invoice:*"`, string(got["resource"]))
	assert.JSONEq(t, `"sam"`, string(got["principal"]))
	assert.JSONEq(t, `{}`, string(got["context"]))
	assert.JSONEq(t, `{"department": "north", "roles": ["Sales Rep"]}`, string(got["principal_attributes"]))
}

func TestOPAFormatRequest(t *testing.T) {
	rec := &recorder{answer: func(map[string]any) string {
		return `{"result": {"allowed": false, "reason": "closed on Sundays", "policy_id": "sunday"}}`
	}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	a := newAdapter(t, citadel.Config{Endpoint: srv.URL + authzPath, Format: citadel.FormatOPA, Token: "tok"})
	res, err := a.Evaluate(tenantCtx(), permtest.Case{Who: permtest.Bob, Action: ports.ActionWrite, Doc: permtest.BobSouth}.Request())
	require.NoError(t, err)
	assert.Equal(t, ports.PolicyResult{Source: ports.SourceCustom, Reason: "closed on Sundays", PolicyID: "sunday"}, res)

	got, hdr := rec.last(t)
	assert.Equal(t, []string{"input"}, keys(got))
	var input map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(got["input"], &input))
	assert.ElementsMatch(t, []string{"principal", "action", "resource", "tenant_id", "context", "principal_attributes", "resource_attributes", "roles"}, keys(input))
	assert.JSONEq(t, `"Invoice:write"`, string(input["action"]))
	assert.JSONEq(t, `"Invoice:INV-2"`, string(input["resource"]))
	assert.Equal(t, "Bearer tok", hdr.Get("Authorization"))
}

func TestNoTokenNoAuthorization(t *testing.T) {
	rec := &recorder{answer: func(map[string]any) string { return `{"allowed": false}` }}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	_, err := newAdapter(t, citadel.Config{Endpoint: srv.URL}).Evaluate(tenantCtx(), permtest.Case{Who: permtest.Bob, Action: ports.ActionRead}.Request())
	require.NoError(t, err)
	_, hdr := rec.last(t)
	assert.Empty(t, hdr.Get("Authorization"))
}

func TestPermittedFiltersShapes(t *testing.T) {
	cases := []struct {
		name string
		body string
		want []ports.Filter
		err  error
	}{
		{"no filters: every row", `{"allowed": true}`, nil, nil},
		{"null filters", `{"allowed": true, "filters": null}`, nil, nil},
		{"empty list", `{"allowed": true, "filters": []}`, nil, nil},
		{"denied", `{"allowed": false, "reason": "no"}`, nil, core.ErrForbidden},
		{"denied with filters", `{"allowed": false, "filters": [{"field": "x", "op": "=", "value": 1}]}`, nil, core.ErrForbidden},
		{
			"AND list", `{"allowed": true, "filters": [{"field": "owner", "op": "=", "value": "ann"}, {"field": "amount", "op": ">=", "value": 100}, {"field": "paid", "op": "!=", "value": true}, {"field": "closed_at", "op": "is null", "value": "ignored"}, {"field": "customer", "op": "like", "value": "AC%"}]}`,
			[]ports.Filter{
				{Field: "owner", Op: ports.OpEq, Value: "ann"},
				{Field: "amount", Op: ports.OpGe, Value: 100.0},
				{Field: "paid", Op: ports.OpNe, Value: true},
				{Field: "closed_at", Op: ports.OpIsNull},
				{Field: "customer", Op: ports.OpLike, Value: "AC%"},
			}, nil,
		},
		{
			"OR object", `{"allowed": true, "filters": {"any": [[{"field": "owner", "op": "=", "value": "ann"}], [{"field": "department", "op": "in", "value": ["north", "east"]}, {"field": "status", "op": "not in", "value": ["Draft"]}]]}}`,
			[]ports.Filter{{Any: [][]ports.Filter{
				{{Field: "owner", Op: ports.OpEq, Value: "ann"}},
				{{Field: "department", Op: ports.OpIn, Value: []any{"north", "east"}}, {Field: "status", Op: ports.OpNotIn, Value: []any{"Draft"}}},
			}}}, nil,
		},
		{
			"group inside a list", `{"allowed": true, "filters": [{"field": "status", "op": "!=", "value": "Cancelled"}, {"any": [[{"field": "owner", "op": "=", "value": "ann"}], []]}]}`,
			[]ports.Filter{
				{Field: "status", Op: ports.OpNe, Value: "Cancelled"},
				{Any: [][]ports.Filter{{{Field: "owner", Op: ports.OpEq, Value: "ann"}}, {}}},
			}, nil,
		},
		{"empty group: no rows", `{"allowed": true, "filters": {"any": []}}`, []ports.Filter{{Any: [][]ports.Filter{}}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, answer{body: tc.body})
			a := newAdapter(t, citadel.Config{Endpoint: srv.URL})
			fs, err := a.PermittedFilters(tenantCtx(), permtest.Ann.UserContext(), "Invoice", ports.ActionRead)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, fs)
		})
	}

	t.Run("no principal", func(t *testing.T) {
		srv := serve(t, answer{body: `{"allowed": true}`})
		_, err := newAdapter(t, citadel.Config{Endpoint: srv.URL}).PermittedFilters(tenantCtx(), nil, "Invoice", ports.ActionRead)
		assert.ErrorIs(t, err, core.ErrForbidden)
	})
}

// --- configuration -----------------------------------------------------------------

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name  string
		cfg   citadel.Config
		opts  []citadel.Option
		field string
	}{
		{"no endpoint", citadel.Config{}, nil, "endpoint"},
		{"not a URL", citadel.Config{Endpoint: "localhost:8181"}, nil, "endpoint"},
		{"not HTTP", citadel.Config{Endpoint: "ftp://policy/authz"}, nil, "endpoint"},
		{"unknown format", citadel.Config{Endpoint: "http://x", Format: "xacml"}, nil, "format"},
		{"negative timeout", citadel.Config{Endpoint: "http://x", TimeoutMS: -1}, nil, "timeout_ms"},
		{"unknown fallback", citadel.Config{Endpoint: "http://x", Fallback: "abac"}, nil, "fallback"},
		{"rbac without evaluator", citadel.Config{Endpoint: "http://x", Fallback: "rbac"}, nil, "fallback"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := citadel.New(tc.cfg, tc.opts...)
			require.Error(t, err)
			assert.ErrorIs(t, err, core.ErrValidation)
			assert.ErrorContains(t, err, "permissions.citadel."+tc.field)
		})
	}
	for _, cfg := range []citadel.Config{
		{Endpoint: "http://127.0.0.1:8181/v1/data/framework/authz", Format: "opa"},
		{Endpoint: "https://citadel.example.com/authorize", Format: "citadel", TimeoutMS: 200, FallbackOnError: true},
		{Endpoint: "http://x/authorize"}, // format and timeout default
		defaultsWith("http://x"),
	} {
		_, err := citadel.New(cfg)
		assert.NoError(t, err, "%+v", cfg)
	}
	_, err := citadel.New(citadel.Config{Endpoint: "http://x", Fallback: "rbac"}, citadel.WithFallback(rbacEvaluator()))
	assert.NoError(t, err)
}

// defaultsWith returns the documented [permissions.citadel] defaults with endpoint.
func defaultsWith(endpoint string) citadel.Config {
	c := citadel.DefaultConfig()
	c.Endpoint = endpoint
	return c
}

// --- logging -----------------------------------------------------------------------

// records is a slog handler that keeps what is logged.
type records struct {
	mu   sync.Mutex
	msgs []string
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.Key + "=" + a.Value.String()
		return true
	})
	h.msgs = append(h.msgs, line)
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }
func (h *records) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.msgs...)
}

func TestFallbackWarningsAreRateLimited(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			http.Error(w, "boom", http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, `{"allowed": true}`)
	}))
	t.Cleanup(srv.Close)
	h := &records{}
	a, err := citadel.New(citadel.Config{Endpoint: srv.URL}, citadel.WithLogger(slog.New(h)))
	require.NoError(t, err)
	req := permtest.Case{Who: permtest.Manager, Action: ports.ActionRead}.Request()

	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := a.Evaluate(tenantCtx(), req)
			assert.NoError(t, err)
			assert.False(t, res.Authorized)
			assert.Contains(t, res.Reason, "HTTP 502")
		}()
	}
	wg.Wait()
	lines := h.lines()
	require.Len(t, lines, 1, "one warning for 20 failures: %q", lines)
	assert.Contains(t, lines[0], "WARN citadel: policy service failed")
	assert.Contains(t, lines[0], "failure=status")
	assert.Contains(t, lines[0], "fallback=deny")

	broken.Store(false)
	for range 3 {
		res, err := a.Evaluate(tenantCtx(), req)
		require.NoError(t, err)
		assert.True(t, res.Authorized)
	}
	lines = h.lines()
	require.Len(t, lines, 2, "%q", lines)
	assert.Contains(t, lines[1], "INFO citadel: policy service answers again")

	broken.Store(true)
	_, err = a.Evaluate(tenantCtx(), req)
	require.NoError(t, err)
	assert.Len(t, h.lines(), 2, "no second warning within the interval")
}

// --- the fallback evaluator fails --------------------------------------------------

type failingEvaluator struct{}

var errBroken = errors.New("rules unavailable")

func (failingEvaluator) Evaluate(context.Context, ports.PolicyRequest) (ports.PolicyResult, error) {
	return ports.PolicyResult{Source: ports.SourceRBAC}, errBroken
}

func (failingEvaluator) PermittedFilters(context.Context, *ports.UserContext, string, ports.Action) ([]ports.Filter, error) {
	return nil, errBroken
}

func TestFallbackEvaluatorError(t *testing.T) {
	srv := serve(t, answer{status: 503})
	a := newAdapter(t, citadel.Config{Endpoint: srv.URL, Fallback: citadel.FallbackRBAC}, citadel.WithFallback(failingEvaluator{}))
	res, err := a.Evaluate(tenantCtx(), permtest.Case{Who: permtest.Manager, Action: ports.ActionRead}.Request())
	assert.ErrorIs(t, err, errBroken)
	assert.False(t, res.Authorized)
	_, err = a.PermittedFilters(tenantCtx(), permtest.Manager.UserContext(), "Invoice", ports.ActionRead)
	assert.ErrorIs(t, err, errBroken)
}

// TestSystemPrincipalNeverAsksTheService: the framework's own work (reading
// settings for the maintenance check, writing error logs) must not depend on
// the policy service, which may be down.
func TestSystemPrincipalNeverAsksTheService(t *testing.T) {
	a, err := citadel.New(citadel.Config{Endpoint: "http://127.0.0.1:1/down", Format: "citadel", TimeoutMS: 50})
	require.NoError(t, err)
	ctx := ports.WithTenantID(context.Background(), "t")
	res, err := a.Evaluate(ctx, ports.PolicyRequest{PrincipalID: "system", Roles: []string{ports.RoleSystem}, DocType: "System Settings", Action: ports.ActionRead})
	require.NoError(t, err)
	assert.True(t, res.Authorized)
	f, err := a.PermittedFilters(ctx, &ports.SystemUser, "System Settings", ports.ActionRead)
	require.NoError(t, err)
	assert.Nil(t, f)
	res, err = a.Evaluate(ctx, ports.PolicyRequest{PrincipalID: "ann", Roles: []string{"Admin"}, DocType: "System Settings", Action: ports.ActionRead})
	require.NoError(t, err)
	assert.False(t, res.Authorized, "everyone else still gets the fallback (deny)")
}
