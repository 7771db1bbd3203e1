package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/email/drafts"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/core/openapi"
)

// Headers of a drafts export: the body is the gzip file, so what it holds
// is told here.
const (
	HeaderDraftCount       = "X-Draft-Count"
	HeaderDraftTotalSize   = "X-Draft-Total-Size"
	HeaderCompressionRatio = "X-Compression-Ratio"
)

// draftsPath is where the drafts API lives under APIPrefix.
const draftsPath = "/email/drafts"

// draftsHandler serves the email drafts API; drafts.Service holds the
// rules.
type draftsHandler struct {
	svc *drafts.Service
	// maxBody bounds small JSON bodies; saveBody bounds a save's, which
	// carries a whole draft.
	maxBody, saveBody int64
}

// bindEmailDrafts serves /api/v1/email/drafts (nil: no routes), each
// user's own drafts:
//
//	PUT    /email/drafts/{id}                   save (create with version 0) → 201 | 200 | 409 {"error", "server"}
//	GET    /email/drafts?account_id=&tag=&limit=20&offset=0
//	GET    /email/drafts/{id}
//	DELETE /email/drafts/{id}                   → 204
//	GET    /email/drafts/{id}/history           the saves, newest first
//	GET    /email/drafts/{id}/history/{save_id} one save with its snapshot
//	POST   /email/drafts/{id}/recover           {"save_id": "…"}
//	POST   /email/drafts/{id}/send              → 202, the queued email
//	GET    /email/drafts/export                 the gzip bundle
//	POST   /email/drafts/import?strategy=       the gzip bundle (application/gzip)
func bindEmailDrafts(api *echo.Group, svc *drafts.Service, maxBody int64, docs *routeDocs) {
	if svc == nil {
		return
	}
	// A save's body may hold a whole draft, however its client escapes
	// JSON: at most 6 bytes ("\u003c") for each byte the limit counts.
	h := draftsHandler{svc: svc, maxBody: maxBody, saveBody: max(maxBody, 6*svc.MaxDraftBytes()+64<<10)}
	// The fixed paths first, so that they never read as a draft's id.
	const tag = "Email drafts"
	etag := map[string]*openapi.Header{"ETag": {Ref: "#/components/headers/" + openapi.ETagHeader}}
	saved := &openapi.Response{Description: "saved", Headers: etag, Content: openapi.JSON(schemaOf[draftSaveResponse]())}
	docs.add(api.GET(draftsPath+"/export", h.export, RequireUser), route{tag: tag, summary: "Export the caller's drafts (a gzipped JSON bundle)",
		responses: replies(replyAs(http.StatusOK, "the bundle", "application/gzip", nil))})
	docs.add(api.POST(draftsPath+"/import", h.importBundle, RequireUser), route{tag: tag, summary: "Import a bundle of drafts",
		params: []*openapi.Parameter{query("strategy", "what to do with drafts that exist already", str())},
		body: &openapi.RequestBody{Required: true, Content: map[string]*openapi.MediaType{
			"application/gzip": {}, "application/x-gzip": {}, "application/octet-stream": {}}},
		responses: replies(reply(http.StatusOK, "what was imported", dataOf(schemaOf[drafts.ImportResult]())))})
	docs.add(api.GET(draftsPath, h.list, RequireUser), route{tag: tag, summary: "The caller's drafts",
		params: []*openapi.Parameter{query("account_id", "drafts of this account", str()), query("tag", "drafts with this tag", str()),
			query("limit", "page size, 1 to 100 (20 when absent)", &openapi.Schema{Type: "integer", Minimum: new(1.0), Maximum: new(100.0)}),
			query("offset", "drafts to skip", &openapi.Schema{Type: "integer", Minimum: new(0.0)})},
		responses: replies(reply(http.StatusOK, "a page of drafts", schemaOf[draftListResponse]()))})
	docs.add(api.PUT(draftsPath+"/:id", h.save, RequireUser), route{tag: tag, summary: "Save a draft (create or update; conflicts resolved by strategy)",
		body: jsonBody(inputOf[draftSaveBody]()),
		responses: replies(status{"200", saved}, status{"201", saved},
			reply(http.StatusConflict, "a stale save: the error and the server's copy (server); other conflicts: the error alone",
				&openapi.Schema{AnyOf: []*openapi.Schema{schemaOf[draftConflictResponse](), openapi.Ref(openapi.ErrorSchema)}}))})
	docs.add(api.GET(draftsPath+"/:id", h.get, RequireUser), route{tag: tag, summary: "One draft",
		responses: replies(status{"200", &openapi.Response{Description: "the draft", Headers: etag, Content: openapi.JSON(dataOf(schemaOf[drafts.Draft]()))}})})
	docs.add(api.DELETE(draftsPath+"/:id", h.delete, RequireUser), route{tag: tag, summary: "Delete a draft",
		responses: replies(reply(http.StatusNoContent, "deleted", nil))})
	docs.add(api.GET(draftsPath+"/:id/history", h.history, RequireUser), route{tag: tag, summary: "A draft's saves",
		responses: replies(reply(http.StatusOK, "the saves", dataOf(schemaOf[[]drafts.Save]())))})
	docs.add(api.GET(draftsPath+"/:id/history/:save_id", h.saveOf, RequireUser), route{tag: tag, summary: "One save of a draft",
		responses: replies(reply(http.StatusOK, "the save", dataOf(schemaOf[drafts.Save]())))})
	docs.add(api.POST(draftsPath+"/:id/recover", h.recover, RequireUser), route{tag: tag, summary: "Bring a draft back to one of its saves",
		body:      jsonBody(inputOf[draftRecoverBody]()),
		responses: replies(reply(http.StatusOK, "recovered", schemaOf[drafts.RecoverResult]()))})
	docs.add(api.POST(draftsPath+"/:id/send", h.send, RequireUser), route{tag: tag, summary: "Send a draft (it is queued)",
		responses: replies(reply(http.StatusAccepted, "queued", dataOf(schemaOf[drafts.Sent]())))})
}

