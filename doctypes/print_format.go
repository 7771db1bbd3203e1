package doctypes

import (
	"regexp"
	"slices"
	"strings"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// PrintFormat is how documents of one DocType print: an html/template
// template (inline, or "file:<path>" under [print] template_dir), its CSS,
// header and footer, and the page. The print API picks the format named in
// the request, else the DocType's default, else a layout generated from the
// DocType's Meta. Templates are checked when saved (core/print guards the
// resource API): a syntax error is a 400 naming the line, and nothing is
// saved.
type PrintFormat struct {
	doctype.Base
	// DocType names the DocType it prints ("Invoice").
	DocType string `json:"doctype" gorm:"column:doctype;size:140"`
	// Template is the page's template text, or "file:<path>" for a file
	// under [print] template_dir.
	Template string `json:"template" gorm:"size:262144"`
	// IsDefault makes it the DocType's format when a request names none:
	// at most one enabled default per DocType and tenant.
	IsDefault bool `json:"is_default"`
	// Disabled formats are never used.
	Disabled bool `json:"disabled"`
	// CSS styles the page.
	CSS string `json:"css" gorm:"size:65536"`
	// HeaderHTML and FooterHTML are templates repeated on every page.
	HeaderHTML string `json:"header_html" gorm:"size:65536"`
	FooterHTML string `json:"footer_html" gorm:"size:65536"`
	// PageSize is A4, Letter, Legal, A3 or A5 ("" : [print] default_page_size).
	PageSize string `json:"page_size" gorm:"size:10"`
	// Orientation is portrait or landscape.
	Orientation string `json:"orientation" gorm:"size:10"`
	// Margins are CSS lengths with a unit ("15mm", "0.5in"); "" : [print]'s.
	MarginTop    string `json:"margin_top" gorm:"size:20"`
	MarginBottom string `json:"margin_bottom" gorm:"size:20"`
	MarginLeft   string `json:"margin_left" gorm:"size:20"`
	MarginRight  string `json:"margin_right" gorm:"size:20"`
	// DefaultFor is DocType while the format is its enabled default, else
	// NULL: a unique index on it keeps one default per DocType and tenant,
	// even when two are saved at once.
	DefaultFor *string `json:"-" gorm:"size:140"`
}

// PrintFormatDocType is PrintFormat's DocType name.
const PrintFormatDocType = "Print Format"

// Orientations of a print format.
const (
	OrientationPortrait  = "portrait"
	OrientationLandscape = "landscape"
)

// PrintFormatMeta describes PrintFormat: named by its author, read by every
// user (printing needs only read on the printed document), written by
// admins and by the roles an app grants it to.
var PrintFormatMeta = doctype.Meta{
	Name:        PrintFormatDocType,
	Description: "Print formats: the templates, styles and pages documents print with.",
	Naming:      "prompt",
	Permissions: []doctype.Rule{
		{Role: ports.RoleAll, Actions: doctype.Read},
		{Role: ports.RoleAdmin, Actions: doctype.All},
	},
	Unique:  [][]string{{"default_for"}},
	Indexes: [][]string{{"doctype"}},
}

// Defaults starts a format as portrait.
func (p *PrintFormat) Defaults() { p.Orientation = OrientationPortrait }

// cssLength is a margin: a number and a unit.
var cssLength = regexp.MustCompile(`^[0-9]{1,4}(\.[0-9]{1,3})?(mm|cm|in|pt|px)$`)

// ValidMargin reports whether m is "" or a CSS length a print format may use.
func ValidMargin(m string) bool { return m == "" || cssLength.MatchString(m) }

// Validate checks the fields that need no other document; the template's
// syntax is checked by core/print when the format is saved.
func (p *PrintFormat) Validate() error {
	v := &core.ValidationError{}
	if strings.TrimSpace(p.DocType) == "" {
		v.Add("doctype", "is required")
	}
	if p.PageSize != "" {
		if _, ok := ports.PageSizes[p.PageSize]; !ok {
			v.Add("page_size", "must be one of A4, Letter, Legal, A3, A5")
		}
	}
	if p.Orientation == "" {
		p.Orientation = OrientationPortrait
	}
	if !slices.Contains([]string{OrientationPortrait, OrientationLandscape}, p.Orientation) {
		v.Add("orientation", "must be portrait or landscape")
	}
	for _, m := range []struct{ field, value string }{
		{"margin_top", p.MarginTop}, {"margin_bottom", p.MarginBottom},
		{"margin_left", p.MarginLeft}, {"margin_right", p.MarginRight},
	} {
		if !ValidMargin(m.value) {
			v.Add(m.field, "must be a length with a unit (mm, cm, in, pt or px) such as 15mm")
		}
	}
	if p.IsDefault && !p.Disabled {
		dt := p.DocType
		p.DefaultFor = &dt
	} else {
		p.DefaultFor = nil
	}
	return v.Err()
}
