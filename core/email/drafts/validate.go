package drafts

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/ports"
)

// Limits of one draft.
const (
	// MaxIDLength is the longest draft or file id, in characters.
	MaxIDLength = doctype.MaxNameLength
	// MaxDeviceID is the longest device id, in bytes.
	MaxDeviceID = 200
	// MaxAccountID is the longest account id, in characters.
	MaxAccountID = 140
	// MaxTags bounds the tags of a draft, MaxTagLength each tag's characters.
	MaxTags      = 50
	MaxTagLength = 100
	// MaxRecipients bounds To, Cc and Bcc together.
	MaxRecipients = email.MaxRecipients
	// MaxAttachments bounds the files of a draft.
	MaxAttachments = email.MaxAttachments
	// MaxReferences bounds the Message-IDs of a draft, maxReference each one's bytes.
	MaxReferences = email.MaxReferences
	maxReference  = 252
)

// reserved ids name routes beside the drafts.
var reserved = []string{"export", "import"}

// checkID reports why id cannot name a draft.
func checkID(id string) error {
	if err := checkName(id); err != nil {
		return err
	}
	if slices.Contains(reserved, id) {
		return fmt.Errorf("%q is reserved", id)
	}
	return nil
}

// checkName reports why name cannot name a document: doctype.CheckName's
// rules, in UTF-8.
func checkName(name string) error {
	if !utf8.ValidString(name) {
		return errors.New("must be UTF-8 text")
	}
	return doctype.CheckName(name)
}

// checkDevice reports why device cannot name a device.
func checkDevice(v *core.ValidationError, field, device string) {
	if len(device) > MaxDeviceID {
		v.Add(field, fmt.Sprintf("must be at most %d bytes", MaxDeviceID))
	} else if hasControl(device) {
		v.Add(field, "must not contain control characters")
	}
}

// normalize checks c and returns it normalized: addresses trimmed, tags,
// attachments and references without duplicates, times in UTC. Problems
// are added to v with their fields prefixed by prefix ("drafts[2]."), and
// the content is then not to be used.
func normalize(v *core.ValidationError, prefix string, c Content) Content {
	c = c.Normalized()
	if utf8.RuneCountInString(c.AccountID) > MaxAccountID {
		v.Add(prefix+"account_id", fmt.Sprintf("must be at most %d characters", MaxAccountID))
	} else if hasControl(c.AccountID) {
		v.Add(prefix+"account_id", "must not contain control characters")
	}
	n := 0
	for _, l := range []struct {
		field string
		list  *[]ports.EmailAddress
	}{{"to", &c.To}, {"cc", &c.Cc}, {"bcc", &c.Bcc}} {
		n += len(*l.list)
		if len(*l.list) > MaxRecipients {
			v.Add(prefix+l.field, fmt.Sprintf("at most %d recipients", MaxRecipients))
			continue
		}
		out := make([]ports.EmailAddress, len(*l.list))
		for i, a := range *l.list {
			a.Address = strings.TrimSpace(a.Address)
			a.Name = strings.TrimSpace(a.Name)
			if err := email.ValidAddress(a); err != nil {
				v.Add(fmt.Sprintf("%s%s[%d]", prefix, l.field, i), err.Error())
			}
			out[i] = a
		}
		*l.list = out
	}
	if n > MaxRecipients {
		v.Add(prefix+"to", fmt.Sprintf("at most %d recipients in to, cc and bcc together", MaxRecipients))
	}
	switch {
	case strings.ContainsAny(c.Subject, "\r\n\x00"):
		v.Add(prefix+"subject", "must be one line of text")
	case utf8.RuneCountInString(c.Subject) > email.MaxSubject:
		v.Add(prefix+"subject", fmt.Sprintf("must be at most %d characters", email.MaxSubject))
	}
	if strings.IndexByte(c.Body, 0) >= 0 {
		v.Add(prefix+"body", "must not contain NUL characters")
	}
	if strings.IndexByte(c.BodyHTML, 0) >= 0 {
		v.Add(prefix+"body_html", "must not contain NUL characters")
	}
	c.Attachments = unique(c.Attachments)
	if len(c.Attachments) > MaxAttachments {
		v.Add(prefix+"attachments", fmt.Sprintf("at most %d files", MaxAttachments))
	} else {
		for i, id := range c.Attachments {
			if checkName(id) != nil {
				v.Add(fmt.Sprintf("%sattachments[%d]", prefix, i), "must be a File id")
			}
		}
	}
	c.Tags = unique(c.Tags)
	if len(c.Tags) > MaxTags {
		v.Add(prefix+"tags", fmt.Sprintf("at most %d tags", MaxTags))
	} else {
		for i, t := range c.Tags {
			switch {
			case strings.TrimSpace(t) == "":
				v.Add(fmt.Sprintf("%stags[%d]", prefix, i), "must not be blank")
			case utf8.RuneCountInString(t) > MaxTagLength:
				v.Add(fmt.Sprintf("%stags[%d]", prefix, i), fmt.Sprintf("must be at most %d characters", MaxTagLength))
			case hasControl(t):
				v.Add(fmt.Sprintf("%stags[%d]", prefix, i), "must not contain control characters")
			}
		}
	}
	c.References = unique(c.References)
	if len(c.References) > MaxReferences {
		v.Add(prefix+"references", fmt.Sprintf("at most %d Message-IDs", MaxReferences))
	} else {
		for i, r := range c.References {
			if r == "" || len(r) > maxReference || strings.ContainsFunc(r, func(r rune) bool {
				return r <= ' ' || r >= 0x7f || r == ','
			}) {
				v.Add(fmt.Sprintf("%sreferences[%d]", prefix, i), "must be a Message-ID such as <id@example.com>")
			}
		}
	}
	if t := c.ScheduledSendTime; t != nil {
		if t.Year() < 1970 || t.Year() > 9999 {
			v.Add(prefix+"scheduled_send_time", "must be a time between 1970 and 9999")
		} else {
			u := t.UTC().Truncate(time.Microsecond)
			c.ScheduledSendTime = &u
		}
	}
	return c
}

