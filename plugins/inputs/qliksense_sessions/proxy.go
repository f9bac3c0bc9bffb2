package qliksense_sessions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/metric"
	common_tls "github.com/influxdata/telegraf/plugins/common/tls"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// Proxy is one [[inputs.qliksense_sessions.proxy]] block: a Qlik Sense proxy
// whose session API corrects the state.
type Proxy struct {
	URL            string          `toml:"url"`
	VirtualProxies []string        `toml:"virtual_proxies"`
	Server         string          `toml:"server"`
	Interval       config.Duration `toml:"interval"`
	Timeout        config.Duration `toml:"timeout"`
	UserHeader     string          `toml:"user_header"`
	common_tls.ClientConfig

	client *qps.Client
	// answers is the last successful answer per virtual proxy (by prefix).
	answers map[string][]qps.Session
}

const (
	defaultProxyInterval = 60 * time.Second
	defaultProxyTimeout  = 10 * time.Second
)

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
	if p.Interval < 0 || p.Timeout < 0 {
		return fmt.Errorf("%s (%s): interval and timeout must not be negative: use durations such as \"60s\" and \"10s\"", name, p.URL)
	}
	if p.Interval == 0 {
		p.Interval = config.Duration(defaultProxyInterval)
	}
	if p.Timeout == 0 {
		p.Timeout = config.Duration(defaultProxyTimeout)
	}
	if len(p.VirtualProxies) == 0 {
		p.VirtualProxies = []string{""}
	}
	tlsConfig, err := p.ClientConfig.TLSConfig()
	if err != nil {
		return fmt.Errorf("%s (%s): TLS settings: %w: tls_cert, tls_key and tls_ca are the client.pem, client_key.pem and root.pem exported from the QMC", name, p.URL, err)
	}
	if p.client, err = qps.NewClient(p.URL, tlsConfig, time.Duration(p.Timeout), p.UserHeader); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	p.answers = make(map[string][]qps.Session)
	return nil
}

// virtualProxyTag names a virtual proxy in the virtual_proxy tag: "/" for
// the default proxy, else its prefix.
func virtualProxyTag(prefix string) string {
	if prefix = strings.Trim(prefix, "/"); prefix == "" {
		return "/"
	}
	return prefix
}

func (q *QlikSenseSessions) initProxies() error {
	servers := make(map[string]string)
	for i, p := range q.Proxies {
		if err := p.init(i); err != nil {
			return err
		}
		key := strings.ToLower(p.Server)
		if other, dup := servers[key]; dup {
			return fmt.Errorf("proxy %s and %s both have server %q: give each proxy block its own server (the host name its UDP events carry), and list all virtual proxies of one proxy in one block", other, p.URL, p.Server)
		}
		servers[key] = p.URL
	}
	return nil
}

// pollProxy reconciles one proxy's server now and then every interval.
func (q *QlikSenseSessions) pollProxy(p *Proxy) {
	ticker := time.NewTicker(time.Duration(p.Interval))
	defer ticker.Stop()
	for {
		q.reconcile(p)
		select {
		case <-q.done:
			return
		case <-ticker.C:
		}
	}
}

// reconcile asks every virtual proxy of p for its sessions and, if all
// answered, makes the server's state their answer. Events that arrive while
// it asks are noted by the state and win over the answer.
func (q *QlikSenseSessions) reconcile(p *Proxy) {
	q.mu.Lock()
	q.state.BeginReconcile(p.Server)
	q.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(p.Timeout))
	defer cancel()
	go func() {
		select {
		case <-q.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	answers := make(map[string][]qps.Session, len(p.VirtualProxies))
	var all []state.APISession
	for _, vp := range p.VirtualProxies {
		sessions, err := p.client.Sessions(ctx, vp)
		if err != nil {
			q.stats.proxyPollErrors.Add(1)
			q.mu.Lock()
			q.state.CancelReconcile(p.Server)
			q.mu.Unlock()
			if !errors.Is(ctx.Err(), context.Canceled) {
				q.Log.Errorf("Proxy session API of %s (virtual proxy %q) failed, state left as it was: %v", p.Server, virtualProxyTag(vp), err)
			}
			return
		}
		answers[vp] = sessions
		for _, s := range sessions {
			all = append(all, state.APISession{Directory: s.UserDirectory, UserID: s.UserID})
		}
	}

	q.mu.Lock()
	added, removed := q.state.Reconcile(p.Server, all, time.Now())
	p.answers = answers
	q.mu.Unlock()
	q.stats.proxyPolls.Add(1)
	if added+removed > 0 {
		q.Log.Infof("Proxy session API of %s: %d sessions added and %d removed that the UDP events had missed", p.Server, added, removed)
	}
	q.summaryDue()
}

// virtualProxySummaries summarises each virtual proxy's last answer.
func (q *QlikSenseSessions) virtualProxySummaries(trigger string) []telegraf.Metric {
	var metrics []telegraf.Metric
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.Proxies {
		for _, vp := range p.VirtualProxies {
			sessions, ok := p.answers[vp]
			if !ok {
				continue
			}
			s := state.New(state.Config{})
			var api []state.APISession
			for _, session := range sessions {
				api = append(api, state.APISession{Directory: session.UserDirectory, UserID: session.UserID})
			}
			s.BeginReconcile(p.Server)
			s.Reconcile(p.Server, api, now)
			site, _ := s.Snapshot()
			metrics = append(metrics, metric.New("qliksense_users_virtual_proxy",
				map[string]string{"server": p.Server, "virtual_proxy": virtualProxyTag(vp), "trigger": trigger}, summaryFields(site, int(q.UsersMaxBytes)), now))
		}
	}
	return metrics
}