// draftSaveBody is PUT's body: a save, and the read-only fields of a draft
// as GET shows it, accepted (and ignored) so that a client may send back
// what it read.
type draftSaveBody struct {
	drafts.SaveInput
	ID        *string    `json:"id"`
	Size      *int64     `json:"size"`
	CreatedAt *time.Time `json:"created_at"`
}

const draftSaveShape = `a draft: {"version": 3, "device_id": "...", "to": [{"address": "...", "name": "..."}], "subject": "...", "body": "...", "body_html": "..."} ` +
	`(account_id, cc, bcc, attachments, tags, references, scheduled_send_time, strategy and saved_at optional)`

// draftSaveResponse is PUT's answer.
type draftSaveResponse struct {
	Data       drafts.Draft `json:"data"`
	Created    bool         `json:"created"`
	Conflict   bool         `json:"conflict"`
	Resolution string       `json:"resolution"`
	SaveID     string       `json:"save_id"`
}

func (h draftsHandler) save(c echo.Context) error {
	id := param(c, "id")
	body, err := readJSON(c, h.saveBody)
	if err != nil {
		return err
	}
	var b draftSaveBody
	if err := decodeFields(body, &b, draftSaveShape); err != nil {
		return err
	}
	if b.ID != nil && *b.ID != id {
		return core.Invalid("id", "must be the id of the path, or absent")
	}
	res, err := h.svc.Save(c.Request().Context(), id, b.SaveInput)
	if err != nil {
		var ce *drafts.ConflictError
		if errors.As(err, &ce) {
			return h.conflict(c, ce)
		}
		return err
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
		c.Response().Header().Set(echo.HeaderLocation, APIPrefix+draftsPath+"/"+url.PathEscape(res.Draft.ID))
	}
	c.Response().Header().Set("ETag", `"`+strconv.FormatInt(res.Draft.Version, 10)+`"`)
	return c.JSON(status, draftSaveResponse{Data: res.Draft, Created: res.Created, Conflict: res.Conflict, Resolution: res.Resolution, SaveID: res.SaveID})
}

// draftConflictResponse is the answer to a stale save: the JSON error shape
// and the server's copy.
type draftConflictResponse struct {
	ErrorBody
	Server drafts.Draft `json:"server"`
}

func (h draftsHandler) conflict(c echo.Context, ce *drafts.ConflictError) error {
	body := draftConflictResponse{
		ErrorBody: ErrorBody{RequestID: requestID(c), Error: ErrorDetail{Code: "conflict", Message: ce.Error()}},
		Server:    ce.Server,
	}
	body.Error.Current, _ = json.Marshal(ce.Server)
	return c.JSON(http.StatusConflict, body)
}

// draftListResponse is the body of a drafts list.
type draftListResponse struct {
	Data   []drafts.Summary `json:"data"`
	Total  int              `json:"total"`
	Limit  int              `json:"limit"`
	Offset int              `json:"offset"`
}

