package frameworkm

import (
	"context"
	"fmt"
	"time"

	"github.com/framework-m/framework-m/adapters/print/gotenberg"
	printmemory "github.com/framework-m/framework-m/adapters/print/memory"
	printtemplate "github.com/framework-m/framework-m/adapters/print/template"
	"github.com/framework-m/framework-m/core/config"
	printing "github.com/framework-m/framework-m/core/print"
	"github.com/framework-m/framework-m/ports"
)

// builtinRenderers are the template renderers [print] renderer may name.
// Their settings are [print]'s own flat keys (template_dir,
// render_timeout_ms, max_output_size); a registered renderer reads
// [print.<name>].
var builtinRenderers = map[string]Backend[ports.TemplateRenderer]{
	"html": Factory(func(d Deps) (ports.TemplateRenderer, error) {
		return printtemplate.New(rendererConfig(d.Config.Print))
	}),
}

// builtinPDFConverters are the PDF converters [print] pdf_backend may name;
// "memory" writes plain PDFs of the page's text in process (apps' tests);
// "none" builds none (PDF requests answer HTML with a warning). Gotenberg's
// settings are [print]'s flat keys, as in the Python framework.
var builtinPDFConverters = map[string]Backend[ports.PDFConverter]{
	"gotenberg": Factory(func(d Deps) (ports.PDFConverter, error) {
		gc := gotenbergConfig(d.Config.Print)
		gc.TracerProvider = d.Tracer
		return gotenberg.New(gc)
	}),
	"memory": Factory(func(Deps) (ports.PDFConverter, error) { return printmemory.New(), nil }),
	"none":   Factory(func(Deps) (ports.PDFConverter, error) { return nil, nil }),
}

func rendererConfig(p config.Print) printtemplate.Config {
	return printtemplate.Config{
		TemplateDir: p.TemplateDir,
		Timeout:     time.Duration(p.RenderTimeoutMS) * time.Millisecond,
		MaxOutput:   int(p.MaxOutputBytes()),
	}
}

func gotenbergConfig(p config.Print) gotenberg.Config {
	retries := p.Retries
	if retries == 0 {
		retries = gotenberg.NoRetries
	}
	return gotenberg.Config{
		URL: p.GotenbergURL, Timeout: time.Duration(p.TimeoutMS) * time.Millisecond, Retries: retries,
		DefaultPageSize: p.DefaultPageSize,
		MarginTop:       p.MarginTop, MarginBottom: p.MarginBottom, MarginLeft: p.MarginLeft, MarginRight: p.MarginRight,
	}
}

// checkPrint reports what the selected built-in PDF converter lacks.
func checkPrint(cfg config.Config) []config.Problem {
	if cfg.Print.PDFBackend != "gotenberg" {
		return nil
	}
	if err := gotenbergConfig(cfg.Print).Validate(); err != nil {
		return []config.Problem{{Key: "print.gotenberg_url", Reason: err.Error()}}
	}
	return nil
}

// WithTemplateRenderer adds a template renderer under name, to be chosen
// with [print] renderer and configured in [print.<name>].
func WithTemplateRenderer(name string, b Backend[ports.TemplateRenderer]) Option {
	return func(o *options) { o.renderers.register(name, b) }
}

// WithPDFBackend adds a PDF converter under name, to be chosen with [print]
// pdf_backend and configured in [print.<name>].
func WithPDFBackend(name string, b Backend[ports.PDFConverter]) Option {
	return func(o *options) { o.pdfs.register(name, b) }
}

// buildPrint builds [print] renderer and pdf_backend and the print service
// over them.
func (a *App) buildPrint(o *options, d Deps) error {
	p := a.Config.Print
	renderer, err := o.renderers.build(d, "print.renderer", p.Renderer)
	if err != nil {
		return err
	}
	if renderer == nil {
		return fmt.Errorf("print.renderer = %q built no renderer", p.Renderer)
	}
	a.adopt(renderer)
	pdf, err := o.pdfs.build(d, "print.pdf_backend", p.PDFBackend)
	if err != nil {
		return err
	}
	if pdf != nil {
		a.adopt(pdf)
	}
	settings := printing.SettingsFunc(func(ctx context.Context) (any, error) {
		snap, err := a.Settings.Get(ctx)
		if err != nil {
			return nil, err
		}
		return snap.Doc, nil
	})
	a.Print = printing.New(a.Resources, a.Repository, settings, renderer, pdf, printing.Options{
		DefaultPageSize: p.DefaultPageSize,
		MarginTop:       p.MarginTop, MarginBottom: p.MarginBottom, MarginLeft: p.MarginLeft, MarginRight: p.MarginRight,
		MaxConversions: p.MaxConversions, QueueWait: time.Duration(p.QueueWaitMS) * time.Millisecond,
		Logger: a.Logger,
		Meter:  a.Meter,
	})
	return nil
}