// hasControl reports whether s holds a control character.
func hasControl(s string) bool { return strings.ContainsFunc(s, unicode.IsControl) }

// unique returns l without repeats, in first-seen order.
func unique(l []string) []string {
	out := make([]string, 0, len(l))
	for _, s := range l {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// sized is what Size measures.
type sized struct {
	Subject    string               `json:"subject"`
	Body       string               `json:"body"`
	BodyHTML   string               `json:"body_html"`
	To         []ports.EmailAddress `json:"to"`
	Cc         []ports.EmailAddress `json:"cc"`
	Bcc        []ports.EmailAddress `json:"bcc"`
	Tags       []string             `json:"tags"`
	References []string             `json:"references"`
}

// counter counts the bytes written to it.
type counter int64

func (n *counter) Write(p []byte) (int, error) {
	*n += counter(len(p))
	return len(p), nil
}

// Size is the size of c as [email.drafts] max_draft_size counts it: the
// bytes of the JSON of its subject, bodies, recipients, tags and
// references (HTML characters not escaped; attachments are files, which
// [files] limits).
func Size(c Content) int64 {
	c = c.Normalized()
	var n counter
	enc := json.NewEncoder(&n)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sized{
		Subject: c.Subject, Body: c.Body, BodyHTML: c.BodyHTML,
		To: c.To, Cc: c.Cc, Bcc: c.Bcc, Tags: c.Tags, References: c.References,
	}); err != nil {
		return 0 // strings and addresses always encode
	}
	return int64(n) - 1 // the encoder's newline
}

// tooBig is the refusal of a draft of size bytes.
func (s *Service) tooBig(what string, size int64) error {
	return core.Publicf(core.ErrPayloadTooBig, "%s is %d bytes, more than the limit of %d bytes ([email.drafts] max_draft_size)", what, size, s.opts.MaxDraftBytes)
}

// Field names of a draft's content, in the order FieldsChanged lists them.
var contentFields = []string{"account_id", "to", "cc", "bcc", "subject", "body", "body_html",
	"attachments", "tags", "references", "scheduled_send_time"}

// FieldsChanged lists the fields of the content that differ between a and
// b, in a fixed order.
func FieldsChanged(a, b Content) []string {
	a, b = a.Normalized(), b.Normalized()
	same := map[string]bool{
		"account_id":  a.AccountID == b.AccountID,
		"to":          slices.Equal(a.To, b.To),
		"cc":          slices.Equal(a.Cc, b.Cc),
		"bcc":         slices.Equal(a.Bcc, b.Bcc),
		"subject":     a.Subject == b.Subject,
		"body":        a.Body == b.Body,
		"body_html":   a.BodyHTML == b.BodyHTML,
		"attachments": slices.Equal(a.Attachments, b.Attachments),
		"tags":        slices.Equal(a.Tags, b.Tags),
		"references":  slices.Equal(a.References, b.References),
		"scheduled_send_time": (a.ScheduledSendTime == nil) == (b.ScheduledSendTime == nil) &&
			(a.ScheduledSendTime == nil || a.ScheduledSendTime.Equal(*b.ScheduledSendTime)),
	}
	out := []string{}
	for _, f := range contentFields {
		if !same[f] {
			out = append(out, f)
		}
	}
	return out
}

// minus lists the strings of a missing from b.
func minus(a, b []string) []string {
	out := []string{}
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// Snippet is the start of the draft's text: the plain-text body, else the
// HTML body without its tags, spaces collapsed, at most n characters.
func Snippet(c Content, n int) string {
	text := c.Body
	if strings.TrimSpace(text) == "" {
		text = stripTags(c.BodyHTML)
	}
	var b strings.Builder
	count, space := 0, false
	for _, r := range text {
		if count >= n {
			break
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			count++
			space = false
			if count >= n {
				break
			}
		}
		b.WriteRune(r)
		count++
	}
	return b.String()
}

// stripTags drops what lies between < and > (enough for a snippet), and
// stops reading after 64 KB.
func stripTags(h string) string {
	if len(h) > 64<<10 {
		h = h[:64<<10]
	}
	var b strings.Builder
	in := false
	for _, r := range h {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
