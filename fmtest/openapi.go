package fmtest

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/framework-m/framework-m/fmtest/openapitest"
)

// EnvOpenAPI turns the OpenAPI check of every test app's clients on or
// off: "off" (or "0") leaves it off, anything else (unset included) turns
// it on for every app New and NewWithConfig build.
const EnvOpenAPI = "FM_TEST_OPENAPI"

// openAPICheck is the validator the clients of an app check their
// exchanges with, and the test that reports mismatches.
type openAPICheck struct {
	t testing.TB
	v *openapitest.Validator
}

// ValidateOpenAPI makes every client of a made from now on (As, Anonymous,
// Bearer, Browser, On) check each request and response against the app's
// OpenAPI document (App.OpenAPI: every route and DocType, whatever
// [openapi] expose says) and report mismatches with t.Errorf (see package
// openapitest for what counts as one). It returns the validator. It fails
// t when the document cannot be built or parsed.
func ValidateOpenAPI(t testing.TB, a *App) *openapitest.Validator {
	t.Helper()
	v, err := a.validateOpenAPI(t)
	if err != nil {
		t.Fatalf("fmtest: %v", err)
	}
	return v
}

// validateOpenAPI is ValidateOpenAPI returning its error.
func (a *App) validateOpenAPI(t testing.TB) (*openapitest.Validator, error) {
	a.openapi = nil
	doc, err := a.OpenAPI()
	if err != nil {
		return nil, fmt.Errorf("build the OpenAPI document: %w", err)
	}
	v, err := openapitest.New(doc)
	if err != nil {
		return nil, err
	}
	a.openapi = &openAPICheck{t: t, v: v}
	return v, nil
}

// openAPIByDefault reports whether New checks every app's traffic against
// its OpenAPI document (FM_TEST_OPENAPI).
func openAPIByDefault() bool {
	switch os.Getenv(EnvOpenAPI) {
	case "off", "0", "false":
		return false
	}
	return true
}

// httpClient is the HTTP client of a's test clients: the test server's,
// checking each exchange against the OpenAPI document once
// ValidateOpenAPI ran.
func (a *App) httpClient() *http.Client {
	c := a.Server.Client()
	if a.openapi == nil {
		return c
	}
	hc := *c
	hc.Transport = a.openapi.v.Transport(a.openapi.t, c.Transport)
	return &hc
}
