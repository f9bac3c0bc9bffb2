package qliksense_sessions

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/influxdata/telegraf/config"
	common_tls "github.com/influxdata/telegraf/plugins/common/tls"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/pipeline"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/proxies"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps"
)

// Proxy is one [[inputs.qliksense_sessions.proxy]] block: a Qlik Sense proxy
// whose session API corrects the state (package proxies polls it).
type Proxy struct {
	URL            string          `toml:"url"`
	VirtualProxies []string        `toml:"virtual_proxies"`
	Server         string          `toml:"server"`
	Interval       config.Duration `toml:"interval"`
	Timeout        config.Duration `toml:"timeout"`
	UserHeader     string          `toml:"user_header"`
	common_tls.ClientConfig

	client *qps.Client
}

var proxyDefaults = apiDefaults{interval: 60 * time.Second, timeout: 10 * time.Second, examples: `"60s" and "10s"`}

// init validates a proxy block and fills in its defaults.
func (p *Proxy) init(index int) error {
	name := fmt.Sprintf("proxy #%d", index+1)
	if p.URL == "" {
		return fmt.Errorf("%s: url is empty: set it to the proxy's session API, e.g. url = \"https://sense1.example.com:4243\"", name)
	}
	u, err := qps.ParseURL(p.URL)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if p.Server == "" {
		// The proxy names itself by host name in its UDP events; without a
		// server setting, assume the URL's host (up to the first dot) is it.
		p.Server = strings.ToUpper(strings.SplitN(u.Hostname(), ".", 2)[0])
	}
	if err := apiTimings(name, p.URL, &p.Interval, &p.Timeout, proxyDefaults); err != nil {
		return err
	}
	if len(p.VirtualProxies) == 0 {
		p.VirtualProxies = []string{""}
	}
	p.client, err = newAPIClient(name, p.URL, &p.ClientConfig, p.Timeout, p.UserHeader, qps.NewClient)
	return err
}

// apiDefaults are a Qlik API block's default interval and timeout, and the
// durations its error message gives as examples.
type apiDefaults struct {
	interval, timeout time.Duration
	examples          string
}

// apiTimings checks a Qlik API block's interval and timeout and fills in
// their defaults.
func apiTimings(name, url string, interval, timeout *config.Duration, defaults apiDefaults) error {
	if *interval < 0 || *timeout < 0 {
		return fmt.Errorf("%s (%s): interval and timeout must not be negative: use durations such as %s", name, url, defaults.examples)
	}
	if *interval == 0 {
		*interval = config.Duration(defaults.interval)
	}
	if *timeout == 0 {
		*timeout = config.Duration(defaults.timeout)
	}
	return checkAPITimings(name, url, *interval, *timeout)
}

// apiClientFunc is qps.NewClient or qrs.NewClient.
type apiClientFunc[C any] func(baseURL string, tlsConfig *tls.Config, timeout time.Duration, userHeader string) (C, error)

// newAPIClient makes a Qlik API block's client with its TLS settings.
func newAPIClient[C any](name, url string, tc *common_tls.ClientConfig, timeout config.Duration, userHeader string, newClient apiClientFunc[C]) (C, error) {
	var none C
	tlsConfig, err := tc.TLSConfig()
	if err != nil {
		return none, fmt.Errorf("%s (%s): TLS settings: %w: "+
			"tls_cert, tls_key and tls_ca are the client.pem, client_key.pem and root.pem exported from the QMC", name, url, err)
	}
	client, err := newClient(url, tlsConfig, time.Duration(timeout), userHeader)
	if err != nil {
		return none, fmt.Errorf("%s: %w", name, err)
	}
	return client, nil
}

// initProxies checks the proxy blocks and makes their poller.
func (q *QlikSenseSessions) initProxies() error {
	servers := make(map[string]string)
	cfg := proxies.Config{MaxUsers: q.MaxUsers}
	for i, p := range q.Proxies {
		if err := p.init(i); err != nil {
			return err
		}
		cfg.Proxies = append(cfg.Proxies, proxies.Proxy{Server: p.Server, VirtualProxies: p.VirtualProxies, Client: p.client,
			Interval: time.Duration(p.Interval), Timeout: time.Duration(p.Timeout)})
		key := strings.ToLower(p.Server)
		if other, dup := servers[key]; dup {
			return fmt.Errorf("proxy %s and %s both have server %q: give each proxy block its own server (the host name its UDP events carry), "+
				"and list all virtual proxies of one proxy in one block", other, p.URL, p.Server)
		}
		servers[key] = p.URL
	}
	q.proxyPoll = proxies.New(cfg)
	return nil
}

// virtualProxies lists every proxy block's virtual proxies, in the order
// of the configuration.
func (q *QlikSenseSessions) virtualProxies() []pipeline.VirtualProxy {
	var vps []pipeline.VirtualProxy
	for _, p := range q.Proxies {
		for _, prefix := range p.VirtualProxies {
			vps = append(vps, pipeline.VirtualProxy{Server: p.Server, Prefix: prefix, Tag: proxies.VirtualProxyTag(prefix)})
		}
	}
	return vps
}
