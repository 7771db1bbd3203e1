package doctypes_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

func TestRegisterBuiltins(t *testing.T) {
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	el, ok := reg.Get("Error Log")
	require.True(t, ok)
	assert.True(t, el.Immutable)
	assert.False(t, el.Allows(ports.RoleAll, ports.ActionRead), "error logs are not for everyone")
	ss, ok := reg.Get("System Settings")
	require.True(t, ok)
	assert.True(t, ss.IsSingle)
	assert.Error(t, doctypes.Register(reg), "registering twice is an error")
}

func TestSystemSettingsDefaultsAreValid(t *testing.T) {
	s := &doctypes.SystemSettings{}
	s.Defaults()
	require.NoError(t, s.Validate())
	assert.Equal(t, "UTC", s.Timezone)
	assert.False(t, s.InMaintenance())
}

func TestSystemSettingsValidate(t *testing.T) {
	cases := map[string]func(*doctypes.SystemSettings){
		"app_name":       func(s *doctypes.SystemSettings) { s.AppName = "" },
		"timezone":       func(s *doctypes.SystemSettings) { s.Timezone = "Mars/Base" },
		"date_format":    func(s *doctypes.SystemSettings) { s.DateFormat = "" },
		"time_format":    func(s *doctypes.SystemSettings) { s.TimeFormat = "" },
		"language":       func(s *doctypes.SystemSettings) { s.Language = "English" },
		"session_expiry": func(s *doctypes.SystemSettings) { s.SessionExpiry = 0 },
	}
	for field, mutate := range cases {
		s := &doctypes.SystemSettings{}
		s.Defaults()
		mutate(s)
		var ve *core.ValidationError
		require.True(t, errors.As(s.Validate(), &ve), field)
		assert.Contains(t, ve.FieldMap(), field)
	}
	s := &doctypes.SystemSettings{}
	s.Defaults()
	s.Timezone, s.Language = "Asia/Kolkata", "pt-BR"
	assert.NoError(t, s.Validate())
}

func TestNewErrorLog(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("X", 3600))
	long := string(make([]rune, 300))
	doc := doctypes.NewErrorLog(ports.ErrorRecord{Title: long, ErrorType: "T", Message: "m", RequestID: "r", Timestamp: ts, Context: map[string]any{"k": "v"}}).(*doctypes.ErrorLog)
	assert.LessOrEqual(t, len([]rune(doc.Title)), 140)
	assert.Equal(t, "r", doc.RequestID)
	assert.True(t, doc.Timestamp.Equal(ts.Truncate(time.Microsecond)))
	assert.Equal(t, time.UTC, doc.Timestamp.Location())
	assert.Equal(t, doctype.JSONMap{"k": "v"}, doc.Context)
}

// TestSystemSettingsFormats: date and time formats are the shapes the print
// filters read; anything else is refused when saved.
func TestSystemSettingsFormats(t *testing.T) {
	for _, ok := range [][2]string{{"dd/mm/yy", "hh:mm a"}, {"yyyy.mm.dd", "HH:mm"}, {"mm-dd-yyyy", "hh:mm:ss a"}} {
		s := &doctypes.SystemSettings{}
		s.Defaults()
		s.DateFormat, s.TimeFormat = ok[0], ok[1]
		assert.NoError(t, s.Validate(), ok)
	}
	for _, bad := range [][2]string{{"dd/mm/yyyy Q", "HH:mm"}, {"yyyy-mm-dd", "HH:mm Q"}, {"DD-MM-YYYY", "HH:mm"}, {"dd-mm", "HH:mm"}} {
		s := &doctypes.SystemSettings{}
		s.Defaults()
		s.DateFormat, s.TimeFormat = bad[0], bad[1]
		assert.Error(t, s.Validate(), bad)
	}
}
