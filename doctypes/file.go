package doctypes

import (
	"errors"
	"time"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// File is the record of a stored file: its bytes are in the storage backend
// under StorageKey, never in the database. Only the file routes write File
// records; the resource API reads them (owners their own, admins all).
type File struct {
	doctype.Base
	// FileName is the name the file was uploaded with, made safe for display
	// and for Content-Disposition.
	FileName string `json:"file_name" gorm:"size:255"`
	// FileURL is where the file is downloaded: /api/v1/file/<name>.
	FileURL string `json:"file_url" gorm:"size:300"`
	// FileSize is the size in bytes.
	FileSize int64 `json:"file_size"`
	// ContentType is the type sniffed from the content (never the client's).
	ContentType string `json:"content_type" gorm:"size:255"`
	// SHA256 is the hex SHA-256 of the content: the download's ETag.
	SHA256 string `json:"sha256" gorm:"size:64"`
	// AttachedToDoctype and AttachedToName name the document the file is
	// attached to (both empty: unattached, the owner's).
	AttachedToDoctype string `json:"attached_to_doctype" gorm:"size:140"`
	AttachedToName    string `json:"attached_to_name" gorm:"size:140"`
	// IsPrivate files are read by their owner and by those who may read the
	// document they are attached to; public ones by every user of the tenant.
	IsPrivate bool `json:"is_private"`
	// StorageKey is the object's key in the storage (never shown).
	StorageKey string `json:"storage_key" gorm:"size:900"`
}

// FileDocType is File's DocType name.
const FileDocType = "File"

// FileMeta describes File: written only by the file routes (Immutable), read
// through the resource API by owners (row-level security on owner) and
// admins.
var FileMeta = doctype.Meta{
	Name:        FileDocType,
	Description: "Stored files: their names, sizes, types, hashes and attachments; the bytes are in the storage backend.",
	Permissions: []doctype.Rule{
		{Role: ports.RoleAll, Actions: doctype.Read, IfOwner: true},
		{Role: ports.RoleAdmin, Actions: doctype.Read | doctype.Delete},
	},
	Immutable: true,
	Hidden:    []string{"storage_key"},
	Indexes:   [][]string{{"attached_to_doctype", "attached_to_name"}, {"storage_key"}},
}

// Defaults makes new files private.
func (f *File) Defaults() { f.IsPrivate = true }

// Upload session states.
const (
	UploadPending    = "pending"    // a file sent at once, being stored
	UploadOpen       = "open"       // receiving parts
	UploadCompleting = "completing" // being assembled
	UploadPresigned  = "presigned"  // the client PUTs to a presigned URL, then confirms
)

// FileUpload is an upload session: a large file sent in numbered parts that
// may be re-sent and resumed (or, for presigned uploads, an object the client
// puts on the storage directly and then confirms). It ends as a File record.
type FileUpload struct {
	doctype.Base
	FileName          string `json:"file_name" gorm:"size:255"`
	FileSize          int64  `json:"file_size"`
	PartSize          int64  `json:"part_size"`
	SHA256            string `json:"sha256" gorm:"size:64"`
	AttachedToDoctype string `json:"attached_to_doctype" gorm:"size:140"`
	AttachedToName    string `json:"attached_to_name" gorm:"size:140"`
	IsPrivate         bool   `json:"is_private"`
	Status            string `json:"status" gorm:"size:20"`
	// ExpiresAt is when an unfinished session is removed with its parts.
	ExpiresAt time.Time `json:"expires_at"`
	// StorageKey and UploadID address the object and the storage's upload.
	StorageKey string `json:"storage_key" gorm:"size:900"`
	UploadID   string `json:"upload_id" gorm:"size:1024"`
}

// FileUploadDocType is FileUpload's DocType name.
const FileUploadDocType = "File Upload"

// FileUploadMeta describes FileUpload: written by the file routes only; owners
// read their own sessions.
var FileUploadMeta = doctype.Meta{
	Name:        FileUploadDocType,
	Description: "Open upload sessions of large files sent in parts.",
	Permissions: []doctype.Rule{
		{Role: ports.RoleAll, Actions: doctype.Read, IfOwner: true},
		{Role: ports.RoleAdmin, Actions: doctype.Read},
	},
	Immutable:  true,
	NotAudited: true,
	Hidden:     []string{"storage_key", "upload_id"},
	Indexes:    [][]string{{"expires_at"}},
}

// RegisterFiles registers File and File Upload.
func RegisterFiles(reg *doctype.Registry) error {
	_, err1 := doctype.Register[File](reg, FileMeta)
	_, err2 := doctype.Register[FileUpload](reg, FileUploadMeta)
	return errors.Join(err1, err2)
}
