package pki

import (
	"fmt"
	"os"
	"slices"
	"time"
)

// Ensure creates the PKI in opts.Dir on the first run and reuses it on later
// runs. Existing files are kept byte for byte, except that:
//   - a leaf certificate is re-issued from its existing CA when it is missing,
//     damaged, expires within 30 days, or (serving cert) lacks a requested SAN;
//   - a CA certificate expiring within 30 days is re-signed with its own key;
//   - a key file readable by group or others is narrowed to 0600.
//
// A damaged CA or service-account key is replaced only if nothing depends on
// it yet; otherwise Ensure returns an error naming the file.
func Ensure(opts Options) (*Bundle, error) {
	if err := validate(opts); err != nil {
		return nil, err
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	now := clock()
	log := opts.Log

	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", opts.Dir, err)
	}
	if err := removeTemps(opts.Dir); err != nil {
		return nil, err
	}
	b := &Bundle{Dir: opts.Dir, clock: clock}
	cluster, frontProxy := clusterLeaves(opts), frontProxyLeaves()

	keys := []string{b.CAKey(), b.FrontProxyCAKey(), b.SAKey()}
	for _, l := range slices.Concat(cluster, frontProxy) {
		keys = append(keys, b.path(l.name+".key"))
	}
	for _, k := range keys {
		changed, err := restrictKeyMode(k)
		if err != nil {
			return nil, err
		}
		if changed {
			log.Info("Restricted key file mode to 0600", "file", k)
		}
	}

	ca, err := ensureCA(b, "ca", opts.ClusterName+"-ca", leafNames(cluster), now, log)
	if err != nil {
		return nil, err
	}
	fpca, err := ensureCA(b, "front-proxy-ca", opts.ClusterName+"-front-proxy-ca", leafNames(frontProxy), now, log)
	if err != nil {
		return nil, err
	}
	if err := ensureSAKey(b, log); err != nil {
		return nil, err
	}
	for _, l := range cluster {
		if err := ensureLeaf(b, ca, l, now, log); err != nil {
			return nil, err
		}
	}
	for _, l := range frontProxy {
		if err := ensureLeaf(b, fpca, l, now, log); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func validate(opts Options) error {
	if opts.Dir == "" {
		return fmt.Errorf("pki: no directory given")
	}
	if opts.ClusterName == "" {
		return fmt.Errorf("pki: no cluster name given")
	}
	if opts.ServiceIP == nil {
		return fmt.Errorf("pki: no service IP given: pass the first IP of the service CIDR")
	}
	for _, san := range opts.SANs {
		if san == "" {
			return fmt.Errorf("pki: empty SAN in %q", opts.SANs)
		}
	}
	return nil
}
