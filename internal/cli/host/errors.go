package host

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
)

// ErrNotInstalled is (wrapped in) the error of a request for the
// VirtualCluster API on a host where kplex install never ran.
var ErrNotInstalled = errors.New("kplex is not installed on this host")

// Explain turns an error of a host request into one line that names the
// cause and the fix; errors it does not recognise come back unchanged.
func (h *Host) Explain(err error) error {
	if err == nil {
		return nil
	}
	var status apierrors.APIStatus
	switch {
	case meta.IsNoMatchError(err):
		return fmt.Errorf("%w (%s has no VirtualCluster API): run kplex install", ErrNotInstalled, h.Server())
	case apierrors.IsForbidden(err):
		return fmt.Errorf("not allowed on host %s (context %s): %s: ask a host admin for that right, or use --context with a user who has it", h.Server(), h.Context, StatusMessage(err))
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("host %s rejected the credentials of context %s (401 Unauthorized): renew them in %s or choose another --context", h.Server(), h.Context, strings.Join(h.Files, ":"))
	case errors.As(err, &status):
		return err
	case Unreachable(err):
		return fmt.Errorf("cannot reach the host API server %s (context %s): %v: check that it runs and that --kubeconfig/--context point at it", h.Server(), h.Context, rootCause(err))
	}
	return err
}

// Unreachable says whether err means the request never got an answer.
func Unreachable(err error) bool {
	var (
		urlErr   *url.Error
		netErr   net.Error
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
	)
	if errors.As(err, &unknown) || errors.As(err, &hostname) {
		return true
	}
	return errors.As(err, &urlErr) || errors.As(err, &netErr)
}

// rootCause drops the wrapping that repeats the URL.
func rootCause(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}

// StatusMessage is the API server's message of an API error.
func StatusMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return err.Error()
}
