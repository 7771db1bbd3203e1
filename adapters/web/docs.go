package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/adapters/web/apidocs"
)

// DocsPath is the API reference page: the OpenAPI document rendered by the
// embedded Redoc (see package apidocs).
const DocsPath = "/api/docs"

// docsCSP lets the page run only its own scripts: Redoc's bundle and its
// start script, both served here; styles inline (Redoc's styled
// components), images from data: URLs, the document fetched from this
// origin, and Redoc's search worker from a blob: URL.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// docsHandler serves the reference page and its scripts.
type docsHandler struct {
	title string
}

// bindDocs serves the reference page at DocsPath (with its scripts beside
// it) as [openapi] expose says: "off" not at all; "authenticated" behind
// mws and RequireUser, like the document; "public" behind mws to anyone.
// The page holds nothing but the viewer: what it shows comes from the
// document, fetched with the browser's credentials.
func bindDocs(e *echo.Echo, mws []echo.MiddlewareFunc, expose, title string, docs *routeDocs) {
	if expose == OpenAPIOff {
		return
	}
	who := public
	if expose != OpenAPIPublic {
		mws, who = append(mws, RequireUser), signedIn
	}
	h := docsHandler{title: title}
	js := func(what string) route {
		return route{tag: "Meta", summary: what, access: who, responses: replies(replyAs(http.StatusOK, what, "text/javascript", str()))}
	}
	docs.add(e.GET(DocsPath, h.page, mws...), route{tag: "Meta", summary: "The API reference page", access: who,
		description: "This document rendered by Redoc (embedded: nothing loads from a CDN).",
		responses:   replies(replyAs(http.StatusOK, "the page", "text/html", str()))})
	docs.add(e.GET(DocsPath+"/redoc.standalone.js", h.script, mws...), js("Redoc's script"))
	docs.add(e.GET(DocsPath+"/init.js", h.init, mws...), js("The page's start script"))
}

func (h docsHandler) page(c echo.Context) error {
	var b bytes.Buffer
	if err := apidocs.WritePage(&b, apidocs.PageData{Title: h.title, SpecURL: APIPrefix + "/openapi.json",
		ScriptURL: DocsPath + "/redoc.standalone.js", InitURL: DocsPath + "/init.js"}); err != nil {
		return err
	}
	hdr := c.Response().Header()
	hdr.Set("Content-Security-Policy", docsCSP)
	hdr.Set(echo.HeaderXContentTypeOptions, "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set(echo.HeaderCacheControl, "no-cache")
	return c.HTMLBlob(http.StatusOK, b.Bytes())
}

// script serves Redoc's bundle, gzipped to clients that take it (all
// browsers), else decompressed as it is sent.
func (h docsHandler) script(c echo.Context) error {
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderXContentTypeOptions, "nosniff")
	hdr.Set(echo.HeaderCacheControl, "public, max-age=86400")
	hdr.Set("ETag", `"redoc-`+apidocs.Version+`"`)
	hdr.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if c.Request().Header.Get("If-None-Match") == hdr.Get("ETag") {
		return c.NoContent(http.StatusNotModified)
	}
	const ct = "text/javascript; charset=utf-8"
	if acceptsGzip(c.Request()) {
		hdr.Set(echo.HeaderContentEncoding, "gzip")
		return c.Blob(http.StatusOK, ct, apidocs.ScriptGzip())
	}
	zr, err := gzip.NewReader(bytes.NewReader(apidocs.ScriptGzip()))
	if err != nil {
		return err
	}
	return c.Stream(http.StatusOK, ct, io.NopCloser(zr))
}

func (h docsHandler) init(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderXContentTypeOptions, "nosniff")
	return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", []byte(apidocs.InitScript))
}

// acceptsGzip reports whether r's Accept-Encoding takes gzip (q > 0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get(echo.HeaderAcceptEncoding), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
