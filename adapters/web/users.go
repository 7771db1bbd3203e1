package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/ports"
)

// usersHandler serves user administration for admins (auth.UserAdmin holds
// the rules: who may, last admin, own admin role, tenant isolation).
type usersHandler struct {
	users *auth.UserAdmin
	// maxBody caps JSON request bodies ([app] max_body_bytes).
	maxBody int64
}

// bindUsers registers /users: list and create, and per user get, patch,
// disable, enable, reset-password and logout-everywhere. In federated mode
// only the reads work (writes answer 405).
//
//	GET  /users?role=R&enabled=true&search=S&limit=20&offset=0
//	POST /users                      {"email", "password", "display_name", "roles"}
//	GET  /users/{id}
//	PATCH /users/{id}                {"display_name", "enabled", "roles"} (each optional)
//	POST /users/{id}/disable | /enable | /reset-password | /logout-everywhere
func bindUsers(api *echo.Group, users *auth.UserAdmin, maxBody int64, docs *routeDocs) {
	if users == nil {
		return
	}
	h := usersHandler{users: users, maxBody: maxBody}
	user := dataOf(schemaOf[auth.ManagedUser]())
	const tag = "Users"
	docs.add(api.GET("/users", h.list, RequireUser, h.admit(false, false)), route{tag: tag, summary: "List users (admins)",
		params: []*openapi.Parameter{query("role", "users holding this role", str()), query("enabled", "true or false", boolean()),
			query("search", "part of the email or display name", str()),
			query("limit", "page size", &openapi.Schema{Type: "integer", Minimum: new(1.0), Maximum: new(float64(ports.MaxUserPage))}),
			query("offset", "users to skip", &openapi.Schema{Type: "integer", Minimum: new(0.0)})},
		responses: replies(reply(http.StatusOK, "a page of users", schemaOf[userListResponse]()))})
	docs.add(api.POST("/users", h.create, RequireUser, h.admit(false, true, http.MethodGet)), route{tag: tag, summary: "Create a user (admins)",
		body: jsonBody(strictObject(map[string]*openapi.Schema{"email": str(), "password": str(), "display_name": str(),
			"roles": openapi.Nullable(openapi.Array(str()))})),
		responses: replies(reply(http.StatusCreated, "created", user))})
	docs.add(api.GET("/users/:id", h.one(users.Get), RequireUser, h.admit(true, false)), route{tag: tag, summary: "Get a user (admins)",
		responses: replies(reply(http.StatusOK, "the user", user))})
	docs.add(api.PATCH("/users/:id", h.patch, RequireUser, h.admit(true, true, http.MethodGet)), route{tag: tag, summary: "Change a user's display name, enabled flag or roles (admins)",
		body: jsonBody(strictObject(map[string]*openapi.Schema{"display_name": openapi.Nullable(str()),
			"enabled": openapi.Nullable(boolean()), "roles": openapi.Nullable(openapi.Array(str()))})),
		responses: replies(reply(http.StatusOK, "the changed user", user))})
	docs.add(api.POST("/users/:id/disable", h.one(users.Disable), RequireUser, h.admit(true, true)), route{tag: tag, summary: "Disable a user (admins)",
		responses: replies(reply(http.StatusOK, "the user", user))})
	docs.add(api.POST("/users/:id/enable", h.one(users.Enable), RequireUser, h.admit(true, true)), route{tag: tag, summary: "Enable a user (admins)",
		responses: replies(reply(http.StatusOK, "the user", user))})
	docs.add(api.POST("/users/:id/reset-password", h.resetPassword, RequireUser, h.admit(true, true)), route{tag: tag, summary: "Give a user a temporary password (admins)",
		responses: replies(reply(http.StatusOK, "the temporary password, shown once", dataOf(obj(map[string]*openapi.Schema{"temporary_password": str()}))))})
	docs.add(api.POST("/users/:id/logout-everywhere", h.logoutEverywhere, RequireUser, h.admit(true, true)), route{tag: tag, summary: "End every session and token of a user (admins)",
		responses: replies(reply(http.StatusOK, "logged out", dataOf(obj(map[string]*openapi.Schema{"id": str(), "logged_out_everywhere": boolean()}))))})
}

