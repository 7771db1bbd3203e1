// Package apidocs holds the API reference page: Redoc's standalone bundle
// (npm package redoc@2.5.1, bundles/redoc.standalone.js, MIT licence in
// REDOC_LICENSE), gzipped and embedded so nothing loads from a CDN at run
// time, and the HTML page that renders an OpenAPI document with it.
//
// To update it:
//
//	npm pack redoc@VERSION && tar xzf redoc-VERSION.tgz
//	gzip -9 -n -c package/bundles/redoc.standalone.js > redoc.standalone.js.gz
//	cp package/bundles/redoc.standalone.js.LICENSE.txt package/LICENSE here (LICENSE as REDOC_LICENSE)
//
// and change Version and ScriptSHA256.
package apidocs

import (
	_ "embed"
	"html/template"
	"io"
	"strings"
)

// Version is the Redoc release embedded.
const Version = "2.5.1"

// ScriptSHA256 is the SHA-256 of the uncompressed bundle (hex), checked by
// the package's test.
const ScriptSHA256 = "2d8d13e94b5a21011cc6f8260d87ca475d0f6f2faed16dd12e7394dfa3bb05b8"

//go:embed redoc.standalone.js.gz
var scriptGzip []byte

// ScriptGzip returns the gzipped bundle (do not modify it).
func ScriptGzip() []byte { return scriptGzip }

var page = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{margin:0;padding:0}</style>
</head>
<body>
<div id="redoc" data-spec-url="{{.SpecURL}}"></div>
<script src="{{.ScriptURL}}"></script>
<script src="{{.InitURL}}"></script>
</body>
</html>
`))

// InitScript starts Redoc on the page's #redoc element with the document at
// its data-spec-url. It is a file of its own, not inline, so the page's
// Content-Security-Policy can forbid inline scripts.
const InitScript = `(function () {
  var el = document.getElementById("redoc");
  Redoc.init(el.getAttribute("data-spec-url"), {
    hideDownloadButton: false, expandResponses: "200,201", jsonSampleExpandLevel: 2
  }, el);
})();
`

// PageData fills the page.
type PageData struct {
	// Title is the browser tab's title.
	Title string
	// SpecURL is where the OpenAPI document is fetched from (same origin).
	SpecURL string
	// ScriptURL serves ScriptGzip; InitURL serves InitScript.
	ScriptURL, InitURL string
}

// WritePage writes the reference page (values HTML-escaped).
func WritePage(w io.Writer, d PageData) error {
	if strings.TrimSpace(d.Title) == "" {
		d.Title = "API reference"
	}
	return page.Execute(w, d)
}
