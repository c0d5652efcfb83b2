// Package auth checks bearer tokens at the proxy: JWTs signed by an OIDC issuer (or by
// the Kubernetes API server, which is one) whose keys come from the issuer's JWKS.
//
// A small verifier on the standard library's crypto rather than a JOSE module: the proxy
// accepts only compact JWS with RS256/384/512, PS256 and ES256/384 (no JWE, no embedded
// keys, no x5u/jku, no crit), so the whole surface is the few checks below, each tested,
// and the binary stays stdlib only. `alg: none` and HS* are refused before any key is
// looked up: an asymmetric issuer never signs with them, and an HMAC "verified" with a
// public key is the classic key-confusion attack.
package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// MaxTokenBytes bounds a token before any decoding (real ones are 1-2 KiB).
const MaxTokenBytes = 16 << 10

// Header is a JWS protected header.
type Header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
	Jku  string          `json:"jku"`
	Jwk  json.RawMessage `json:"jwk"`
	X5u  string          `json:"x5u"`
}

// Claims are the registered claims the proxy checks, plus the raw set for rules.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Expiry    time.Time
	NotBefore time.Time
	IssuedAt  time.Time
	Raw       map[string]json.RawMessage
}

// Token is a parsed, not yet verified, compact JWS.
type Token struct {
	Header    Header
	Claims    Claims
	signed    []byte // header.payload, what the signature covers
	signature []byte
}

// Errors a caller can tell apart (the 401's error_description says which).
var (
	ErrMalformed = errors.New("malformed token")
	ErrAlg       = errors.New("signing algorithm not accepted")
	ErrSignature = errors.New("signature does not verify")
	ErrExpired   = errors.New("token expired")
	ErrNotYet    = errors.New("token not valid yet")
	ErrIssuer    = errors.New("issuer not accepted")
	ErrAudience  = errors.New("audience not accepted")
	ErrNoKey     = errors.New("no key with this kid")
)

var b64 = base64.RawURLEncoding.Strict()

// Parse splits and decodes a compact JWS; it checks shape, not trust.
func Parse(raw string) (*Token, error) {
	if len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrMalformed, MaxTokenBytes)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("%w: not three dot-separated parts", ErrMalformed)
	}
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("%w: base64url: %v", ErrMalformed, err)
	}
	t := &Token{signed: []byte(parts[0] + "." + parts[1]), signature: sig}
	if err := json.Unmarshal(hb, &t.Header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	switch {
	case len(t.Header.Crit) > 0:
		return nil, fmt.Errorf("%w: crit header not supported", ErrMalformed)
	case t.Header.Jku != "" || len(t.Header.Jwk) > 0 || t.Header.X5u != "":
		return nil, fmt.Errorf("%w: keys named by the token itself (jku, jwk, x5u) are not trusted", ErrMalformed)
	}
	if _, ok := algs[t.Header.Alg]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrAlg, t.Header.Alg)
	}
	if err := t.Claims.decode(pb); err != nil {
		return nil, err
	}
	return t, nil
}

func (c *Claims) decode(payload []byte) error {
	if err := json.Unmarshal(payload, &c.Raw); err != nil || c.Raw == nil {
		return fmt.Errorf("%w: claims are not a JSON object", ErrMalformed)
	}
	var reg struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(payload, &reg); err != nil {
		return fmt.Errorf("%w: registered claims: %v", ErrMalformed, err)
	}
	c.Issuer, c.Subject = reg.Iss, reg.Sub
	if len(reg.Aud) > 0 {
		var one string
		if json.Unmarshal(reg.Aud, &one) == nil {
			c.Audience = []string{one}
		} else if json.Unmarshal(reg.Aud, &c.Audience) != nil {
			return fmt.Errorf("%w: aud is neither a string nor a list of strings", ErrMalformed)
		}
	}
	var err error
	if c.Expiry, err = numericDate(reg.Exp); err != nil {
		return err
	}
	if c.NotBefore, err = numericDate(reg.Nbf); err != nil {
		return err
	}
	c.IssuedAt, err = numericDate(reg.Iat)
	return err
}

// numericDate reads a JSON number of seconds. json.Number is not used: it also accepts
// a string holding a number, and RFC 7519 says a NumericDate is a number.
func numericDate(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 {
		return time.Time{}, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || raw[0] < '0' || raw[0] > '9' || f > 1e11 {
		return time.Time{}, fmt.Errorf("%w: bad NumericDate %s", ErrMalformed, raw)
	}
	return time.Unix(int64(f), 0), nil
}

type algSpec struct {
	hash crypto.Hash
	new  func() hash.Hash
	kty  string // RSA, EC
	pss  bool
	crv  string // ES*: the curve the key must be on
}

// algs are the only algorithms accepted. HS*, none and anything else are absent.
var algs = map[string]algSpec{
	"RS256": {crypto.SHA256, sha256.New, "RSA", false, ""},
	"RS384": {crypto.SHA384, sha512.New384, "RSA", false, ""},
	"RS512": {crypto.SHA512, sha512.New, "RSA", false, ""},
	"PS256": {crypto.SHA256, sha256.New, "RSA", true, ""},
	"ES256": {crypto.SHA256, sha256.New, "EC", false, "P-256"},
	"ES384": {crypto.SHA384, sha512.New384, "EC", false, "P-384"},
}

// Verify checks the signature with key (the JWK the kid names).
func (t *Token) Verify(key *Key) error {
	spec := algs[t.Header.Alg]
	if key.Kty != spec.kty || key.Alg != "" && key.Alg != t.Header.Alg {
		return fmt.Errorf("%w: %s token, key %q is %s/%s", ErrAlg, t.Header.Alg, key.Kid, key.Kty, key.Alg)
	}
	h := spec.new()
	h.Write(t.signed)
	digest := h.Sum(nil)
	switch pub := key.Public.(type) {
	case *rsa.PublicKey:
		var err error
		if spec.pss {
			err = rsa.VerifyPSS(pub, spec.hash, digest, t.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			err = rsa.VerifyPKCS1v15(pub, spec.hash, digest, t.signature)
		}
		if err != nil {
			return ErrSignature
		}
	case *ecdsa.PublicKey:
		if pub.Curve.Params().Name != spec.crv {
			return fmt.Errorf("%w: %s needs %s", ErrAlg, t.Header.Alg, spec.crv)
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(t.signature) != 2*size { // JWS ES* signatures are R||S, fixed width
			return ErrSignature
		}
		r := new(big.Int).SetBytes(t.signature[:size])
		s := new(big.Int).SetBytes(t.signature[size:])
		if !ecdsa.Verify(pub, digest, r, s) {
			return ErrSignature
		}
	default:
		return ErrSignature
	}
	return nil
}

// Validate checks issuer, audience and times (with skew either way).
func (c *Claims) Validate(issuer string, audiences []string, now time.Time, skew time.Duration) error {
	if c.Issuer != issuer {
		return fmt.Errorf("%w: %q", ErrIssuer, c.Issuer)
	}
	if c.Expiry.IsZero() {
		return fmt.Errorf("%w: no exp claim", ErrMalformed)
	}
	if !now.Before(c.Expiry.Add(skew)) {
		return ErrExpired
	}
	if !c.NotBefore.IsZero() && now.Add(skew).Before(c.NotBefore) {
		return ErrNotYet
	}
	if !c.IssuedAt.IsZero() && now.Add(skew).Before(c.IssuedAt) {
		return fmt.Errorf("%w: issued in the future", ErrNotYet)
	}
	for _, want := range audiences {
		for _, got := range c.Audience {
			if got == want {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %v", ErrAudience, c.Audience)
}
