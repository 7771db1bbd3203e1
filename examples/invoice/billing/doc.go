// Package billing is the example app's own part: the Invoice DocType, its
// rules and a subscriber to its changes. The invoice command serves it; the
// load benchmarks in bench/ drive the same app.
package billing

import frameworkm "github.com/framework-m/framework-m"

// Options is everything the example app adds to the framework.
func Options() []frameworkm.Option {
	return []frameworkm.Option{frameworkm.WithDocType[Invoice](InvoiceMeta)}
}