// admit runs UserAdmin.Admit before the handler reads anything: a non-admin
// learns nothing from how a body would have been judged, and a read-only
// directory refuses writes whatever they carry.
func (h usersHandler) admit(one, write bool, allow ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := h.users.Admit(c.Request().Context(), one, write, allow...); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// userListResponse is the body of a user list.
type userListResponse struct {
	Data   []*auth.ManagedUser `json:"data"`
	Total  int64               `json:"total"`
	Limit  int                 `json:"limit"`
	Offset int                 `json:"offset"`
}

// parseUserFilter reads role, enabled, search, limit and offset.
func parseUserFilter(q url.Values) (ports.UserFilter, error) {
	f := ports.UserFilter{Role: q.Get("role"), Search: q.Get("search")}
	verr := &core.ValidationError{}
	if v := q.Get("enabled"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			verr.Add("enabled", "must be true or false")
		}
		f.Enabled = &b
	}
	whole := func(name string, dst *int) {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				verr.Add(name, "must be a whole number")
			}
			*dst = n
		}
	}
	whole("limit", &f.Limit)
	whole("offset", &f.Offset)
	if q.Get("limit") != "" && f.Limit == 0 { // absent is the default; 0 is no page at all
		verr.Add("limit", fmt.Sprintf("must be between 1 and %d (leave it out for %d)", ports.MaxUserPage, ports.DefaultUserPage))
	}
	return f, verr.Err()
}

func (h usersHandler) list(c echo.Context) error {
	f, err := parseUserFilter(c.QueryParams())
	if err != nil {
		return err
	}
	res, err := h.users.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, userListResponse{Data: res.Users, Total: res.Total, Limit: res.Limit, Offset: res.Offset})
}

func (h usersHandler) create(c echo.Context) error {
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return err
	}
	var b struct {
		Email       string   `json:"email"`
		Password    string   `json:"password"`
		DisplayName string   `json:"display_name"`
		Roles       []string `json:"roles"`
	}
	if err := decodeStrict(body, &b); err != nil {
		return strictOr(err, core.Invalid("body", `must be {"email": "...", "password": "...", "display_name": "...", "roles": ["..."]}`))
	}
	u, err := h.users.Create(c.Request().Context(), ports.NewUser{Email: b.Email, Password: b.Password, DisplayName: b.DisplayName, Roles: b.Roles})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, APIPrefix+"/users/"+url.PathEscape(u.ID))
	return data(c, http.StatusCreated, u)
}

// one serves a route answering user :id as act leaves it (get, disable, enable).
func (h usersHandler) one(act func(ctx context.Context, id string) (*auth.ManagedUser, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := act(c.Request().Context(), param(c, "id"))
		if err != nil {
			return err
		}
		return data(c, http.StatusOK, u)
	}
}

// patch changes display_name (the "full_name"), enabled and roles;
// any other key is a 400.
func (h usersHandler) patch(c echo.Context) error {
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return err
	}
	var b struct {
		DisplayName *string   `json:"display_name"`
		Enabled     *bool     `json:"enabled"`
		Roles       *[]string `json:"roles"`
	}
	if err := decodeStrict(body, &b); err != nil {
		return strictOr(err, core.Invalid("body", `must be {"display_name": "...", "enabled": true, "roles": ["..."]}, each key optional`))
	}
	ch := ports.UserChanges{DisplayName: b.DisplayName, IsActive: b.Enabled}
	if b.Roles != nil {
		ch.Roles = *b.Roles
		if ch.Roles == nil {
			ch.Roles = []string{}
		}
	}
	u, err := h.users.Update(c.Request().Context(), param(c, "id"), ch)
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, u)
}

// resetPassword answers the temporary password, once, never cached.
func (h usersHandler) resetPassword(c echo.Context) error {
	pw, err := h.users.ResetPassword(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return data(c, http.StatusOK, map[string]any{"temporary_password": pw})
}

func (h usersHandler) logoutEverywhere(c echo.Context) error {
	id := param(c, "id")
	if err := h.users.LogoutEverywhere(c.Request().Context(), id); err != nil {
		return err
	}
	return data(c, http.StatusOK, map[string]any{"id": id, "logged_out_everywhere": true})
}