func (h draftsHandler) list(c echo.Context) error {
	q := c.QueryParams()
	verr := &core.ValidationError{}
	for k, v := range q {
		switch k {
		case "account_id", "tag", "limit", "offset":
			if len(v) > 1 {
				verr.Add(k, "must be given once")
			}
		default:
			verr.Add(k, "unknown parameter (account_id, tag, limit, offset)")
		}
	}
	f := drafts.Filter{AccountID: q.Get("account_id"), Tag: q.Get("tag")}
	whole := func(name string, dst *int) {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				verr.Add(name, "must be a whole number")
				return
			}
			*dst = n
		}
	}
	whole("limit", &f.Limit)
	whole("offset", &f.Offset)
	if _, given := q["limit"]; given && f.Limit == 0 && verr.Err() == nil {
		verr.Add("limit", "must be between 1 and 100 (leave it out for 20)")
	}
	if err := verr.Err(); err != nil {
		return err
	}
	items, total, err := h.svc.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	limit := f.Limit
	if limit == 0 {
		limit = drafts.DefaultLimit
	}
	return c.JSON(http.StatusOK, draftListResponse{Data: items, Total: total, Limit: limit, Offset: f.Offset})
}

func (h draftsHandler) get(c echo.Context) error {
	d, err := h.svc.Get(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", `"`+strconv.FormatInt(d.Version, 10)+`"`)
	c.Response().Header().Set(echo.HeaderCacheControl, "private, no-store")
	return data(c, http.StatusOK, d)
}

func (h draftsHandler) delete(c echo.Context) error {
	if err := h.svc.Delete(c.Request().Context(), param(c, "id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h draftsHandler) history(c echo.Context) error {
	saves, err := h.svc.History(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, saves)
}

func (h draftsHandler) saveOf(c echo.Context) error {
	sv, err := h.svc.SaveOf(c.Request().Context(), param(c, "id"), param(c, "save_id"))
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, sv)
}

// draftRecoverBody is POST /recover's body.
type draftRecoverBody struct {
	SaveID string `json:"save_id"`
}

func (h draftsHandler) recover(c echo.Context) error {
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return err
	}
	var b draftRecoverBody
	if err := decodeFields(body, &b, `{"save_id": "..."}`); err != nil {
		return err
	}
	res, err := h.svc.Recover(c.Request().Context(), param(c, "id"), b.SaveID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

func (h draftsHandler) send(c echo.Context) error {
	sent, err := h.svc.Send(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	return data(c, http.StatusAccepted, sent)
}

// export answers the caller's drafts as a gzip bundle. The bundle is
// written to a temporary file first, so that the headers can tell what it
// holds; then it streams.
func (h draftsHandler) export(c echo.Context) error {
	if len(c.QueryParams()) > 0 {
		return core.Invalid("query", "export takes no parameters")
	}
	tmp, err := os.CreateTemp("", "fm-email-drafts-*.json.gz")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	stats, err := h.svc.Export(c.Request().Context(), tmp)
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderContentType, "application/gzip")
	hdr.Set(echo.HeaderContentDisposition, files.Disposition("email-drafts-"+time.Now().UTC().Format("20060102-150405")+".json.gz", false))
	hdr.Set(echo.HeaderContentLength, strconv.FormatInt(stats.Compressed, 10))
	hdr.Set(echo.HeaderXContentTypeOptions, "nosniff")
	hdr.Set(echo.HeaderCacheControl, "private, no-store")
	hdr.Set(HeaderDraftCount, strconv.Itoa(stats.Count))
	hdr.Set(HeaderDraftTotalSize, strconv.FormatInt(stats.TotalSize, 10))
	hdr.Set(HeaderCompressionRatio, strconv.FormatFloat(stats.Ratio(), 'f', 2, 64))
	c.Response().WriteHeader(http.StatusOK)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	_, err = io.Copy(c.Response(), tmp)
	return err
}

// draftBundleTypes are the content types an import may be sent as.
var draftBundleTypes = []string{"application/gzip", "application/x-gzip", "application/octet-stream"}

// importBundle reads a gzip bundle from the raw body, bounded by the
// import limit (not by [app] max_body_bytes).
func (h draftsHandler) importBundle(c echo.Context) error {
	q := c.QueryParams()
	for k, v := range q {
		if k != "strategy" {
			return core.Invalid(k, "unknown parameter (strategy)")
		}
		if len(v) > 1 {
			return core.Invalid(k, "must be given once")
		}
	}
	req := c.Request()
	mt, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || !slices.Contains(draftBundleTypes, mt) {
		return core.Public(core.ErrUnsupportedType, "send the bundle as Content-Type: application/gzip")
	}
	limit := h.svc.MaxImportBytes()
	body := &draftImportBody{r: http.MaxBytesReader(c.Response(), req.Body, limit), limit: limit}
	res, err := h.svc.Import(req.Context(), body, q.Get("strategy"))
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, res)
}

// draftImportBody turns the body limit's error into core.ErrPayloadTooBig.
type draftImportBody struct {
	r     io.Reader
	limit int64
}

func (b *draftImportBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = core.Publicf(core.ErrPayloadTooBig, "the import bundle exceeds %d bytes", b.limit)
	}
	return n, err
}
