package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/email/smtp"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/smtptest"
	"github.com/framework-m/framework-m/ports"
)

// BenchmarkEmailQueue measures emails per second from the queue to
// mailpit (FM_TEST_SMTP_ADDR): b.N emails are queued first, then the
// workers drain them; the time is from the workers' start until every
// email is recorded Sent. Goal: ≥ 2,000/s with 16 workers on PostgreSQL.
// The "log" cases replace SMTP with the log sender: the queue's own cost.
func BenchmarkEmailQueue(b *testing.B) {
	for _, sender := range []string{"smtp", "log"} {
		for _, driver := range []fmtest.Driver{fmtest.SQLite, fmtest.Postgres} {
			for _, workers := range []int{1, 4, 16} {
				b.Run(fmt.Sprintf("%s/%s/workers=%d", sender, driver, workers), func(b *testing.B) {
					benchEmailQueue(b, sender, driver, workers)
				})
			}
		}
	}
}

func benchEmailQueue(b *testing.B, sender string, driver fmtest.Driver, workers int) {
	cfg := fmtest.Config(b, driver)
	cfg.Email.Queue.Workers = workers
	cfg.Email.Queue.BatchSize = 50
	cfg.Email.Queue.PollIntervalMS = 20
	run := "bench-" + fmt.Sprint(time.Now().UnixNano())
	if sender == "smtp" {
		mp := smtptest.MailpitFromEnv(b)
		cfg.Email.Sender = "smtp"
		cfg.SetSection("email.smtp", mp.Section())
	} else {
		cfg.Email.Sender = "log"
	}
	log := slog.New(slog.DiscardHandler)
	app, err := frameworkm.New(cfg, frameworkm.WithLogger(log))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = app.Shutdown(context.Background()) })
	ctx := app.SystemContext(context.Background(), "")
	queue := func(n int) {
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 8 {
			wg.Go(func() {
				for i := next.Add(1); i <= int64(n); i = next.Add(1) {
					if _, err := app.QueueEmail(ctx, email.Request{
						To:      []ports.EmailAddress{{Address: fmt.Sprintf("user%d@example.com", i)}},
						Subject: fmt.Sprintf("%s %d", run, i), Text: "Your invoice is attached.", HTML: "<p>Your invoice is <b>attached</b>.</p>",
					}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	sent := func() int {
		_, n, err := app.Email.Queue().List(ctx, ports.EmailQueueFilter{Status: ports.EmailSent, Limit: 1})
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	b.StopTimer()
	queue(b.N)
	b.StartTimer()
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	began := time.Now()
	go func() { app.Email.Run(runCtx); close(done) }()
	for sent() < b.N {
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(began)
	b.StopTimer()
	stop()
	<-done
	b.ReportMetric(float64(b.N)/took.Seconds(), "emails/s")
}

// BenchmarkSMTPSend measures the SMTP sender alone into mailpit, 16 at
// once over kept connections: the ceiling of the queue's smtp cases on
// this machine.
func BenchmarkSMTPSend(b *testing.B) {
	mp := smtptest.MailpitFromEnv(b)
	cfg := smtp.DefaultConfig()
	cfg.Host, cfg.Port, cfg.Security = mp.Host, mp.Port, smtp.SecurityNone
	s, err := smtp.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	msg := ports.EmailMessage{
		MessageID: "bench@example.com", From: ports.EmailAddress{Address: "app@example.com"},
		To:      []ports.EmailAddress{{Address: "ann@example.com"}},
		Subject: "bench sender", Text: "Your invoice is attached.", HTML: "<p>Your invoice is <b>attached</b>.</p>",
	}
	b.SetParallelism(8) // 16 senders on 2 cores: mailpit takes more at once
	began := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Send(context.Background(), msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "emails/s")
}

// BenchmarkDraftAutoSave is one auto-save, PUT /api/v1/email/drafts/{id}
// in process: the middleware chain, the version check, the save and its
// history entry, in one transaction; each save edits the body of a 4 KB
// draft with three recipients, as an email client saving every few
// seconds does.
func BenchmarkDraftAutoSave(b *testing.B) {
	for _, driver := range []fmtest.Driver{fmtest.SQLite, fmtest.Postgres} {
		b.Run(string(driver), func(b *testing.B) {
			cfg := fmtest.Config(b, driver)
			cfg.App.LogLevel = "error"
			cfg.RateLimit.Enabled = false
			cfg.Email.Queue.Workers = 0
			app := fmtest.NewWithConfig(b, cfg)
			h := app.Handler()
			body := strings.Repeat("Quarterly figures attached. ", 150)
			version := 0
			save := func() {
				raw, err := json.Marshal(map[string]any{
					"version": version, "device_id": "laptop", "subject": "Q3 report",
					"to":   []map[string]string{{"address": "ann@example.com", "name": "Ann"}, {"address": "bob@example.com"}},
					"cc":   []map[string]string{{"address": "cfo@example.com"}},
					"body": fmt.Sprint(body, version), "body_html": "<p>" + body + "</p>",
				})
				if err != nil {
					b.Fatal(err)
				}
				req := httptest.NewRequest(http.MethodPut, "/api/v1/email/drafts/q3-report", bytes.NewReader(raw))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(fmtest.HeaderUser, `{"id":"bench","roles":["Employee"]}`)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK && rec.Code != http.StatusCreated {
					b.Fatalf("PUT draft: %d %s", rec.Code, rec.Body)
				}
				var out struct {
					Data struct {
						Version int `json:"version"`
					} `json:"data"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
					b.Fatal(err)
				}
				version = out.Data.Version
			}
			save()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				save()
			}
		})
	}
}
