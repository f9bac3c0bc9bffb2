package udp

import (
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/internal/throttle"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/parsers/log4net"
)

// Config is what the UDP source needs from the plugin's configuration.
type Config struct {
	// ServiceAddress is the service_address as configured, for messages.
	ServiceAddress string
	Allowed        Sources
	// MaxDatagramSize: longer datagrams are dropped and counted.
	MaxDatagramSize int
	// Parser reads the payloads.
	Parser *log4net.Parser
	Log    *throttle.Log
}

// Stats are the source's counters.
type Stats struct {
	Received uint64 // datagrams handled, whatever became of them
	Rejected uint64 // from a sender outside allowed_sources
	Oversize uint64 // longer than max_datagram_size
}

// Source reads a Listener's datagrams, drops those of senders outside
// allowed_sources and those over max_datagram_size, parses the others and
// hands them on.
type Source struct {
	cfg      Config
	listener *Listener
	handle   func(*event.Parsed)
	parsed   event.Parsed

	received, rejected, oversize atomic.Uint64
}

// NewSource reads from listener (nil for a source fed through Datagram
// only) and hands each datagram that passes, parsed, to handle, in the
// order of arrival. What handle gets is valid only during the call.
func NewSource(listener *Listener, cfg Config, handle func(*event.Parsed)) *Source {
	return &Source{cfg: cfg, listener: listener, handle: handle}
}

// Run reads until the listener is closed.
func (s *Source) Run() {
	s.listener.Run(s.Datagram, func(err error) {
		s.cfg.Log.Warnf("read", "Reading from %s failed: %v", s.cfg.ServiceAddress, err)
	})
}

// Datagram handles one datagram as Run does; payload is only valid during
// the call. It counts as received once handled, so that whoever sees the
// count sees its effect. Only one goroutine may call it.
func (s *Source) Datagram(payload []byte, source netip.Addr, received time.Time) {
	defer s.received.Add(1)
	if !s.cfg.Allowed.Allowed(source) {
		s.rejected.Add(1)
		s.cfg.Log.Warnf("rejected", "Dropped datagram from %s, which is not in allowed_sources", source)
		return
	}
	if len(payload) > s.cfg.MaxDatagramSize {
		s.oversize.Add(1)
		s.cfg.Log.Warnf("oversize", "Dropped a datagram of %d bytes from %s: max_datagram_size is %d (%s...)",
			len(payload), source, s.cfg.MaxDatagramSize, throttle.Excerpt(payload))
		return
	}
	p := &s.parsed
	s.cfg.Parser.Parse(payload, p)
	p.From = event.Origin{Addr: source, Received: received}
	s.handle(p)
}

// Stats returns the counters.
func (s *Source) Stats() Stats {
	return Stats{Received: s.received.Load(), Rejected: s.rejected.Load(), Oversize: s.oversize.Load()}
}

// Dropped is what the kernel dropped on the socket (see Listener.Dropped).
func (s *Source) Dropped() (uint64, bool) {
	if s.listener == nil {
		return 0, false
	}
	return s.listener.Dropped()
}

// ListensOnAllInterfaces tells whether a host:port leaves the host empty
// or unspecified (0.0.0.0, ::), and its port.
func ListensOnAllInterfaces(hostPort string) (all bool, port string) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return true, "" // unreadable: as an empty host
	}
	addr, err := netip.ParseAddr(host)
	return host == "" || err == nil && addr.IsUnspecified(), port
}
