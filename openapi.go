package frameworkm

import (
	"github.com/framework-m/framework-m/adapters/web"
	"github.com/framework-m/framework-m/core/config"
)

// OpenAPI returns the app's OpenAPI 3.1 document as JSON: every route the
// framework and the app registered, and the schemas of every registered
// DocType, whatever [openapi] expose says (that setting is only about
// serving it). `server openapi` prints it.
func (a *App) OpenAPI() ([]byte, error) { return a.web.OpenAPI() }

// openAPIOptions are [openapi]'s settings for the web adapter; the title
// defaults to [app] name.
func openAPIOptions(cfg config.Config) web.OpenAPIOptions {
	title := cfg.OpenAPI.Title
	if title == "" {
		title = cfg.App.Name + " API"
	}
	return web.OpenAPIOptions{Expose: cfg.OpenAPI.Expose, Title: title, Version: cfg.OpenAPI.Version, Servers: cfg.OpenAPI.Servers}
}
