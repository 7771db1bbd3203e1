package web

import (
	"bufio"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// filesHandler serves stored files: uploads (at once, in parts, presigned),
// downloads, metadata, deletion and a document's attachments. Upload and
// download bodies stream: they never pass through readJSON.
type filesHandler struct {
	files   *files.Service
	maxBody int64
}

// bindFiles registers /file/… and /resource/{doctype}/{name}/files.
func bindFiles(api *echo.Group, svc *files.Service, maxBody int64, docs *routeDocs) {
	if svc == nil {
		return
	}
	h := filesHandler{files: svc, maxBody: maxBody}
	g := api.Group("/file")
	const tag = "Files"
	info := dataOf(schemaOf[FileInfo]())
	session := dataOf(schemaOf[files.Session]())
	deleted := dataOf(schemaOf[FileDeleteResponse]())
	sessionBody := jsonBody(inputOf[files.SessionRequest]())
	attach := []*openapi.Parameter{query("attached_to_doctype", "the DocType of the document the file is attached to", str()),
		query("attached_to_name", "that document's name", str()), query("is_private", "true: only those who may read the document (default true)", boolean())}
	docs.add(g.POST("/upload", h.upload, RequireUser), route{tag: tag, summary: "Upload a file (multipart field \"file\"; it streams to storage)",
		params: attach,
		body: &openapi.RequestBody{Required: true, Content: map[string]*openapi.MediaType{"multipart/form-data": {Schema: &openapi.Schema{Type: "object",
			Properties: map[string]*openapi.Schema{"file": {Type: "string", Format: "binary"}, "attached_to_doctype": str(), "attached_to_name": str(), "is_private": str()},
			Required:   []string{"file"}}}}},
		responses: replies(reply(http.StatusCreated, "stored", info))})
	docs.add(g.POST("/uploads", h.openSession, RequireUser), route{tag: tag, summary: "Open a resumable upload in parts", body: sessionBody,
		responses: replies(reply(http.StatusCreated, "the upload session", session))})
	docs.add(g.GET("/uploads/:id", h.session, RequireUser), route{tag: tag, summary: "An upload session and its parts so far",
		responses: replies(reply(http.StatusOK, "the upload session", session))})
	docs.add(g.PUT("/uploads/:id/parts/:n", h.putPart, RequireUser), route{tag: tag, summary: "Upload part n (raw bytes; it streams to storage)",
		params: []*openapi.Parameter{{Name: "n", In: "path", Required: true, Schema: &openapi.Schema{Type: "integer", Minimum: new(1.0)}}},
		body: &openapi.RequestBody{Description: "the part's bytes, of any content type (or none)",
			Content: map[string]*openapi.MediaType{"application/octet-stream": {}, "*/*": {}}},
		responses: replies(reply(http.StatusOK, "the part", dataOf(schemaOf[ports.Part]())))})
	docs.add(g.POST("/uploads/:id/complete", h.complete, RequireUser), route{tag: tag, summary: "Complete an upload in parts",
		responses: replies(reply(http.StatusCreated, "stored", info))})
	docs.add(g.DELETE("/uploads/:id", h.abort, RequireUser), route{tag: tag, summary: "Abort an upload in parts",
		responses: replies(reply(http.StatusOK, "aborted", deleted))})
	docs.add(g.POST("/presign", h.presign, RequireUser), route{tag: tag, summary: "Get a presigned URL to upload straight to storage", body: sessionBody,
		responses: replies(reply(http.StatusCreated, "the presigned upload", session))})
	docs.add(g.POST("/confirm", h.confirm, RequireUser), route{tag: tag, summary: "Confirm a presigned upload",
		body:      jsonBody(strictObject(map[string]*openapi.Schema{"id": {Type: "string", MinLength: new(1)}}, "id")),
		responses: replies(reply(http.StatusCreated, "stored", info))})
	download := route{tag: tag, summary: "Download a file",
		description: "The bytes, with the file's content type, or a redirect to a presigned storage URL. Ranges and If-None-Match (its SHA-256) work.",
		params:      []*openapi.Parameter{query("inline", "true: Content-Disposition inline (never for active types such as HTML)", boolean())},
		responses: replies(replyAs(http.StatusOK, "the file", "*/*", nil), replyAs(http.StatusPartialContent, "a range of the file", "*/*", nil),
			status{"302", &openapi.Response{Description: "see the presigned storage URL in Location"}},
			status{"304", &openapi.Response{Description: "not modified"}},
			replyAs(http.StatusRequestedRangeNotSatisfiable, "the range is outside the file", "text/plain", str()))}
	docs.add(g.GET("/:id", h.download, RequireUser), download)
	download.summary = "A file's headers, without its bytes"
	docs.add(g.HEAD("/:id", h.download, RequireUser), download)
	docs.add(g.GET("/:id/info", h.info, RequireUser), route{tag: tag, summary: "A file's metadata",
		responses: replies(reply(http.StatusOK, "the metadata", info))})
	docs.add(g.DELETE("/:id", h.delete, RequireUser), route{tag: tag, summary: "Delete a file",
		responses: replies(reply(http.StatusOK, "deleted", deleted))})
	docs.add(api.GET("/resource/:doctype/:name/files", h.attachments, RequireUser), route{tag: tag, summary: "The files attached to a document",
		responses: replies(reply(http.StatusOK, "the files", dataOf(openapi.Array(schemaOf[FileInfo]()))))})
}

// FileInfo is a file's metadata as the API shows it (FileUploadResponse).
type FileInfo struct {
	ID                string    `json:"id"`
	URL               string    `json:"url"`
	FileName          string    `json:"file_name"`
	Size              int64     `json:"size"`
	ContentType       string    `json:"content_type"`
	SHA256            string    `json:"sha256"`
	IsPrivate         bool      `json:"is_private"`
	AttachedToDoctype string    `json:"attached_to_doctype,omitempty"`
	AttachedToName    string    `json:"attached_to_name,omitempty"`
	Owner             string    `json:"owner"`
	CreatedAt         time.Time `json:"created_at"`
}

func fileInfo(f *doctypes.File) FileInfo {
	return FileInfo{
		ID: f.Name, URL: f.FileURL, FileName: f.FileName, Size: f.FileSize, ContentType: f.ContentType,
		SHA256: f.SHA256, IsPrivate: f.IsPrivate, AttachedToDoctype: f.AttachedToDoctype,
		AttachedToName: f.AttachedToName, Owner: f.Owner, CreatedAt: f.CreatedAt,
	}
}

// maxUploadFields caps the form fields an upload may carry, and
// maxFieldBytes each one's value; uploadBuffer is the read buffer of an
// upload's body.
const (
	maxUploadFields = 16
	maxFieldBytes   = 1024
	uploadBuffer    = 1 << 20
)

// upload stores the multipart field "file". attached_to_doctype,
// attached_to_name and is_private come as form fields before it, or as query
// parameters. The part streams to storage as it arrives.
func (h filesHandler) upload(c echo.Context) error {
	req := c.Request()
	mt, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != "multipart/form-data" {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "send the file as multipart/form-data, in the field \"file\"")
	}
	if params["boundary"] == "" {
		return core.Public(core.ErrValidation, "the multipart form has no boundary")
	}
	// Everything but the file is small: the whole body is bounded a little
	// above the file limit, which the service enforces exactly (413). The
	// multipart reader reads through a large buffer (its own is 4 KiB: a
	// system call per 4 KiB, the bottleneck of large uploads).
	body := http.MaxBytesReader(c.Response(), req.Body, h.files.Options().MaxUploadSize+1<<20)
	mr := multipart.NewReader(bufio.NewReaderSize(body, uploadBuffer), params["boundary"])
	q := c.QueryParams()
	up := files.UploadRequest{AttachedTo: files.Attachment{DocType: q.Get("attached_to_doctype"), Name: q.Get("attached_to_name")}}
	if v := q.Get("is_private"); v != "" {
		b, err := parseBool("is_private", v)
		if err != nil {
			return err
		}
		up.IsPrivate = &b
	}
	for range maxUploadFields {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return core.Invalid("file", "is required: send the file in the multipart field \"file\"")
		}
		if err != nil {
			return uploadReadError(err)
		}
		switch part.FormName() {
		case "file":
			up.FileName, up.Body = part.FileName(), part
			f, err := h.files.Upload(req.Context(), up)
			if err != nil {
				return uploadReadError(err)
			}
			return data(c, http.StatusCreated, fileInfo(f))
		case "attached_to_doctype", "attached_to_name", "is_private":
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return uploadReadError(err)
			}
			if len(v) > maxFieldBytes {
				return core.Invalidf(part.FormName(), "must be at most %d bytes", maxFieldBytes)
			}
			switch part.FormName() {
			case "attached_to_doctype":
				up.AttachedTo.DocType = string(v)
			case "attached_to_name":
				up.AttachedTo.Name = string(v)
			default:
				b, err := parseBool("is_private", string(v))
				if err != nil {
					return err
				}
				up.IsPrivate = &b
			}
		default:
			return core.Invalidf("body", "unknown form field %q: send file, attached_to_doctype, attached_to_name, is_private", truncateField(part.FormName()))
		}
	}
	return core.Invalidf("body", "more than %d form fields", maxUploadFields)
}

