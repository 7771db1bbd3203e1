package doctype_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

func TestActionsOf(t *testing.T) {
	tests := []struct {
		action ports.Action
		want   doctype.Actions
	}{
		{ports.ActionRead, doctype.Read},
		{ports.ActionWrite, doctype.Write},
		{ports.ActionCreate, doctype.Create},
		{ports.ActionDelete, doctype.Delete},
		{ports.ActionSubmit, doctype.Submit},
		{ports.ActionCancel, doctype.Cancel},
		{ports.ActionAmend, doctype.Amend},
		{ports.Action("fly"), 0},
		{ports.Action(""), 0},
		{ports.Action("READ"), 0},
	}
	seen := doctype.Actions(0)
	for _, tt := range tests {
		got := doctype.ActionsOf(tt.action)
		assert.Equal(t, tt.want, got, "%q", tt.action)
		if got != 0 {
			assert.Zero(t, seen&got, "%q has its own bit", tt.action)
			seen |= got
		}
	}
	assert.Equal(t, doctype.All, seen, "All is every action")
}

func TestActionsHas(t *testing.T) {
	all := []ports.Action{
		ports.ActionRead, ports.ActionWrite, ports.ActionCreate, ports.ActionDelete,
		ports.ActionSubmit, ports.ActionCancel, ports.ActionAmend,
	}
	tests := []struct {
		name string
		set  doctype.Actions
		want []ports.Action
	}{
		{"none", 0, nil},
		{"read", doctype.Read, []ports.Action{ports.ActionRead}},
		{"read write", doctype.Read | doctype.Write, []ports.Action{ports.ActionRead, ports.ActionWrite}},
		{"submit cancel amend", doctype.Submit | doctype.Cancel | doctype.Amend, []ports.Action{ports.ActionSubmit, ports.ActionCancel, ports.ActionAmend}},
		{"all", doctype.All, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, a := range all {
				want := false
				for _, w := range tt.want {
					want = want || w == a
				}
				assert.Equal(t, want, tt.set.Has(a), "%s", a)
			}
			assert.False(t, tt.set.Has(ports.Action("fly")), "unknown actions are never granted")
		})
	}
	assert.False(t, doctype.Actions(0xffff).Has(ports.Action("fly")))
}

func TestNow(t *testing.T) {
	before := time.Now().Add(-time.Second)
	n := doctype.Now()
	assert.Equal(t, time.UTC, n.Location())
	assert.Zero(t, n.Nanosecond()%1000, "microsecond precision")
	assert.True(t, n.After(before))
	assert.Equal(t, n, n.Round(0), "no monotonic clock reading, so == works after a round trip")
}
