package auth_test

import (
	"testing"

	"github.com/framework-m/framework-m/core/auth"
)

func TestAuthModes(t *testing.T) {
	for _, s := range []string{"local", "social_only", "passwordless", "federated"} {
		m, err := auth.ParseMode(s)
		if err != nil || string(m) != s {
			t.Fatalf("ParseAuthMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := auth.ParseMode("ldap"); err == nil {
		t.Fatal("unknown mode accepted")
	}
	if !auth.ModeLocal.HasPasswords() || auth.ModeSocialOnly.HasPasswords() || auth.ModePasswordless.HasPasswords() || auth.ModeFederated.HasPasswords() {
		t.Error("only local mode has passwords")
	}
	if auth.ModeFederated.HasLocalUsers() || !auth.ModeSocialOnly.HasLocalUsers() {
		t.Error("federated mode alone has no local users")
	}
}