func truncateField(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// uploadReadError maps a failure to read the request body: past the body
// limit is 413, a broken body 400; other errors pass through.
func uploadReadError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return core.Publicf(core.ErrPayloadTooBig, "request body exceeds %d bytes", mbe.Limit)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return core.Public(core.ErrValidation, "the upload was cut short")
	}
	var pub *core.PublicError
	var verr *core.ValidationError
	if errors.As(err, &verr) || errors.As(err, &pub) {
		return err
	}
	if strings.Contains(err.Error(), "multipart") {
		return core.Public(core.ErrValidation, "the multipart body is malformed")
	}
	return err
}

func parseBool(field, v string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, core.Invalid(field, "must be true or false")
	}
	return b, nil
}

// download streams the file's bytes: Range requests (206, 416), ETag (the
// SHA-256) with If-None-Match (304), Content-Disposition attachment unless
// ?inline=true — never inline for active types (HTML, SVG, XML …), which are
// also sandboxed by Content-Security-Policy.
func (h filesHandler) download(c echo.Context) error {
	ctx := c.Request().Context()
	f, err := h.files.Get(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	inline := c.QueryParam("inline") == "true" || c.QueryParam("inline") == "1"
	active := files.Active(f.ContentType)
	if active {
		inline = false
	}
	disposition := files.Disposition(f.FileName, inline)
	if url, ok := h.files.DownloadURL(ctx, f, disposition); ok {
		return c.Redirect(http.StatusFound, url)
	}
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderContentType, f.ContentType)
	hdr.Set(echo.HeaderContentDisposition, disposition)
	hdr.Set(echo.HeaderXContentTypeOptions, "nosniff")
	hdr.Set("ETag", `"`+f.SHA256+`"`)
	hdr.Set("Cache-Control", "private")
	if active {
		hdr.Set(echo.HeaderContentSecurityPolicy, "sandbox; default-src 'none'")
	}
	body, err := h.files.Open(ctx, f, c.Request().Method == http.MethodGet && !hasRange(c.Request()))
	if err != nil {
		hdr.Del("ETag")
		hdr.Del(echo.HeaderContentDisposition)
		return err
	}
	defer body.Close()
	http.ServeContent(c.Response(), c.Request(), "", f.CreatedAt, body)
	return nil
}

