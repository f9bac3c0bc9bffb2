// Package proxies polls the proxies' session API (the proxy blocks): every
// interval, each virtual proxy of a proxy is asked for its sessions and, if
// all answered, the server's state becomes their answer
// (pipeline.Reconcile). Events that arrive while it asks win over the
// answer.
package proxies

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/pipeline"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qlikapi"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qps"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// Proxy is one proxy block, as the plugin's Init checked it.
type Proxy struct {
	// Server is the host name its UDP events carry.
	Server            string
	VirtualProxies    []string
	Client            *qps.Client
	Interval, Timeout time.Duration
}

// Config is the proxies to poll and the users an answer may bring.
type Config struct {
	Proxies  []Proxy
	MaxUsers int
}

// Poller polls every proxy, each in its own goroutine.
type Poller struct {
	cfg      Config
	pipeline *pipeline.Pipeline
	log      telegraf.Logger
	throttle *throttle.Log
	// errors logs the session API's failures, at most one line a minute
	// per proxy, at error level.
	errors *throttle.Log
	ctx    context.Context // ended by Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	polls, pollErrors atomic.Uint64
}

// New returns the poller, not started.
func New(cfg Config) *Poller {
	return &Poller{cfg: cfg}
}

// Start reconciles each proxy's server into p now and then every interval,
// until Stop.
func (p *Poller) Start(pl *pipeline.Pipeline, log telegraf.Logger) {
	p.pipeline, p.log = pl, log
	p.throttle = throttle.NewLog(log, time.Minute)
	p.errors = throttle.NewLog(errorLines{log}, time.Minute)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for i := range p.cfg.Proxies {
		p.wg.Go(func() {
			qlikapi.Every(p.ctx, p.cfg.Proxies[i].Interval, func(ctx context.Context) { p.reconcile(ctx, i) })
		})
	}
}

// Stop ends the polls under way and waits for them.
func (p *Poller) Stop() {
	if p.cancel != nil {
		p.cancel()
		p.wg.Wait()
	}
}

// Poll reconciles the i-th proxy's server once now, as its next poll
// would (after Start).
func (p *Poller) Poll(i int) { p.reconcile(p.ctx, i) }

// InternalFields adds the polls' counters to qliksense_sessions_internal.
func (p *Poller) InternalFields(fields map[string]interface{}) {
	fields["proxy_polls"] = int64(p.polls.Load())
	fields["proxy_poll_errors"] = int64(p.pollErrors.Load())
}

// reconcile asks every virtual proxy of the i-th proxy for its sessions
// and, if all answered, makes the server's state their answer. Events that
// arrive while it asks are noted by the state and win over the answer.
func (p *Poller) reconcile(ctx context.Context, i int) {
	proxy := &p.cfg.Proxies[i]
	p.pipeline.BeginReconcile(proxy.Server)
	ctx, cancel := context.WithTimeout(ctx, proxy.Timeout)
	defer cancel()

	answers := make(map[string][]state.APISession, len(proxy.VirtualProxies))
	refused := 0
	for _, vp := range proxy.VirtualProxies {
		answer, err := proxy.Client.Users(ctx, vp, p.cfg.MaxUsers)
		if err != nil {
			p.pollErrors.Add(1)
			p.pipeline.CancelReconcile(proxy.Server)
			if !errors.Is(ctx.Err(), context.Canceled) {
				p.errors.Warnf(proxy.Server, "Proxy session API of %s (virtual proxy %q) failed, state left as it was: %v",
					proxy.Server, VirtualProxyTag(vp), err)
			}
			return
		}
		if answer.Invalid > 0 {
			p.throttle.Warnf("proxy-invalid-"+proxy.Server,
				"Proxy session API of %s (virtual proxy %q): left out %d sessions whose directory or user id is empty or holds a control character",
				proxy.Server, VirtualProxyTag(vp), answer.Invalid)
		}
		refused += answer.RefusedMaxUsers
		api := make([]state.APISession, 0, len(answer.Users))
		for _, u := range answer.Users {
			api = append(api, state.APISession{Directory: u.UserDirectory, UserID: u.UserID, Sessions: u.Sessions})
		}
		answers[vp] = api
	}

	added, removed := p.pipeline.Reconcile(proxy.Server, answers, refused, time.Now())
	p.polls.Add(1)
	if added+removed > 0 {
		p.log.Infof("Proxy session API of %s: %d sessions added and %d removed that the UDP events had missed", proxy.Server, added, removed)
	}
	p.pipeline.SummaryDue()
}

// VirtualProxyTag names a virtual proxy in the virtual_proxy tag: "/" for
// the default proxy, else its prefix.
func VirtualProxyTag(prefix string) string {
	if prefix = strings.Trim(prefix, "/"); prefix == "" {
		return "/"
	}
	return prefix
}

// errorLines makes a throttle.Log's lines errors.
type errorLines struct{ telegraf.Logger }

// Warn logs the line as an error.
func (e errorLines) Warn(args ...interface{}) { e.Error(args...) }
