package files

import (
	"crypto/rand"
	"encoding/hex"
	"mime"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxFileName is the longest file name kept, in bytes.
const MaxFileName = 255

// SafeName returns the file name a client sent made safe to keep, show and
// send back in Content-Disposition: its last path element (whichever
// separator the client's system uses), without control characters, quotes,
// or leading and trailing spaces and dots, at most MaxFileName bytes keeping
// the extension; "file" when nothing is left.
func SafeName(name string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), r == '"', r == '\u2028', r == '\u2029', unicode.Is(unicode.Bidi_Control, r):
			return -1
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	if len(name) > MaxFileName {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		base := name[:MaxFileName-len(ext)]
		for !utf8.ValidString(base) {
			base = base[:len(base)-1]
		}
		name = base + ext
	}
	if name == "" {
		return "file"
	}
	return name
}

// Ext returns the lower-case extension of name, without the dot ("" if none).
func Ext(name string) string {
	return strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
}

// keyName is name reduced to what a storage key segment may hold, at most
// 80 bytes.
func keyName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 80 {
			break
		}
	}
	return strings.Trim(b.String(), ".")
}

// tenantSegment is the key segment of a tenant: its id when it is made of
// key characters (and does not start with "_"), else "_" and the id in hex,
// so that no two tenants share a segment.
func tenantSegment(tenant string) string {
	plain := tenant != "" && !strings.HasPrefix(tenant, "_") && tenant != "." && tenant != ".." && len(tenant) <= 100
	for i := 0; plain && i < len(tenant); i++ {
		c := tenant[i]
		plain = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if plain {
		return tenant
	}
	return "_" + hex.EncodeToString([]byte(tenant))
}

// KeyPrefix is where every object of tenant is stored: "files/<tenant>/".
func KeyPrefix(tenant string) string { return "files/" + tenantSegment(tenant) + "/" }

// NewKey returns a fresh storage key for a file of tenant named name:
// files/<tenant>/YYYY/MM/DD/<random>-<name>.
func NewKey(tenant, name string, now time.Time) string {
	var r [12]byte
	_, _ = rand.Read(r[:])
	k := KeyPrefix(tenant) + now.UTC().Format("2006/01/02") + "/" + hex.EncodeToString(r[:])
	if n := keyName(name); n != "" {
		k += "-" + n
	}
	return k
}

// InTenant reports whether key is one of tenant's objects.
func InTenant(key, tenant string) bool { return strings.HasPrefix(key, KeyPrefix(tenant)) }

// Disposition returns the Content-Disposition of a download of name:
// inline or attachment, the name in quotes and, when it is not ASCII, in
// RFC 5987 form too.
func Disposition(name string, inline bool) string {
	kind := "attachment"
	if inline {
		kind = "inline"
	}
	if v := mime.FormatMediaType(kind, map[string]string{"filename": name}); v != "" {
		return v
	}
	return kind
}

// activeTypes are content types a browser would run or render with scripts:
// never served inline, and always with a sandboxing Content-Security-Policy.
var activeTypes = []string{"text/html", "image/svg+xml", "text/xml", "application/xml", "application/xhtml+xml",
	"text/javascript", "application/javascript", "application/x-javascript", "application/ecmascript", "text/ecmascript",
	"application/x-shockwave-flash", "application/pdf+xml", "text/xsl", "application/rdf+xml", "application/mathml+xml"}

// Active reports whether contentType is run or rendered with scripts by
// browsers (HTML, SVG, XML, JavaScript …), or unknown to this list in a way
// that hides it (no type, or a +xml suffix).
func Active(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt == "" {
		return true
	}
	for _, a := range activeTypes {
		if mt == a {
			return true
		}
	}
	return strings.HasSuffix(mt, "+xml")
}
