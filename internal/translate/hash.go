package translate

import (
	"crypto/sha256"
	"encoding/binary"
)

// base32 alphabet of RFC 4648 in lowercase: valid in DNS labels and label values.
const hashAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// digest hashes parts under a purpose, each part length-prefixed so that
// ("ab", "c") and ("a", "bc") differ, and so that purposes never share inputs.
func digest(purpose string, parts ...string) [sha256.Size]byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	write := func(s string) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	write("kplex.dev/translate/v1/" + purpose)
	for _, p := range parts {
		write(p)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// encodeHash returns the first n base32 characters of sum (n <= 51).
func encodeHash(sum [sha256.Size]byte, n int) string {
	out := make([]byte, 0, n)
	var acc, bits uint
	for _, c := range sum {
		acc = acc<<8 | uint(c)
		bits += 8
		for bits >= 5 && len(out) < n {
			bits -= 5
			out = append(out, hashAlphabet[(acc>>bits)&31])
		}
	}
	return string(out)
}
