package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/fmtest"
)

// refused asserts res is a 400 validation_error whose fields are want.
func refused(t *testing.T, res *fmtest.Response, want map[string]string) {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, res.Status, "%s", res.Body)
	e := res.Err(t)
	assert.Equal(t, "validation_error", e.Error.Code)
	assert.Equal(t, want, e.Error.Fields)
}

// sessionCount returns how many sessions the client's user has.
func sessionCount(t *testing.T, c *fmtest.Client) int {
	t.Helper()
	var list struct {
		Data []map[string]any `json:"data"`
	}
	c.Get("/api/v1/auth/sessions").RequireStatus(t, http.StatusOK).JSON(t, &list)
	return len(list.Data)
}

// TestStrictJSONLogin: a gateway reading the first "username" would see
// ann's login while encoding/json, the last one winning, signed in the admin.
func TestStrictJSONLogin(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, adminEmail, adminPass, "Admin")
	app.CreateUser(t, annEmail, annPass)
	admin := app.Bearer(app.Login(t, adminEmail, adminPass))
	before := sessionCount(t, admin)

	for name, tc := range map[string]struct {
		body  string
		field string
	}{
		"two username keys":        {`{"username":"` + annEmail + `","password":"` + adminPass + `","username":"` + adminEmail + `"}`, "username"},
		"two spellings of a field": {`{"username":"` + annEmail + `","password":"` + adminPass + `","Username":"` + adminEmail + `"}`, "username"},
		"two password keys":        {`{"username":"` + adminEmail + `","password":"x","password":"` + adminPass + `"}`, "password"},
		"invalid UTF-8":            {"{\"username\":\"" + adminEmail + "\",\"password\":\"" + adminPass + "\xff\"}", "password"},
		"lone surrogate":           {`{"username":"` + adminEmail + `\udc00","password":"` + adminPass + `"}`, "username"},
	} {
		browser := app.Browser()
		res := browser.Post("/api/v1/auth/login?session=true", tc.body)
		want := map[string]string{tc.field: "appears more than once"}
		if name == "invalid UTF-8" || name == "lone surrogate" {
			want = map[string]string{tc.field: "must be valid UTF-8"}
		}
		refused(t, res, want)
		assert.NotContains(t, string(res.Body), "access_token", name)
		assert.Empty(t, res.Header.Values("Set-Cookie"), name)
		assert.Empty(t, browser.Cookie("session_id"), name)
	}
	assert.Equal(t, before, sessionCount(t, admin), "no session was made")
	st, _ := me(t, app.Bearer(app.Login(t, adminEmail, adminPass)))
	assert.Equal(t, http.StatusOK, st, "a well-formed login still works")
}

// TestStrictJSONAuthBodies: password change, API-key create and preferences
// refuse duplicates and change nothing.
func TestStrictJSONAuthBodies(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, annEmail, annPass)
	c := app.Bearer(app.Login(t, annEmail, annPass))

	refused(t, c.Post("/api/v1/auth/password", `{"current_password":"`+annPass+`","new_password":"a brand new passphrase","new_password":"another new passphrase"}`),
		map[string]string{"new_password": "appears more than once"})
	refused(t, c.Post("/api/v1/auth/password", `{"current_password":"`+annPass+`","new_password":"a brand new passphrase","New_Password":"x"}`),
		map[string]string{"new_password": "appears more than once"})
	st, _ := me(t, c)
	assert.Equal(t, http.StatusOK, st, "the password did not change: the token lives")
	app.Login(t, annEmail, annPass)

	refused(t, c.Post("/api/v1/auth/api-keys", `{"name":"a","name":"b","current_password":"`+annPass+`"}`),
		map[string]string{"name": "appears more than once"})
	refused(t, c.Post("/api/v1/auth/api-keys", "{\"name\":\"a\xc0\",\"current_password\":\""+annPass+"\"}"),
		map[string]string{"name": "must be valid UTF-8"})
	var keys struct {
		Data []map[string]any `json:"data"`
	}
	c.Get("/api/v1/auth/api-keys").RequireStatus(t, http.StatusOK).JSON(t, &keys)
	assert.Empty(t, keys.Data, "no key was made")

	refused(t, c.Patch("/api/v1/auth/me/preferences", `{"language":"de","language":"fr"}`),
		map[string]string{"language": "appears more than once"})
	prefs := c.Get("/api/v1/auth/me/preferences").RequireStatus(t, http.StatusOK).Data(t)
	assert.NotEqual(t, "de", prefs["language"])
	assert.NotEqual(t, "fr", prefs["language"])
}

func TestStrictJSONResource(t *testing.T) {
	app := newApp(t)
	c := app.As(fmtest.User("w", "Writer"))
	for name, tc := range map[string]struct {
		body string
		want map[string]string
	}{
		"duplicate key":          {`{"title":"first","title":"second"}`, map[string]string{"title": "appears more than once"}},
		"escaped duplicate":      {`{"title":"first","\u0074itle":"second"}`, map[string]string{"title": "appears more than once"}},
		"invalid UTF-8":          {"{\"title\":\"caf\xe9\"}", map[string]string{"title": "must be valid UTF-8"}},
		"lone surrogate escape":  {`{"title":"\ud83d"}`, map[string]string{"title": "must be valid UTF-8"}},
		"invalid UTF-8 in a key": {"{\"ti\xfftle\":\"x\"}", map[string]string{"body": "has an object key that is not valid UTF-8"}},
	} {
		t.Run(name, func(t *testing.T) {
			refused(t, c.Post("/api/v1/resource/Note", tc.body), tc.want)
		})
	}
	_, total := c.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK).List(t)
	assert.Zero(t, total, "no document was stored")

	doc := c.Post("/api/v1/resource/Note", `{"title":"caf\u00e9 \ud83d\ude00"}`).RequireStatus(t, http.StatusCreated).Data(t)
	assert.Equal(t, "café 😀", doc["title"], "escaped surrogate pairs are valid")
	path := "/api/v1/resource/Note/" + doc["name"].(string)
	refused(t, c.Patch(path, `{"title":"a","title":"b"}`), map[string]string{"title": "appears more than once"})
	refused(t, c.Patch(path, "{\"title\":\"\x80\"}"), map[string]string{"title": "must be valid UTF-8"})
	assert.Equal(t, "café 😀", c.Get(path).RequireStatus(t, http.StatusOK).Data(t)["title"], "unchanged")

	_, logs := app.As(fmtest.Admin()).Get("/api/v1/resource/Error%20Log").List(t)
	assert.Zero(t, logs, "refusals are not internal errors")
}

func TestStrictJSONSettings(t *testing.T) {
	app := newApp(t)
	admin := app.As(fmtest.Admin())
	before := admin.Get("/api/v1/settings").RequireStatus(t, http.StatusOK)
	refused(t, admin.Patch("/api/v1/settings", `{"app_name":"A","app_name":"B"}`), map[string]string{"app_name": "appears more than once"})
	refused(t, admin.Patch("/api/v1/settings", "{\"app_name\":\"\xff\"}"), map[string]string{"app_name": "must be valid UTF-8"})
	after := admin.Get("/api/v1/settings").RequireStatus(t, http.StatusOK)
	assert.Equal(t, before.Header.Get("ETag"), after.Header.Get("ETag"), "unchanged")
	assert.Equal(t, before.Data(t)["app_name"], after.Data(t)["app_name"])
}
