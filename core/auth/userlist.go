package auth

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// UserFields names the fields of a user DocType that a ports.UserFilter reads.
type UserFields struct {
	Email, DisplayName string
	// Roles is a doctype.StringList field (a JSON array in a text column).
	Roles string
	// Active is the enabled flag; "" means every user of the DocType is enabled.
	Active string
}

// userScanPage is how many documents ListUsers reads at a time when it
// filters in memory.
const userScanPage = 500

// ListUsers returns the page of doctype's documents in repo (the tenant of
// ctx) that f selects, ordered by email then name, with the total of all
// matches: the one implementation of ports.UserDirectory.ListUsers and
// ports.SeenUserStore.ListUsers over a repository. toUser converts a document.
//
// The repository narrows with equality and LIKE filters; f.Matches is the
// exact rule. When LIKE may say more than f (a role, which must match case and
// all; a search holding the LIKE wildcards % or _), matching documents are
// counted and paged here, reading the narrowed candidates in pages.
func ListUsers(ctx context.Context, repo ports.Repository, dt string, fields UserFields, f ports.UserFilter, toUser func(doc any) *ports.User) (*ports.UserPage, error) {
	if f.Limit <= 0 {
		f.Limit = ports.DefaultUserPage
	}
	f.Limit = min(f.Limit, ports.MaxUserPage)
	f.Offset = max(f.Offset, 0)
	var filters []ports.Filter
	if f.Enabled != nil {
		switch {
		case fields.Active != "":
			filters = append(filters, ports.Filter{Field: fields.Active, Op: ports.OpEq, Value: *f.Enabled})
		case !*f.Enabled:
			return &ports.UserPage{Users: []*ports.User{}}, nil
		}
	}
	if f.Search != "" {
		like := "%" + f.Search + "%"
		filters = append(filters, ports.Filter{Any: [][]ports.Filter{
			{{Field: fields.Email, Op: ports.OpLike, Value: like}},
			{{Field: fields.DisplayName, Op: ports.OpLike, Value: like}},
		}})
	}
	orders := []ports.Order{{Field: fields.Email}, {Field: doctype.FieldName}}
	if f.Role == "" && !strings.ContainsAny(f.Search, "%_") {
		res, err := repo.List(ctx, dt, ports.Query{Filters: filters, Orders: orders, Limit: f.Limit, Offset: f.Offset})
		if err != nil {
			return nil, err
		}
		page := &ports.UserPage{Users: make([]*ports.User, 0, len(res.Items)), Total: res.Total}
		for _, d := range res.Items {
			page.Users = append(page.Users, toUser(d))
		}
		return page, nil
	}
	if f.Role != "" {
		role, _ := json.Marshal(f.Role) // as doctype.StringList stores it
		narrowed := append(slices.Clone(filters), ports.Filter{Field: fields.Roles, Op: ports.OpLike, Value: "%" + string(role) + "%"})
		page, err := scanUsers(ctx, repo, dt, narrowed, orders, f, toUser)
		if !errors.Is(err, core.ErrValidation) {
			return page, err
		}
		// A repository that cannot LIKE a list column: read every candidate.
	}
	return scanUsers(ctx, repo, dt, filters, orders, f, toUser)
}

// scanUsers reads every document filters select and pages the ones f matches.
func scanUsers(ctx context.Context, repo ports.Repository, dt string, filters []ports.Filter, orders []ports.Order, f ports.UserFilter, toUser func(doc any) *ports.User) (*ports.UserPage, error) {
	page := &ports.UserPage{Users: []*ports.User{}}
	for offset := 0; ; offset += userScanPage {
		res, err := repo.List(ctx, dt, ports.Query{Filters: filters, Orders: orders, Limit: userScanPage, Offset: offset, SkipCount: true})
		if err != nil {
			return nil, err
		}
		for _, d := range res.Items {
			u := toUser(d)
			if !f.Matches(u) {
				continue
			}
			if page.Total >= int64(f.Offset) && len(page.Users) < f.Limit {
				page.Users = append(page.Users, u)
			}
			page.Total++
		}
		if len(res.Items) < userScanPage {
			return page, nil
		}
	}
}
