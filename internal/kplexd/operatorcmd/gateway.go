package operatorcmd

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/kplex-dev/kplex/internal/gateway"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/operator"
)

// gatewayFlags start the gateway beside the operator, on every replica (leader or not):
// the tenants' always-on entry must not wait for a leader election.
type gatewayFlags struct {
	address     string
	domain      string
	wakeTimeout time.Duration
	holdTimeout time.Duration
}

func (f *gatewayFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.address, "gateway-address", fmt.Sprintf(":%d", install.GatewayPort), "address of the gateway that passes tenants' TLS connections to their API servers by server name, waking sleeping ones (empty: no gateway)")
	fs.StringVar(&f.domain, "gateway-domain", gateway.DefaultDomain, "the gateway serves virtual cluster NAME as server name NAME.<domain>; control planes get it as a certificate name")
	fs.DurationVar(&f.wakeTimeout, "gateway-wake-timeout", gateway.DefaultWakeTimeout, "how long the gateway waits for a woken virtual cluster to become ready; connections that come meanwhile join the wait")
	fs.DurationVar(&f.holdTimeout, "gateway-hold-timeout", gateway.DefaultHoldTimeout, "how long one connection is held for a waking virtual cluster before it is closed for the client to retry (below client-go's 10 s TLS handshake timeout)")
}

// validate checks the flags; it returns "" as domain when the gateway is off.
func (f *gatewayFlags) validate() (domain string, err error) {
	if f.address == "" {
		return "", nil
	}
	_, port, err := net.SplitHostPort(f.address)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("--gateway-address %q: want [HOST]:PORT such as :8443 (port 0: any free port), or empty for no gateway", f.address)
	}
	if err := gateway.ValidateDomain(f.domain); err != nil {
		return "", fmt.Errorf("--gateway-domain: %w", err)
	}
	if f.wakeTimeout < time.Second || f.wakeTimeout > time.Hour {
		return "", fmt.Errorf("--gateway-wake-timeout %s: want 1s to 1h, e.g. 5m", f.wakeTimeout)
	}
	if f.holdTimeout < time.Second || f.holdTimeout > f.wakeTimeout {
		return "", fmt.Errorf("--gateway-hold-timeout %s: want 1s to --gateway-wake-timeout (%s), e.g. 8s", f.holdTimeout, f.wakeTimeout)
	}
	return f.domain, nil
}

// listen opens the gateway's port, so that a port in use fails the command at once.
func (f *gatewayFlags) listen() (net.Listener, error) {
	l, err := net.Listen("tcp", f.address)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen on --gateway-address %s (choose another port): %w", f.address, err)
	}
	return l, nil
}

// run serves the gateway on l until ctx ends.
func (f *gatewayFlags) run(ctx context.Context, cfg *rest.Config, l net.Listener, log logr.Logger) error {
	defer l.Close()
	c, err := gateway.NewClient(ctx, cfg, operator.ManagedSelector(), log)
	if err != nil {
		return err
	}
	g, err := gateway.New(c, gateway.Options{
		Domain:      f.domain,
		WakeTimeout: f.wakeTimeout,
		HoldTimeout: f.holdTimeout,
		Dial:        gateway.DialService(c, operator.ServiceKey),
		Log:         log,
	})
	if err != nil {
		return err
	}
	return g.Serve(ctx, l)
}
