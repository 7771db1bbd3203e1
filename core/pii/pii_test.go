package pii_test

import (
	"testing"

	"github.com/framework-m/framework-m/core/pii"
)

func TestIsSensitivePII(t *testing.T) {
	for name, want := range map[string]bool{
		"phone": true, "Phone Number": true, "phoneNumber": true, "phone-number": true,
		"home_address": true, "billing_address_line1": true, "address_line": true,
		"date_of_birth": true, "DOB": true, "ssn": true, "full_name": true,
		"email": false, "display_name": false, "name": false, "amount": false,
		"telephone_ext": true, "dress_size": false, "": false,
	} {
		if got := pii.IsSensitivePII(name); got != want {
			t.Errorf("IsSensitivePII(%q) = %v, want %v", name, got, want)
		}
	}
}
