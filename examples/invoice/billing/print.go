package billing

// InvoiceTemplate is the app's print format for invoices: save it as a
// Print Format (doctype "Invoice", is_default true) and
// GET /api/v1/print/Invoice/{name} prints with it. It reads the invoice
// through .doc, the tenant's settings through .settings, and formats the
// amount by the invoice's currency.
const InvoiceTemplate = `<h1>{{.settings.app_name}} — Invoice {{.doc.name}}</h1>
<table class="fm-fields">
<tr><th>Customer</th><td>{{.doc.customer}}</td></tr>
<tr><th>Date</th><td>{{date .doc.created_at}}</td></tr>
<tr><th>Status</th><td>{{.doc.status}}</td></tr>
<tr><th>Amount due</th><td class="fm-num"><strong>{{currency .doc.amount .doc.currency}}</strong></td></tr>
</table>
{{if eq .doc.status "Paid"}}<p class="paid">Paid — thank you.</p>{{else}}<p>Please pay within 30 days.</p>{{end}}
`

// InvoiceCSS styles InvoiceTemplate.
const InvoiceCSS = `h1{color:#1a4d8f}.paid{color:#1b7f3b;font-weight:bold}`
