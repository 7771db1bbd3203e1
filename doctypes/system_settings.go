package doctypes

import (
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // validate time zones on machines without a zoneinfo database

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// SystemSettings is the app-wide settings singleton (one per tenant). It holds
// no secrets: everyone may read it, only admins may change it.
type SystemSettings struct {
	doctype.Base
	AppName    string `json:"app_name"`
	Timezone   string `json:"timezone"`
	DateFormat string `json:"date_format"`
	TimeFormat string `json:"time_format"`
	Language   string `json:"language"`
	// EnableSignup lets visitors create their own accounts.
	EnableSignup bool `json:"enable_signup"`
	// SessionExpiry is the session lifetime in minutes.
	SessionExpiry int `json:"session_expiry"`
	// MaintenanceMode answers 503 to every non-admin request.
	MaintenanceMode bool `json:"maintenance_mode"`
}

// SystemSettingsDocType is the SystemSettings DocType's name (and its document's name).
const SystemSettingsDocType = "System Settings"

// SystemSettingsMeta describes SystemSettings: a singleton readable by all.
var SystemSettingsMeta = doctype.Meta{
	Name:        SystemSettingsDocType,
	Description: "Application-wide settings.",
	IsSingle:    true,
	Permissions: []doctype.Rule{
		{Role: ports.RoleAll, Actions: doctype.Read},
		{Role: ports.RoleAdmin, Actions: doctype.Read | doctype.Write},
	},
}

// Defaults fills in the settings a new tenant starts with.
func (s *SystemSettings) Defaults() {
	s.AppName = "Framework M"
	s.Timezone = "UTC"
	s.DateFormat = "yyyy-mm-dd"
	s.TimeFormat = "HH:mm:ss"
	s.Language = "en"
	s.SessionExpiry = 1440
}

var languageTag = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

// Validate checks every field.
func (s *SystemSettings) Validate() error {
	v := &core.ValidationError{}
	if s.AppName == "" {
		v.Add("app_name", "must not be empty")
	}
	if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "" || s.Timezone == "Local" {
		v.Add("timezone", "must be an IANA time zone such as Europe/Berlin")
	}
	if s.DateFormat == "" {
		v.Add("date_format", "must not be empty")
	} else if !dateFormat.MatchString(s.DateFormat) {
		v.Add("date_format", "must be day, month and year (dd, mm, yyyy or yy) with separators, such as "+strings.Join(DateFormats, ", "))
	}
	if s.TimeFormat == "" {
		v.Add("time_format", "must not be empty")
	} else if !timeFormat.MatchString(s.TimeFormat) {
		v.Add("time_format", "must be such as "+strings.Join(TimeFormats, ", "))
	}
	if !languageTag.MatchString(s.Language) {
		v.Add("language", "must be a language tag such as en or pt-BR")
	}
	if s.SessionExpiry < 1 || s.SessionExpiry > 525600 {
		v.Add("session_expiry", "must be between 1 and 525600 minutes")
	}
	return v.Err()
}

// dateFormat and timeFormat are the shapes of the formats printed dates
// follow (the print filters read exactly these tokens).
var (
	dateFormat = regexp.MustCompile(`^(dd|mm|yyyy|yy)[-/. ](dd|mm|yyyy|yy)[-/. ](dd|mm|yyyy|yy)$`)
	timeFormat = regexp.MustCompile(`^(HH|hh):mm(:ss)?( a)?$`)
)

// DateFormats are common date formats (yyyy year, mm month, dd day).
var DateFormats = []string{"yyyy-mm-dd", "dd-mm-yyyy", "dd/mm/yyyy", "dd.mm.yyyy", "mm/dd/yyyy", "mm-dd-yyyy", "yyyy/mm/dd", "yyyy.mm.dd"}

// TimeFormats are common time formats (HH 24-hour, hh 12-hour with a for
// AM/PM).
var TimeFormats = []string{"HH:mm:ss", "HH:mm", "hh:mm:ss a", "hh:mm a"}

// InMaintenance reports whether maintenance mode is on.
func (s *SystemSettings) InMaintenance() bool { return s.MaintenanceMode }
