// Package standin serves, inside the devhost network namespace, stand-ins for
// the "outside" services that tests must be able to reach or be kept from:
// a cloud metadata endpoint and an upstream DNS server. The real ones are
// never contacted.
package standin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-logr/logr"
)

// MetadataCredential is the fake secret the metadata stand-in hands out;
// tests that check isolation look for it.
const MetadataCredential = "kplex-devhost-stand-in-credential"

// metadataPaths are the documents of the stand-in, in the shape of the EC2 and
// GCE metadata services that workloads probe.
func metadataPaths() map[string]string {
	return map[string]string{
		"/":                             "latest\n",
		"/latest/meta-data/":            "instance-id\nlocal-ipv4\niam/\n",
		"/latest/meta-data/instance-id": "i-kplexdevhost\n",
		"/latest/meta-data/local-ipv4":  "10.213.0.2\n",
		"/latest/meta-data/iam/security-credentials/":              "kplex-devhost\n",
		"/latest/meta-data/iam/security-credentials/kplex-devhost": `{"AccessKeyId":"` + MetadataCredential + `"}` + "\n",
		"/computeMetadata/v1/instance/id":                          "kplexdevhost\n",
	}
}

// MetadataHandler answers GET requests for the stand-in documents.
func MetadataHandler(log logr.Logger) http.Handler {
	docs := metadataPaths()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.V(2).Info("Metadata request", "remote", r.RemoteAddr, "path", r.URL.Path)
		w.Header().Set("Server", "kplex-devhost-metadata-stand-in")
		body, ok := docs[r.URL.Path]
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(body))
	})
}

// ServeMetadata listens on ip:80 and serves the stand-in until ctx ends.
func ServeMetadata(ctx context.Context, ip string, log logr.Logger) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(80)))
	if err != nil {
		return fmt.Errorf("listen for metadata stand-in: %w", err)
	}
	srv := &http.Server{Handler: MetadataHandler(log), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "Metadata stand-in stopped")
		}
	}()
	log.Info("Serving metadata stand-in", "address", ln.Addr().String())
	return nil
}
