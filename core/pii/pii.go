// Package pii holds Framework M's personal-data rules: the list of field
// names that hold sensitive personal data, and the deletion modes of the right
// to erasure.
package pii

import "strings"

// DeletionMode is what DELETE /api/v1/auth/me does.
type DeletionMode string

// Deletion modes.
const (
	// HardDelete removes the user record.
	HardDelete DeletionMode = "hard_delete"
	// Anonymize keeps a disabled record with personal data replaced (so
	// references such as document owners stay valid).
	Anonymize DeletionMode = "anonymize"
)

// SensitiveFields are the field names of personal data a minimal-PII app should
// not store by default: full legal name, phone, address, date of birth and
// national identifiers. LocalUser stores none of them.
var SensitiveFields = []string{
	"full_name", "legal_name", "first_name", "last_name", "middle_name", "maiden_name",
	"phone", "phone_number", "mobile", "mobile_number", "telephone",
	"address", "street", "street_address", "address_line", "postal_code", "zip", "zip_code",
	"date_of_birth", "dob", "birth_date", "birthday",
	"ssn", "social_security_number", "national_id", "passport", "passport_number", "tax_id",
}

// IsSensitivePII reports whether a field name looks like one of
// SensitiveFields: case, spaces, dashes and camelCase are ignored, so "Phone
// Number", "phone-number" and "phoneNumber" all match, as do names that contain
// one ("home_address", "billing_address_line1").
func IsSensitivePII(name string) bool {
	n := normalize(name)
	if n == "" {
		return false
	}
	for _, f := range SensitiveFields {
		if n == f || strings.HasPrefix(n, f+"_") || strings.HasSuffix(n, "_"+f) || strings.Contains(n, "_"+f+"_") {
			return true
		}
	}
	return false
}

func normalize(s string) string {
	var b strings.Builder
	prevLower := false
	for _, c := range strings.TrimSpace(s) {
		switch {
		case c >= 'A' && c <= 'Z':
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(c + ('a' - 'A'))
			prevLower = false
		case c == ' ' || c == '-' || c == '.' || c == '_':
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
			prevLower = false
		default:
			b.WriteRune(c)
			prevLower = c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		}
	}
	return strings.Trim(b.String(), "_")
}
