package oauth_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/identity/oauth"
)

func TestOAuthClientRefusesPrivateAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 4096))
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]

	cases := []struct {
		name  string
		allow []string
		url   string
		ok    bool
	}{
		{"loopback refused", nil, srv.URL, false},
		{"localhost name refused after resolution", nil, "http://localhost" + port, false},
		{"allowed by IP", []string{"127.0.0.1"}, srv.URL, true},
		{"allowed by CIDR", []string{"127.0.0.0/8"}, srv.URL, true},
		{"allowed by host name", []string{"localhost"}, "http://localhost" + port, true},
		{"other private range does not allow loopback", []string{"10.0.0.0/8"}, srv.URL, false},
		{"link-local refused", nil, "http://169.254.169.254/latest/meta-data", false},
		{"private refused", []string{"127.0.0.1"}, "http://10.255.255.1" + port, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client, err := oauth.NewHTTPClient(oauth.ClientOptions{AllowedPrivateHosts: c.allow, Timeout: 2e9, MaxResponseBytes: 1024})
			require.NoError(t, err)
			res, err := client.Get(c.url)
			if !c.ok {
				require.Error(t, err)
				assert.True(t, errors.Is(err, oauth.ErrPrivateAddress), "%v", err)
				return
			}
			require.NoError(t, err)
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			assert.Len(t, body, 1024, "the response is cut at MaxResponseBytes")
		})
	}
}
