package ports_test

import (
	"context"
	"testing"

	"github.com/framework-m/framework-m/ports"
)

func TestUserContextRoles(t *testing.T) {
	u := &ports.UserContext{ID: "u", Roles: []string{"Editor"}, Attributes: map[string]any{"roles": []any{"Auditor", 7}, "department": "sales", "level": 5}}
	for role, want := range map[string]bool{"Editor": true, "Auditor": true, "Admin": false, "7": false} {
		if got := u.HasRole(role); got != want {
			t.Errorf("HasRole(%q) = %v, want %v", role, got, want)
		}
	}
	if got := u.AllRoles(); len(got) != 2 || got[0] != "Editor" || got[1] != "Auditor" {
		t.Errorf("AllRoles = %v", got)
	}
	if !u.HasAttribute("department", "sales") || u.HasAttribute("department", "ops") || u.HasAttribute("missing", nil) {
		t.Error("HasAttribute")
	}
	if u.GetAttribute("level", 0) != 5 || u.GetAttribute("missing", "d") != "d" {
		t.Error("GetAttribute")
	}
	strs := &ports.UserContext{Attributes: map[string]any{"roles": []string{"System"}}}
	if !strs.IsSystemUser() || strs.IsAdmin() {
		t.Error("roles from a []string attribute")
	}
	var none *ports.UserContext
	if none.HasRole("Admin") || none.GetAttribute("x", 1) != 1 || none.AllRoles() != nil {
		t.Error("nil user has nothing")
	}
	if !ports.SystemUser.IsSystemUser() || !ports.SystemUser.IsAdmin() {
		t.Error("SystemUser")
	}
}

func TestTenantFeatures(t *testing.T) {
	cases := []struct {
		features any
		name     string
		want     bool
	}{
		{"*", "anything", true},
		{"billing,reports", "reports", true},
		{"billing,reports", "export", false},
		{[]string{"a", "b"}, "b", true},
		{[]any{"a", "*"}, "z", true},
		{map[string]any{"beta": true, "old": false}, "beta", true},
		{map[string]any{"beta": true, "old": false}, "old", false},
		{nil, "x", false},
	}
	for _, c := range cases {
		tc := &ports.TenantContext{ID: "t", Attributes: map[string]any{"features": c.features}}
		if got := tc.HasFeature(c.name); got != c.want {
			t.Errorf("features %v HasFeature(%q) = %v, want %v", c.features, c.name, got, c.want)
		}
	}
	var none *ports.TenantContext
	if none.HasFeature("x") {
		t.Error("nil tenant has no features")
	}
}

func TestContextCarriers(t *testing.T) {
	ctx := context.Background()
	if ports.UserFrom(ctx) != nil || ports.TenantFrom(ctx) != nil || ports.TenantIDFrom(ctx) != "" || ports.PeerAddrFrom(ctx) != "" {
		t.Fatal("empty context carries nothing")
	}
	u := &ports.UserContext{ID: "u"}
	ctx = ports.WithPeerAddr(ports.WithTenantID(ports.WithUser(ctx, u), "t1"), "10.0.0.1:5")
	if ports.UserFrom(ctx) != u || ports.TenantIDFrom(ctx) != "t1" || ports.PeerAddrFrom(ctx) != "10.0.0.1:5" {
		t.Fatal("values not carried")
	}
	if !ports.OpNotIn.Valid() || ports.Operator("~").Valid() {
		t.Fatal("Operator.Valid")
	}
}
