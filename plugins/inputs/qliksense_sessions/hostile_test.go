package qliksense_sessions

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Issue 21: what a hostile sender or a slip in the config can make the
// plugin do.

// Credentials in an API url would be printed with every error line that
// names the url: Init refuses them, naming the key, without repeating
// them.
func TestInitRefusesCredentialsInURLs(t *testing.T) {
	for _, url := range []string{
		"https://admin:s3cret@sense1.example.com:4243", "https://admin@sense1.example.com:4243", "https://:s3cret@sense1.example.com:4243",
	} {
		plugin := newTestPlugin(t)
		plugin.Proxies = []*Proxy{{URL: url}}
		err := plugin.Init()
		require.ErrorContains(t, err, "proxy #1: url ", url)
		require.ErrorContains(t, err, "https://sense1.example.com:4243", url)
		require.ErrorContains(t, err, "client certificate", url)
		require.NotContains(t, err.Error(), "s3cret", url)
		require.NotContains(t, err.Error(), "admin", url)

		plugin = newTestPlugin(t)
		plugin.Repository = &Repository{URL: url}
		err = plugin.Init()
		require.ErrorContains(t, err, "repository: url ", url)
		require.NotContains(t, err.Error(), "s3cret", url)
		require.NotContains(t, err.Error(), "admin", url)
	}
}
