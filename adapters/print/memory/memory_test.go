package memory_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/framework-m/framework-m/adapters/print/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/fmtest/printtest"
	"github.com/framework-m/framework-m/ports"
)

func TestContract(t *testing.T) {
	printtest.RunPDF(t, func(*testing.T) ports.PDFConverter { return memory.New() })
}

// TestDownAndConversions: a converter set down answers core.Unavailable
// (what callers fall back on) and records nothing; up again, it records
// each conversion with its options.
func TestDownAndConversions(t *testing.T) {
	c := memory.New()
	c.SetDown(errors.New("stopped"))
	if _, err := c.HTMLToPDF(context.Background(), ports.Rendered{HTML: []byte("<p>x</p>")}, ports.PDFOptions{}); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("down: %v", err)
	}
	if err := c.IsAvailable(context.Background()); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("down IsAvailable: %v", err)
	}
	c.SetDown(nil)
	r, err := c.HTMLToPDF(context.Background(), ports.Rendered{HTML: []byte("<p>a (b) \\ c</p>")}, ports.PDFOptions{PageSize: ports.PageLetter, Title: "T"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	if got := c.Conversions(); len(got) != 1 || got[0].Options.PageSize != ports.PageLetter || string(got[0].Page.HTML) != "<p>a (b) \\ c</p>" {
		t.Errorf("conversions: %+v", got)
	}
	if !strings.Contains(string(b), `(a \(b\) \\ c) Tj`) {
		t.Errorf("parentheses and backslashes escaped in the PDF string: %s", b)
	}
}
