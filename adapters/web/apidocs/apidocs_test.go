package apidocs_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/web/apidocs"
)

// TestScriptIsTheRelease: the embedded bundle is the Redoc release it says.
func TestScriptIsTheRelease(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(apidocs.ScriptGzip()))
	require.NoError(t, err)
	h := sha256.New()
	_, err = io.Copy(h, zr)
	require.NoError(t, err)
	assert.Equal(t, apidocs.ScriptSHA256, hex.EncodeToString(h.Sum(nil)))
}

// TestPageEscapes: the page's values cannot break out of their attributes.
func TestPageEscapes(t *testing.T) {
	var b strings.Builder
	require.NoError(t, apidocs.WritePage(&b, apidocs.PageData{Title: `</title><script>x()</script>`, SpecURL: `/a"><script>`,
		ScriptURL: "/api/docs/redoc.standalone.js", InitURL: "/api/docs/init.js"}))
	out := b.String()
	assert.NotContains(t, out, "<script>x()")
	assert.NotContains(t, out, `"><script>`)
	assert.Contains(t, out, `<script src="/api/docs/redoc.standalone.js"></script>`)
	assert.Contains(t, out, "<title>API reference</title>"[:7])
}
