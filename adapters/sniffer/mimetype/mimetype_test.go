package mimetype_test

import (
	"archive/zip"
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/framework-m/framework-m/adapters/sniffer/mimetype"
)

var (
	png  = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	pdf  = []byte("%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
	jpeg = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
	gif  = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00")
	html = []byte("<!DOCTYPE html><html><head><script>alert(1)</script></head></html>")
	svg  = []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
)

func docx(t *testing.T) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, name := range []string{"[Content_Types].xml", "word/document.xml"} {
		f, err := w.Create(name)
		assert.NoError(t, err)
		_, _ = f.Write([]byte("<xml/>"))
	}
	assert.NoError(t, w.Close())
	return b.Bytes()
}

func TestSniff(t *testing.T) {
	s := mimetype.New()
	for _, c := range []struct {
		name  string
		head  []byte
		ext   string
		want  string
		agree bool
	}{
		{"png", png, "png", "image/png", true},
		{"png named pdf", png, "pdf", "image/png", false},
		{"pdf", pdf, "pdf", "application/pdf", true},
		{"pdf named png", pdf, "png", "application/pdf", false},
		{"jpeg as jpg", jpeg, "jpg", "image/jpeg", true},
		{"jpeg as jpeg", jpeg, "jpeg", "image/jpeg", true},
		{"gif", gif, "gif", "image/gif", true},
		{"text", []byte("hello, world\n"), "txt", "text/plain; charset=utf-8", true},
		{"csv", []byte("a,b,c\n1,2,3\n4,5,6\n"), "csv", "text/csv", true},
		{"one-column csv reads as text", []byte("a\n1\n"), "csv", "text/plain; charset=utf-8", true},
		{"csv is text", []byte("a,b,c\n1,2,3\n4,5,6\n"), "txt", "text/csv", true},
		{"html named txt", html, "txt", "text/html; charset=utf-8", false},
		{"html named png", html, "png", "text/html; charset=utf-8", false},
		{"html", html, "html", "text/html; charset=utf-8", true},
		{"svg named png", svg, "png", "image/svg+xml", false},
		{"svg named txt", svg, "txt", "image/svg+xml", false},
		{"svg", svg, "svg", "image/svg+xml", true},
		{"xml named txt", []byte(`<?xml version="1.0"?><a/>`), "txt", "text/xml", false},
		{"docx", docx(t), "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", true},
		{"docx named pdf", docx(t), "pdf", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", false},
		{"binary named txt", []byte{0, 1, 2, 3, 0xff, 0xfe, 0}, "txt", "application/octet-stream", false},
		{"empty named txt", nil, "txt", "text/plain", true},
	} {
		got, agree := s.Sniff(c.head, c.ext)
		assert.Equal(t, c.agree, agree, c.name)
		assert.True(t, strings.HasPrefix(got, c.want), "%s: %s", c.name, got)
	}
}
