package pki

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
)

// ensureCA loads the CA stored as base.crt/base.key, creating it if absent.
//
// A CA that is incomplete or unreadable can only come from a crash during the
// very first start (files are written atomically, key before certificate),
// so it is replaced silently as long as nothing it signed exists yet. Once a
// leaf exists, replacing the CA would lock out every client that trusts it,
// and only the user can decide between restoring and starting over.
func ensureCA(b *Bundle, base, cn string, signed []string, now time.Time, log logr.Logger) (*keyPair, error) {
	certPath, keyPath := b.path(base+".crt"), b.path(base+".key")
	certData, err := readOptional(certPath)
	if err != nil {
		return nil, err
	}
	keyData, err := readOptional(keyPath)
	if err != nil {
		return nil, err
	}
	if certData == nil && keyData == nil {
		log.Info("Creating CA", "cert", certPath)
		return createCA(certPath, keyPath, cn, now)
	}
	kp, problem := checkCA(certPath, keyPath, certData, keyData)
	if problem != nil {
		used, err := anyExists(b, signed)
		if err != nil {
			return nil, err
		}
		if used {
			return nil, fmt.Errorf("pki: %v in %s: restore it or delete the directory to start a new cluster", problem, b.Dir)
		}
		log.Info("Replacing incomplete CA", "cert", certPath, "reason", problem.Error())
		return createCA(certPath, keyPath, cn, now)
	}
	if !now.Add(renewBefore).Before(kp.cert.NotAfter) {
		// Same key, subject and key ID: everything it issued stays valid.
		renewed, err := selfSign(kp.cert.Subject.CommonName, kp.key, kp.cert.SubjectKeyId, now)
		if err != nil {
			return nil, err
		}
		if err := writeAtomic(certPath, renewed.certPEM, certMode); err != nil {
			return nil, err
		}
		log.Info("Renewed CA certificate", "cert", certPath, "notAfter", renewed.cert.NotAfter)
		return renewed, nil
	}
	return kp, nil
}

func createCA(certPath, keyPath, cn string, now time.Time) (*keyPair, error) {
	kp, err := newCA(cn, now)
	if err != nil {
		return nil, err
	}
	// Key first: a crash in between leaves a key without a certificate,
	// which the next start recognises as incomplete.
	if err := writeAtomic(keyPath, kp.keyPEM, keyMode); err != nil {
		return nil, err
	}
	if err := writeAtomic(certPath, kp.certPEM, certMode); err != nil {
		return nil, err
	}
	return kp, nil
}

// checkCA parses a CA pair; the error names the file at fault.
func checkCA(certPath, keyPath string, certData, keyData []byte) (*keyPair, error) {
	certName, keyName := filepath.Base(certPath), filepath.Base(keyPath)
	if certData == nil {
		return nil, fmt.Errorf("%s is missing", certName)
	}
	if keyData == nil {
		return nil, fmt.Errorf("%s is missing", keyName)
	}
	cert, err := parseCert(certData)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid certificate (%v)", certName, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certName)
	}
	key, err := parseKey(keyData)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid private key (%v)", keyName, err)
	}
	if !samePublicKey(cert.PublicKey, key) {
		return nil, fmt.Errorf("%s does not match %s", keyName, certName)
	}
	return &keyPair{cert: cert, certPEM: certData, key: key, keyPEM: keyData}, nil
}

// loadCA reads an existing CA without repairing anything.
func loadCA(certPath, keyPath string) (*keyPair, error) {
	certData, err := readOptional(certPath)
	if err != nil {
		return nil, err
	}
	keyData, err := readOptional(keyPath)
	if err != nil {
		return nil, err
	}
	if certData == nil && keyData == nil {
		return nil, fmt.Errorf("no CA in %s", filepath.Dir(certPath))
	}
	kp, err := checkCA(certPath, keyPath, certData, keyData)
	if err != nil {
		return nil, fmt.Errorf("%w in %s", err, filepath.Dir(certPath))
	}
	return kp, nil
}

// anyExists reports whether a certificate or key of any of the named leaves
// is on disk.
func anyExists(b *Bundle, names []string) (bool, error) {
	for _, name := range names {
		for _, ext := range []string{".crt", ".key"} {
			ok, err := exists(b.path(name + ext))
			if err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}
