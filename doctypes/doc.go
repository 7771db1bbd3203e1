// Package doctypes holds Framework M's built-in DocTypes: plain structs that
// embed doctype.Base, and their Meta. Register adds them all to a registry.
package doctypes

import (
	"errors"

	"github.com/framework-m/framework-m/core/doctype"
)

// Register adds every built-in DocType to reg.
func Register(reg *doctype.Registry) error {
	var errs []error
	add := func(_ *doctype.DocType, err error) { errs = append(errs, err) }
	add(doctype.Register[ErrorLog](reg, ErrorLogMeta))
	add(doctype.Register[SystemSettings](reg, SystemSettingsMeta))
	add(doctype.Register[Session](reg, SessionMeta))
	add(doctype.Register[CustomPermission](reg, CustomPermissionMeta))
	add(doctype.Register[Role](reg, RoleMeta))
	add(doctype.Register[ActivityLog](reg, ActivityLogMeta))
	add(doctype.Register[Notification](reg, NotificationMeta))
	add(doctype.Register[PrintFormat](reg, PrintFormatMeta))
	add(doctype.Register[EmailQueue](reg, EmailQueueMeta))
	add(doctype.Register[MagicLinkUse](reg, MagicLinkUseMeta))
	errs = append(errs, RegisterEmailDrafts(reg))
	errs = append(errs, RegisterFiles(reg))
	return errors.Join(errs...)
}
