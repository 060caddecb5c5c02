package pki

import (
	"fmt"

	"github.com/go-logr/logr"
)

// ensureSAKey keeps the service-account signing key and rewrites sa.pub
// from it when needed (it is derived data).
//
// A missing or unreadable sa.key is replaced only while sa.pub is absent,
// i.e. the first start never finished; otherwise tokens issued with the old
// key exist and only the user can decide to invalidate them.
func ensureSAKey(b *Bundle, log logr.Logger) error {
	keyPath, pubPath := b.SAKey(), b.SAPub()
	keyData, err := readOptional(keyPath)
	if err != nil {
		return err
	}
	pubData, err := readOptional(pubPath)
	if err != nil {
		return err
	}
	var problem string
	if keyData == nil {
		problem = "sa.key is missing"
	} else if key, err := parseKey(keyData); err != nil {
		problem = fmt.Sprintf("sa.key is not a valid private key (%v)", err)
	} else {
		if pub, err := parsePublicKey(pubData); err == nil && samePublicKey(pub, key) {
			return nil
		}
		pubPEM, err := encodePublicKey(key.Public())
		if err != nil {
			return fmt.Errorf("encode %s: %w", pubPath, err)
		}
		log.Info("Writing service-account public key", "file", pubPath)
		return writeAtomic(pubPath, pubPEM, certMode)
	}
	if pubData != nil {
		return fmt.Errorf("pki: %s but sa.pub exists in %s: restore it or delete the directory to start a new cluster", problem, b.Dir)
	}
	key, err := newRSAKey()
	if err != nil {
		return fmt.Errorf("generate %s: %w", keyPath, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return fmt.Errorf("encode %s: %w", keyPath, err)
	}
	pubPEM, err := encodePublicKey(key.Public())
	if err != nil {
		return fmt.Errorf("encode %s: %w", pubPath, err)
	}
	log.Info("Creating service-account key", "file", keyPath)
	if err := writeAtomic(keyPath, keyPEM, keyMode); err != nil {
		return err
	}
	return writeAtomic(pubPath, pubPEM, certMode)
}
