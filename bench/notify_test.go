package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/framework-m/framework-m/core/notify"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// notifyClients is how many WebSocket clients the fan-out benchmark opens.
const notifyClients = 1000

// Environment of the client process (see TestNotifyClients).
const (
	envNotifyURL     = "FM_BENCH_NOTIFY_URL"
	envNotifyClients = "FM_BENCH_NOTIFY_CLIENTS"
)

// BenchmarkNotifyFanOut opens 1,000 WebSocket streams of 1,000 users
// (/api/v1/notifications/stream) on one instance (SQLite, in-process hub) and,
// per iteration, creates one notification for each user with Notify,
// one after another, as fast as the database commits them. The clients run in
// a process of their own (this test binary again, TestNotifyClients), so that
// the server's memory is measured alone. It reports the delivery latency of
// each notification, from the start of its Notify call (the database commit
// included) to its arrival at the client (p50-ms, p99-ms), the server's heap
// and stack growth per open stream (server-B/conn; the goal: ≤ 16 KiB), its
// goroutines per stream (goroutines/conn), and the client process's own
// figure (client-B/conn) for comparison.
func BenchmarkNotifyFanOut(b *testing.B) {
	cfg := fmtest.Config(b, fmtest.SQLite)
	cfg.Notifications.PingIntervalSeconds = 30
	cfg.Notifications.RecheckSeconds = 5
	app := fmtest.NewWithConfig(b, cfg)

	heap0, stack0, goroutines0 := serverMemory()
	clients := startClients(b, app.URL, notifyClients)
	deadline := time.Now().Add(60 * time.Second)
	for app.Notifications.Count() < notifyClients {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d streams open", app.Notifications.Count(), notifyClients)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let the handlers' goroutines finish
	heap1, stack1, goroutines1 := serverMemory()
	perConn := func(a, b uint64) float64 { return float64(int64(b)-int64(a)) / notifyClients }

	ctx := app.SystemContext(context.Background(), "")
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for u := range notifyClients {
			sent := time.Now()
			_, err := app.Notifications.Notify(ctx, benchUser(u), notify.Notification{
				Subject: "round " + strconv.Itoa(i), Metadata: map[string]any{"sent": sent.UnixNano()},
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		lat = append(lat, clients.await(b, notifyClients)...)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(perConn(heap0+stack0, heap1+stack1), "server-B/conn")
	b.ReportMetric(perConn(heap0, heap1), "server-heap-B/conn")
	b.ReportMetric(perConn(stack0, stack1), "server-stack-B/conn")
	b.ReportMetric(float64(goroutines1-goroutines0)/notifyClients, "goroutines/conn")
	b.ReportMetric(clients.perConn, "client-B/conn")
	b.ReportMetric(0, "ns/op")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func benchUser(i int) string { return fmt.Sprintf("user%04d", i) }

// serverMemory returns the heap and the stacks in use after a collection,
// and the number of goroutines.
func serverMemory() (heap, stack uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse, runtime.NumGoroutine()
}

// clientProcess is the process holding the benchmark's WebSocket clients:
// it reports each notification's latency on its standard output.
type clientProcess struct {
	cmd     *exec.Cmd
	lat     chan time.Duration
	perConn float64
}

// startClients runs TestNotifyClients in a child process with n clients of
// app at url, and waits for them to connect.
func startClients(b *testing.B, url string, n int) *clientProcess {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestNotifyClients$", "-test.v")
	cmd.Env = append(os.Environ(), envNotifyURL+"="+url, envNotifyClients+"="+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p := &clientProcess{cmd: cmd, lat: make(chan time.Duration, 100*n)}
	ready := make(chan float64, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "L":
				ns, _ := strconv.ParseInt(f[1], 10, 64)
				p.lat <- time.Duration(ns)
			case len(f) == 2 && f[0] == "READY":
				v, _ := strconv.ParseFloat(f[1], 64)
				ready <- v
			}
		}
		close(p.lat)
	}()
	select {
	case p.perConn = <-ready:
	case <-time.After(120 * time.Second):
		b.Fatal("the client process did not connect its clients")
	}
	return p
}

// await collects n latencies.
func (p *clientProcess) await(b *testing.B, n int) []time.Duration {
	out := make([]time.Duration, 0, n)
	timeout := time.After(60 * time.Second)
	for len(out) < n {
		select {
		case d, ok := <-p.lat:
			if !ok {
				b.Fatalf("the client process ended after %d of %d notifications", len(out), n)
			}
			out = append(out, d)
		case <-timeout:
			b.Fatalf("%d of %d notifications arrived", len(out), n)
		}
	}
	return out
}

// TestNotifyClients is the benchmark's client process (it runs only when
// BenchmarkNotifyFanOut starts it): it opens the streams of users 0…n-1,
// prints "READY <heap and stack bytes per client>", then "L <latency ns>"
// for each notification received (its metadata carries when it was sent).
func TestNotifyClients(t *testing.T) {
	url := os.Getenv(envNotifyURL)
	if url == "" {
		t.Skip("the client process of BenchmarkNotifyFanOut")
	}
	n, _ := strconv.Atoi(os.Getenv(envNotifyClients))
	wsURL := "ws" + strings.TrimPrefix(url, "http") + "/api/v1/notifications/stream"
	h0, s0, _ := serverMemory()
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	conns := make([]*websocket.Conn, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			u, _ := json.Marshal(&ports.UserContext{ID: benchUser(i)})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{fmtest.HeaderUser: {string(u)}}})
			if err != nil {
				t.Errorf("dial %d: %v", i, err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var readers sync.WaitGroup
	for _, c := range conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				_, data, err := c.Read(context.Background())
				if err != nil {
					return
				}
				now := time.Now()
				var f struct {
					Data struct {
						Metadata struct {
							Sent int64 `json:"sent"`
						} `json:"metadata"`
					} `json:"data"`
				}
				if json.Unmarshal(data, &f) != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintf(w, "L %d\n", now.UnixNano()-f.Data.Metadata.Sent)
				if w.Buffered() > 32<<10 {
					w.Flush()
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // the readers are waiting
	h1, s1, _ := serverMemory()
	fmt.Fprintf(w, "READY %.0f\n", float64(int64(h1+s1)-int64(h0+s0))/float64(n))
	w.Flush()
	// Flush what was received, until the benchmark kills the process.
	for {
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		w.Flush()
		mu.Unlock()
	}
}
