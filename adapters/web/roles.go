package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/core/roles"
	"github.com/framework-m/framework-m/ports"
)

// Who decides permissions, as the role permissions route says.
const (
	decidedByRBAC   = "rbac"
	decidedByPolicy = "policy service"
)

// rolesHandler serves the tenant's roles, and what each grants, to admins.
type rolesHandler struct {
	roles *roles.Service
	// explainer lists what a role grants; nil when the permission backend
	// decides per request (a policy service) and cannot say.
	explainer ports.PermissionExplainer
	// adminRoles are [permissions] admin_roles.
	adminRoles []string
	// users finds the user whose permissions are explained (nil: no route).
	users *auth.UserAdmin
}

// bindRoles registers GET /roles and GET /roles/{role}/permissions, for
// admins only (403 to others), when the roles service is there.
// With users, GET /users/{id}/permissions?doctype=X explains one user's
// effective permissions (404 to non-admins, as every single-user route).
func bindRoles(api *echo.Group, svc *roles.Service, explainer ports.PermissionExplainer, adminRoles []string, users *auth.UserAdmin, docs *routeDocs) {
	if svc == nil {
		return
	}
	h := rolesHandler{roles: svc, explainer: explainer, adminRoles: adminRoles, users: users}
	docs.add(api.GET("/roles", h.list, RequireUser, h.adminOnly), route{tag: "Roles", summary: "The tenant's roles (admins)",
		responses: replies(reply(http.StatusOK, "the roles", dataOf(schemaOf[[]roles.RoleInfo]())))})
	docs.add(api.GET("/roles/:role/permissions", h.permissions, RequireUser, h.adminOnly), route{tag: "Roles", summary: "What a role grants (admins)",
		responses: replies(reply(http.StatusOK, "the role's grants (null when a policy service decides)", dataOf(schemaOf[rolePermissions]())))})
	if users != nil {
		docs.add(api.GET("/users/:id/permissions", h.userPermissions, RequireUser), route{tag: "Roles", summary: "What one user may do on one DocType, and which rule gives it (admins)",
			params:    []*openapi.Parameter{{Name: "doctype", In: "query", Required: true, Schema: str(), Description: "the DocType to explain"}},
			responses: replies(reply(http.StatusOK, "the explanation", dataOf(schemaOf[userPermissions]())))})
	}
}

// userPermissions is what one user may do on one DocType, and which rule
// gives it — for admins debugging "why can't she see this invoice".
type userPermissions struct {
	User      string             `json:"user"`
	DocType   string             `json:"doctype"`
	DecidedBy string             `json:"decided_by"`
	Roles     []string           `json:"roles"`
	Explained *ports.Explanation `json:"explanation"`
}

func (h rolesHandler) userPermissions(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := h.users.Get(ctx, param(c, "id")) // non-admins: 404
	if err != nil {
		return err
	}
	dt := c.QueryParam("doctype")
	if dt == "" {
		return core.Invalid("doctype", "is required: the DocType to explain, e.g. ?doctype=Invoice")
	}
	out := userPermissions{User: u.ID, DocType: dt, DecidedBy: decidedByPolicy, Roles: h.roles.Active(ctx, u.Roles)}
	if h.explainer != nil {
		principal := &ports.UserContext{ID: u.ID, Email: u.Email, TenantID: ports.TenantIDFrom(ctx), Roles: out.Roles, Attributes: u.Attributes}
		exp, err := h.explainer.Explain(ctx, principal, dt)
		if err != nil {
			return err
		}
		out.DecidedBy, out.DocType, out.Explained = decidedByRBAC, exp.DocType, &exp
	}
	return data(c, http.StatusOK, out)
}

// adminOnly answers 403 unless the principal holds an enabled admin role.
func (h rolesHandler) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := userOf(c)
		active := &ports.UserContext{ID: u.ID, Roles: h.roles.Active(c.Request().Context(), u.AllRoles())}
		if !isAdmin(active, h.adminRoles) {
			return core.Public(core.ErrForbidden, "only administrators may manage roles")
		}
		return next(c)
	}
}

func (h rolesHandler) list(c echo.Context) error {
	all, err := h.roles.List(c.Request().Context())
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, all)
}

// rolePermissions is what a role grants. Grants is null when a policy
// service decides: it answers per request, and guessing would mislead.
type rolePermissions struct {
	Role      string        `json:"role"`
	Disabled  bool          `json:"disabled"`
	DecidedBy string        `json:"decided_by"`
	Grants    []ports.Grant `json:"grants"`
}

func (h rolesHandler) permissions(c echo.Context) error {
	ctx := c.Request().Context()
	info, err := h.roles.Get(ctx, param(c, "role"))
	if err != nil {
		return err
	}
	out := rolePermissions{Role: info.Name, Disabled: info.Disabled, DecidedBy: decidedByPolicy}
	if h.explainer != nil {
		grants, err := h.explainer.RoleGrants(ctx, info.Name)
		if err != nil {
			return err
		}
		out.DecidedBy, out.Grants = decidedByRBAC, grants
	}
	return data(c, http.StatusOK, out)
}
