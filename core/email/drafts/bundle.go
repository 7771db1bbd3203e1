package drafts

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/jsonstrict"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// ExportStats describes an export.
type ExportStats struct {
	// Count is how many drafts it holds.
	Count int
	// TotalSize is the bytes of the drafts' JSON, uncompressed (the
	// bundle's total_size).
	TotalSize int64
	// Uncompressed and Compressed are the bytes of the whole bundle before
	// and after gzip.
	Uncompressed, Compressed int64
}

// Ratio is how many times smaller gzip made the bundle (Uncompressed /
// Compressed).
func (s ExportStats) Ratio() float64 {
	if s.Compressed == 0 {
		return 0
	}
	return float64(s.Uncompressed) / float64(s.Compressed)
}

// countWriter counts what it passes on.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// exportPage is how many drafts Export reads at once.
const exportPage = 100

// Export writes every draft of the caller to w as a gzip-compressed JSON
// bundle, read a page at a time and streamed:
//
//	{"format": "framework-m.email-drafts/1", "exported_at": "…", "drafts": [{…}, …], "count": 2, "total_size": 1234}
//
// Each draft is as Get returns it. Import reads the bundle back.
func (s *Service) Export(ctx context.Context, w io.Writer) (*ExportStats, error) {
	u, err := s.caller(ctx, ports.ActionRead)
	if err != nil {
		return nil, err
	}
	compressed := &countWriter{w: w}
	gz := gzip.NewWriter(compressed)
	whole := &countWriter{w: gz}
	drafts := &countWriter{w: whole}
	enc := json.NewEncoder(drafts)
	enc.SetEscapeHTML(false)
	stats := &ExportStats{}
	if _, err := fmt.Fprintf(whole, `{"format":%q,"exported_at":%q,"drafts":[`, BundleFormat, s.now().Format(time.RFC3339Nano)); err != nil {
		return nil, fmt.Errorf("export drafts: %w", err)
	}
	after := ""
	for {
		q := ports.Query{
			Filters:   []ports.Filter{{Field: doctype.FieldOwner, Op: ports.OpEq, Value: u.ID}},
			Orders:    []ports.Order{{Field: doctype.FieldName}},
			Limit:     exportPage,
			SkipCount: true,
		}
		if after != "" {
			q.Filters = append(q.Filters, ports.Filter{Field: doctype.FieldName, Op: ports.OpGt, Value: after})
		}
		res, err := s.repo.List(ctx, doctypes.EmailDraftDocType, q)
		if err != nil {
			return nil, fmt.Errorf("export drafts: %w", err)
		}
		for _, it := range res.Items {
			d := it.(*doctypes.EmailDraft)
			if stats.Count > 0 {
				if _, err := io.WriteString(whole, ","); err != nil {
					return nil, fmt.Errorf("export drafts: %w", err)
				}
			}
			if err := enc.Encode(toDraft(d)); err != nil {
				return nil, fmt.Errorf("export drafts: %w", err)
			}
			stats.Count++
			after = d.Name
		}
		if len(res.Items) < exportPage {
			break
		}
	}
	stats.TotalSize = drafts.n
	if _, err := fmt.Fprintf(whole, "],\"count\":%d,\"total_size\":%d}\n", stats.Count, stats.TotalSize); err != nil {
		return nil, fmt.Errorf("export drafts: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("export drafts: %w", err)
	}
	stats.Uncompressed, stats.Compressed = whole.n, compressed.n
	return stats, nil
}

// ImportResult counts what an import did.
type ImportResult struct {
	// Imported counts the drafts created, and those replaced (local-wins).
	Imported int `json:"imported"`
	// Skipped counts the drafts left as they were (remote-wins).
	Skipped int `json:"skipped"`
	// Conflicts counts the bundle's drafts whose id names a draft the
	// caller has already.
	Conflicts int `json:"conflicts"`
	// Merged counts the drafts merged (merge).
	Merged int `json:"merged"`
}

// bundle is an export bundle as Import reads it.
type bundle struct {
	Format     string   `json:"format"`
	ExportedAt string   `json:"exported_at"`
	Count      *int     `json:"count"`
	TotalSize  *int64   `json:"total_size"`
	Drafts     *[]Draft `json:"drafts"`
}

// badBundle is the refusal of a bundle that cannot be read.
func badBundle(reason string) error {
	return &core.ValidationError{Message: "the import bundle " + reason, Fields: []core.FieldError{{Field: "bundle", Reason: reason}}}
}

// Import reads a bundle Export wrote (gzip-compressed JSON, at most
// MaxImportBytes decompressed: core.ErrPayloadTooBig past it) and creates
// its drafts for the caller: tenant and owner are always the caller's,
// never the bundle's. The whole bundle is checked first: a malformed one,
// or one holding an invalid draft, is a *core.ValidationError and nothing
// is imported. The drafts are then written in one transaction. A draft
// whose id names one of the caller's drafts is a conflict, resolved by
// strategy: remote-wins (the default) keeps the caller's draft, local-wins
// replaces it, merge merges the two. An id naming another user's draft
// takes a new id.
func (s *Service) Import(ctx context.Context, r io.Reader, strategy string) (*ImportResult, error) {
	u, err := s.caller(ctx, ports.ActionCreate)
	if err != nil {
		return nil, err
	}
	if strategy == "" {
		strategy = RemoteWins
	}
	if !slices.Contains(Strategies, strategy) {
		return nil, core.Invalid("strategy", "must be "+strings.Join(Strategies, ", ")+" or absent (remote-wins)")
	}
	drafts, err := s.readBundle(r)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, d := range drafts {
		files = append(files, d.Attachments...)
	}
	if err := s.checkFiles(ctx, unique(files)); err != nil {
		return nil, err
	}
	res := &ImportResult{}
	err = s.repo.InTx(ctx, func(ctx context.Context) error {
		for i, d := range drafts {
			if err := s.importOne(ctx, u, i, d, strategy, res); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errRace) {
		return nil, core.Public(core.ErrConflict, "drafts were saved from elsewhere during the import; nothing was imported, try again")
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// importOne writes the bundle's draft i.
func (s *Service) importOne(ctx context.Context, u *ports.UserContext, i int, d Draft, strategy string, res *ImportResult) error {
	cur, err := s.lookup(ctx, d.ID)
	if err != nil {
		return err
	}
	if cur != nil && cur.Owner != u.ID {
		cur, d.ID = nil, doctype.NewUUIDv7()
	}
	if cur == nil {
		last := d.LastSavedAt.UTC().Truncate(time.Microsecond)
		if now := s.now(); last.Year() < 1970 || last.After(now) {
			last = now
		}
		if _, err := s.create(ctx, u, d.ID, d.Content, d.DeviceID, ResolutionImport, last); err != nil {
			return err
		}
		res.Imported++
		return nil
	}
	res.Conflicts++
	next := d.Content
	switch strategy {
	case RemoteWins:
		res.Skipped++
		return nil
	case Merge:
		newer := d.LastSavedAt.IsZero() || !d.LastSavedAt.Before(cur.LastSavedAt)
		v := &core.ValidationError{}
		next = normalize(v, fmt.Sprintf("drafts[%d].", i), MergeContent(cur.Content(), d.Content, newer))
		if err := v.Err(); err != nil {
			return err
		}
		if size := Size(next); size > s.opts.MaxDraftBytes {
			return s.tooBig(fmt.Sprintf("draft %q merged", clip(cur.Name)), size)
		}
		res.Merged++
	default:
		res.Imported++
	}
	_, _, err = s.update(ctx, cur, next, d.DeviceID, true, strategy, "")
	return err
}

// jsonPath is the JSON path of a json.UnmarshalTypeError's Field, without
// the Go names of the embedded structs on the way ("SaveInput.Content.to"
// is "to").
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "" && unicode.IsUpper([]rune(p)[0]) {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ".")
}

// readBundle reads and checks a whole bundle: its drafts, normalized.
func (s *Service) readBundle(r io.Reader) ([]Draft, error) {
	limit := s.opts.MaxImportBytes
	gz, err := gzip.NewReader(r)
	if err != nil {
		if errors.Is(err, core.ErrPayloadTooBig) {
			return nil, err
		}
		return nil, badBundle("must be a gzip-compressed export bundle")
	}
	defer gz.Close()
	data, err := io.ReadAll(io.LimitReader(gz, limit+1))
	if err != nil {
		if errors.Is(err, core.ErrPayloadTooBig) {
			return nil, err
		}
		return nil, badBundle("is not valid gzip: " + err.Error())
	}
	if int64(len(data)) > limit {
		return nil, core.Publicf(core.ErrPayloadTooBig, "the import bundle is more than %d bytes decompressed", limit)
	}
	if err := jsonstrict.Check(data, jsonstrict.Fold); err != nil {
		var ve *core.ValidationError
		if errors.As(err, &ve) {
			return nil, ve
		}
		return nil, badBundle("is not JSON: " + err.Error())
	}
	var b bundle
	if err := json.Unmarshal(data, &b); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, core.Invalidf(jsonPath(te.Field), "must be a %s", te.Type.Kind())
		}
		return nil, badBundle(`is not an export bundle: want a JSON object {"format": "` + BundleFormat + `", "drafts": [...]}`)
	}
	switch {
	case b.Format != BundleFormat:
		return nil, core.Invalidf("format", "must be %q", BundleFormat)
	case b.Drafts == nil:
		return nil, core.Invalid("drafts", "is required")
	case len(*b.Drafts) > MaxImportDrafts:
		return nil, core.Invalidf("drafts", "at most %d drafts can be imported at once", MaxImportDrafts)
	case b.Count != nil && *b.Count != len(*b.Drafts):
		return nil, core.Invalidf("count", "says %d drafts, but the bundle holds %d", *b.Count, len(*b.Drafts))
	}
	drafts := *b.Drafts
	v := &core.ValidationError{}
	seen := make(map[string]bool, len(drafts))
	for i := range drafts {
		d := &drafts[i]
		prefix := fmt.Sprintf("drafts[%d].", i)
		switch {
		case d.ID == "":
			d.ID = doctype.NewUUIDv7()
		case checkID(d.ID) != nil:
			v.Add(prefix+"id", checkID(d.ID).Error())
		case seen[d.ID]:
			v.Add(prefix+"id", "appears more than once in the bundle")
		}
		seen[d.ID] = true
		checkDevice(v, prefix+"device_id", d.DeviceID)
		d.Content = normalize(v, prefix, d.Content)
		if len(v.Fields) >= 20 {
			break
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	for i, d := range drafts {
		if size := Size(d.Content); size > s.opts.MaxDraftBytes {
			return nil, s.tooBig(fmt.Sprintf("draft %d of the bundle", i), size)
		}
	}
	return drafts, nil
}
