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

func TestAuthModes(t *testing.T) {
	for _, s := range []string{"local", "social_only", "passwordless", "federated"} {
		m, err := pii.ParseAuthMode(s)
		if err != nil || string(m) != s {
			t.Fatalf("ParseAuthMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := pii.ParseAuthMode("ldap"); err == nil {
		t.Fatal("unknown mode accepted")
	}
	if !pii.ModeLocal.HasPasswords() || pii.ModeSocialOnly.HasPasswords() || pii.ModePasswordless.HasPasswords() || pii.ModeFederated.HasPasswords() {
		t.Error("only local mode has passwords")
	}
	if pii.ModeFederated.HasLocalUsers() || !pii.ModeSocialOnly.HasLocalUsers() {
		t.Error("federated mode alone has no local users")
	}
}
