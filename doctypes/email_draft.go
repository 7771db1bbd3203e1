package doctypes

import (
	"bytes"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// EmailDraftContent is what a user writes in an email draft: the account
// it is sent from, the recipients, the subject and bodies, the attached
// files, the tags and the thread it answers. A draft's save keeps it whole
// (EmailDraftSave.Snapshot), stored as JSON text.
type EmailDraftContent struct {
	// AccountID names the user's email account the draft belongs to (the
	// client's own identifier; "" : the default).
	AccountID string `json:"account_id"`
	// To, Cc and Bcc are the recipients.
	To  []ports.EmailAddress `json:"to"`
	Cc  []ports.EmailAddress `json:"cc"`
	Bcc []ports.EmailAddress `json:"bcc"`
	// Subject is one line.
	Subject string `json:"subject"`
	// Body is the plain-text body, BodyHTML the HTML one.
	Body     string `json:"body"`
	BodyHTML string `json:"body_html"`
	// Attachments are File ids of the draft's tenant.
	Attachments []string `json:"attachments"`
	// Tags label the draft; the drafts API lists drafts by tag.
	Tags []string `json:"tags"`
	// References are the Message-IDs of the thread the draft answers,
	// oldest first; the last is the one it replies to.
	References []string `json:"references"`
	// ScheduledSendTime holds the email back until then once sent (nil:
	// at once).
	ScheduledSendTime *time.Time `json:"scheduled_send_time"`
}

// Normalized returns c with nil lists made empty, so that it encodes the
// same however it was built.
func (c EmailDraftContent) Normalized() EmailDraftContent {
	if c.To == nil {
		c.To = []ports.EmailAddress{}
	}
	if c.Cc == nil {
		c.Cc = []ports.EmailAddress{}
	}
	if c.Bcc == nil {
		c.Bcc = []ports.EmailAddress{}
	}
	if c.Attachments == nil {
		c.Attachments = []string{}
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if c.References == nil {
		c.References = []string{}
	}
	return c
}

// Value stores the content as JSON text.
func (c EmailDraftContent) Value() (driver.Value, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c.Normalized()); err != nil {
		return nil, err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// Scan reads JSON text; NULL is empty content.
func (c *EmailDraftContent) Scan(src any) error {
	*c = EmailDraftContent{}
	return doctype.ScanJSON(src, c)
}

// GormDataType makes the column text.
func (EmailDraftContent) GormDataType() string { return "text" }

// EmailDraft is a user's email being written, kept on the server so that
// it survives a closed tab and follows the user from device to device. Its
// Owner is the user: only the drafts API (core/email/drafts) writes drafts,
// and it shows each user only their own. Its name is the client's id of
// the draft; its Version is the one a save must name (optimistic
// versioning).
type EmailDraft struct {
	doctype.Base
	// AccountID names the user's email account the draft belongs to.
	AccountID string `json:"account_id" gorm:"size:140"`
	// To, Cc and Bcc are the recipients.
	To  doctype.JSONList[ports.EmailAddress] `json:"to" gorm:"column:to_addrs"`
	Cc  doctype.JSONList[ports.EmailAddress] `json:"cc" gorm:"column:cc_addrs"`
	Bcc doctype.JSONList[ports.EmailAddress] `json:"bcc" gorm:"column:bcc_addrs"`
	// Subject is one line.
	Subject string `json:"subject"`
	// Body is the plain-text body, BodyHTML the HTML one.
	Body     string `json:"body"`
	BodyHTML string `json:"body_html"`
	// Attachments are File ids of the tenant.
	Attachments doctype.StringList `json:"attachments"`
	// Tags label the draft.
	Tags doctype.StringList `json:"tags"`
	// References are the Message-IDs the draft threads on ("references"
	// is an SQL keyword: the column is refs).
	References doctype.StringList `json:"references" gorm:"column:refs"`
	// ScheduledSendTime holds the email back until then once sent.
	ScheduledSendTime *time.Time `json:"scheduled_send_time"`
	// LastSavedAt is when the draft was last saved (the server's clock).
	LastSavedAt time.Time `json:"last_saved_at"`
	// DeviceID names the device of the last save.
	DeviceID string `json:"device_id" gorm:"size:200"`
	// Size is the draft's size as [email.drafts] max_draft_size counts it.
	Size int64 `json:"size"`
	// TagIndex and FileIndex list the tags and the attachments
	// hex-encoded between spaces (" 776f726b "), so that a LIKE filter
	// finds one exactly (see IndexPattern; never shown).
	TagIndex  string `json:"-"`
	FileIndex string `json:"-"`
}

// EmailDraftDocType is EmailDraft's DocType name.
const EmailDraftDocType = "Email Draft"

// EmailDraftMeta describes EmailDraft: written only by the drafts API
// (Immutable), read by its owner through the resource API as well (row-level
// security on owner), deleted by admins.
var EmailDraftMeta = doctype.Meta{
	Name:        EmailDraftDocType,
	Description: "Users' email drafts, saved as they are written: recipients, subject, bodies, attachments and tags.",
	Naming:      "prompt",
	RLSField:    doctype.FieldOwner,
	Immutable:   true,
	NotAudited:  true,
	Permissions: []doctype.Rule{
		{Role: ports.RoleAll, Actions: doctype.Read, IfOwner: true},
		{Role: ports.RoleAdmin, Actions: doctype.Read | doctype.Delete},
	},
	Hidden:       []string{"tag_index", "file_index"},
	Indexes:      [][]string{{"owner", "last_saved_at"}, {"owner", "account_id", "last_saved_at"}},
	DefaultOrder: []ports.Order{{Field: "last_saved_at", Desc: true}},
}

// Content returns what the user wrote in d.
func (d *EmailDraft) Content() EmailDraftContent {
	return EmailDraftContent{
		AccountID: d.AccountID, To: d.To, Cc: d.Cc, Bcc: d.Bcc,
		Subject: d.Subject, Body: d.Body, BodyHTML: d.BodyHTML,
		Attachments: d.Attachments, Tags: d.Tags, References: d.References,
		ScheduledSendTime: d.ScheduledSendTime,
	}.Normalized()
}

// SetContent replaces what the user wrote in d with c, and its tag index.
func (d *EmailDraft) SetContent(c EmailDraftContent) {
	c = c.Normalized()
	d.AccountID = c.AccountID
	d.To, d.Cc, d.Bcc = c.To, c.Cc, c.Bcc
	d.Subject, d.Body, d.BodyHTML = c.Subject, c.Body, c.BodyHTML
	d.Attachments, d.Tags, d.References = c.Attachments, c.Tags, c.References
	d.ScheduledSendTime = c.ScheduledSendTime
	d.TagIndex = Index(c.Tags)
	d.FileIndex = Index(c.Attachments)
}

// Index returns the index of values (EmailDraft.TagIndex): each value
// hex-encoded, between spaces.
func Index(values []string) string {
	if len(values) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte(' ')
	for _, v := range values {
		b.WriteString(hex.EncodeToString([]byte(v)))
		b.WriteByte(' ')
	}
	return b.String()
}

// IndexPattern returns the LIKE pattern that finds value in an index: it
// holds only hex digits and spaces between its wildcards, so it matches
// exactly that value.
func IndexPattern(value string) string {
	return "% " + hex.EncodeToString([]byte(value)) + " %"
}

// EmailDraftSave records one save of a draft: what changed, whether it
// met a conflict and how that was resolved, and the draft as it was saved
// (Snapshot), so that the save can be recovered. The drafts API keeps the
// latest [email.drafts] max_history saves of each draft.
type EmailDraftSave struct {
	doctype.Base
	// DraftID names the draft.
	DraftID string `json:"draft_id" gorm:"size:140"`
	// DraftVersion is the draft's version after the save.
	DraftVersion int64 `json:"draft_version"`
	// DeviceID names the device that saved.
	DeviceID string `json:"device_id" gorm:"size:200"`
	// FieldsChanged lists the fields of the draft the save changed.
	FieldsChanged doctype.StringList `json:"fields_changed"`
	// AttachmentsAdded and AttachmentsRemoved are File ids.
	AttachmentsAdded   doctype.StringList `json:"attachments_added"`
	AttachmentsRemoved doctype.StringList `json:"attachments_removed"`
	// BytesAdded is how much the draft's size grew (negative: shrank).
	BytesAdded int64 `json:"bytes_added"`
	// Conflict says the save named a stale version.
	Conflict bool `json:"conflict"`
	// Resolution is the strategy that resolved the conflict (local-wins,
	// remote-wins, merge), "recover" for a recovery, "import" for an
	// import, or "".
	Resolution string `json:"resolution" gorm:"size:20"`
	// RecoveredFrom names the save a recovery restored.
	RecoveredFrom string `json:"recovered_from" gorm:"size:140"`
	// Snapshot is the draft as saved.
	Snapshot EmailDraftContent `json:"snapshot"`
	// Size is the snapshot's size.
	Size int64 `json:"size"`
	// SavedAt is when the save was made (the server's clock).
	SavedAt time.Time `json:"saved_at"`
}

// EmailDraftSaveDocType is EmailDraftSave's DocType name.
const EmailDraftSaveDocType = "Email Draft Save"

// EmailDraftSaveMeta describes EmailDraftSave: written only by the drafts
// API, read by the draft's owner (row-level security on owner).
var EmailDraftSaveMeta = doctype.Meta{
	Name:        EmailDraftSaveDocType,
	Description: "The saves of users' email drafts: what each changed, its conflicts, and the draft as saved, for recovery.",
	RLSField:    doctype.FieldOwner,
	Immutable:   true,
	NotAudited:  true,
	Permissions: []doctype.Rule{
		{Role: ports.RoleAll, Actions: doctype.Read, IfOwner: true},
		{Role: ports.RoleAdmin, Actions: doctype.Read | doctype.Delete},
	},
	Indexes:      [][]string{{"owner", "draft_id", "saved_at"}},
	DefaultOrder: []ports.Order{{Field: "saved_at", Desc: true}},
}

// RegisterEmailDrafts adds the email draft DocTypes to reg.
func RegisterEmailDrafts(reg *doctype.Registry) error {
	_, err1 := doctype.Register[EmailDraft](reg, EmailDraftMeta)
	_, err2 := doctype.Register[EmailDraftSave](reg, EmailDraftSaveMeta)
	return errors.Join(err1, err2)
}
