// Package mimetype is the ports.ContentSniffer of github.com/gabriel-vasile/mimetype:
// it tells a file's type from its first bytes (magic numbers, and the entries
// of zip-based office files) and whether that type fits the file's
// extension.
package mimetype

import (
	"slices"

	"github.com/gabriel-vasile/mimetype"

	"github.com/framework-m/framework-m/ports"
)

// Sniffer detects types with the mimetype library.
type Sniffer struct{}

// New returns the sniffer.
func New() Sniffer { return Sniffer{} }

// also lists, per extension, the types that agree with it besides those
// whose own extension it is (or whose ancestors' is): other names of one
// format, plain text for text formats a short sample cannot tell apart, and
// the containers office formats are when the sample is too short to see
// inside.
var also = map[string][]string{
	"jpeg": {"image/jpeg"},
	"jpe":  {"image/jpeg"},
	"tif":  {"image/tiff"},
	"htm":  {"text/html"},
	"csv":  {"text/plain"},
	"tsv":  {"text/plain"},
	"md":   {"text/plain"},
	"log":  {"text/plain"},
	"doc":  {"application/x-ole-storage"},
	"xls":  {"application/x-ole-storage"},
	"ppt":  {"application/x-ole-storage"},
	"msg":  {"application/x-ole-storage"},
	"docx": {"application/zip"},
	"xlsx": {"application/zip"},
	"pptx": {"application/zip"},
	"odt":  {"application/zip"},
	"ods":  {"application/zip"},
}

// active are types a browser runs (markup that may hold scripts): they
// agree only with their own extensions, never as the text they also are.
var active = []string{"text/html", "image/svg+xml", "text/xml", "application/xml", "application/xhtml+xml", "text/javascript", "application/javascript", "application/x-javascript"}

// Sniff returns the MIME type of content beginning with head and whether a
// file named *.ext may hold it: the type, or one of its ancestors (CSV is
// text), has ext as its extension, or the table above says so. Active types
// (HTML, SVG, XML, JavaScript) agree with their own extensions only.
func (Sniffer) Sniff(head []byte, ext string) (string, bool) {
	detected := mimetype.Detect(head)
	if slices.ContainsFunc(active, detected.Is) {
		return detected.String(), detected.Extension() == "."+ext || slices.ContainsFunc(also[ext], detected.Is)
	}
	for m := detected; m != nil; m = m.Parent() {
		if m.Extension() == "."+ext || slices.ContainsFunc(also[ext], m.Is) {
			return detected.String(), true
		}
	}
	return detected.String(), false
}

var _ ports.ContentSniffer = Sniffer{}