func hasRange(r *http.Request) bool { return r.Header.Get("Range") != "" }

func (h filesHandler) info(c echo.Context) error {
	f, err := h.files.Get(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, fileInfo(f))
}

// FileDeleteResponse answers a deletion.
type FileDeleteResponse struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

func (h filesHandler) delete(c echo.Context) error {
	id := param(c, "id")
	if err := h.files.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	return data(c, http.StatusOK, FileDeleteResponse{ID: id, Deleted: true})
}

func (h filesHandler) attachments(c echo.Context) error {
	list, err := h.files.Attachments(c.Request().Context(), param(c, "doctype"), param(c, "name"))
	if err != nil {
		return err
	}
	out := make([]FileInfo, len(list))
	for i, f := range list {
		out[i] = fileInfo(f)
	}
	return data(c, http.StatusOK, out)
}

// sessionRequest reads the JSON body opening a session or a presigned upload.
func (h filesHandler) sessionRequest(c echo.Context) (files.SessionRequest, error) {
	var req files.SessionRequest
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return req, err
	}
	if err := decodeStrict(body, &req); err != nil {
		return req, strictOr(err, core.Invalid("body", `must be {"file_name": "big.pdf", "file_size": 123456789, "sha256": "…", "attached_to_doctype": "…", "attached_to_name": "…", "is_private": true}`))
	}
	return req, nil
}

func (h filesHandler) openSession(c echo.Context) error {
	req, err := h.sessionRequest(c)
	if err != nil {
		return err
	}
	s, err := h.files.OpenSession(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return data(c, http.StatusCreated, s)
}

func (h filesHandler) session(c echo.Context) error {
	s, err := h.files.SessionInfo(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, s)
}

func (h filesHandler) putPart(c echo.Context) error {
	n, err := strconv.Atoi(param(c, "n"))
	if err != nil {
		return core.Invalid("part", "must be a part number")
	}
	p, err := h.files.PutPart(c.Request().Context(), param(c, "id"), n, c.Request().Body)
	if err != nil {
		return uploadReadError(err)
	}
	return data(c, http.StatusOK, p)
}

func (h filesHandler) complete(c echo.Context) error {
	f, err := h.files.Complete(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	return data(c, http.StatusCreated, fileInfo(f))
}

func (h filesHandler) abort(c echo.Context) error {
	id := param(c, "id")
	if err := h.files.Abort(c.Request().Context(), id); err != nil {
		return err
	}
	return data(c, http.StatusOK, FileDeleteResponse{ID: id, Deleted: true})
}

func (h filesHandler) presign(c echo.Context) error {
	req, err := h.sessionRequest(c)
	if err != nil {
		return err
	}
	s, err := h.files.Presign(c.Request().Context(), req)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return data(c, http.StatusCreated, s)
}

func (h filesHandler) confirm(c echo.Context) error {
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return err
	}
	var b struct {
		ID string `json:"id"`
	}
	if err := decodeStrict(body, &b); err != nil || b.ID == "" {
		return strictOr(err, core.Invalid("body", `must be {"id": "<the presigned upload's id>"}`))
	}
	f, err := h.files.Confirm(c.Request().Context(), b.ID)
	if err != nil {
		return err
	}
	return data(c, http.StatusCreated, fileInfo(f))
}
