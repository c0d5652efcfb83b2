package auth

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Key is one public key of a JWKS.
type Key struct {
	Kid    string
	Kty    string
	Alg    string
	Public any // *rsa.PublicKey | *ecdsa.PublicKey
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS reads a key set; keys the proxy cannot use (symmetric, encryption, unknown
// curves, RSA under 2048 bits) are skipped, not fatal.
func ParseJWKS(data []byte) ([]Key, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	var out []Key
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if pub := k.public(); pub != nil {
			out = append(out, Key{Kid: k.Kid, Kty: k.Kty, Alg: k.Alg, Public: pub})
		}
	}
	return out, nil
}

func (k jwk) public() any {
	switch k.Kty {
	case "RSA":
		n, err1 := b64.DecodeString(k.N)
		e, err2 := b64.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return nil
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 || pub.E < 3 {
			return nil
		}
		return pub
	case "EC":
		var curve elliptic.Curve
		var check ecdh.Curve
		switch k.Crv {
		case "P-256":
			curve, check = elliptic.P256(), ecdh.P256()
		case "P-384":
			curve, check = elliptic.P384(), ecdh.P384()
		default:
			return nil
		}
		x, err1 := b64.DecodeString(k.X)
		y, err2 := b64.DecodeString(k.Y)
		size := (curve.Params().BitSize + 7) / 8
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil
		}
		// Through the uncompressed encoding: ecdh's parser rejects points off the curve
		// (an invalid-curve key must never be used).
		raw := append(append([]byte{4}, x...), y...)
		if _, err := check.NewPublicKey(raw); err != nil {
			return nil
		}
		return &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	}
	return nil
}

// KeySource fetches and caches an issuer's keys: discovery
// (.well-known/openid-configuration, whose issuer must match) gives the jwks_uri unless
// one is configured. An unknown kid refetches, at most once per MinRefresh (a flood of
// tokens with made-up kids cannot turn into a flood of fetches); keys older than MaxAge
// are refetched on next use.
type KeySource struct {
	Issuer       string
	DiscoveryURL string
	JWKSURL      string
	Client       *http.Client
	TokenFile    string // bearer token for the fetches (the API server wants one)
	MinRefresh   time.Duration
	MaxAge       time.Duration
	OnFetch      func(ok bool)

	mu      sync.Mutex
	keys    []Key
	fetched time.Time
	tried   time.Time
}

// NewClient builds the fetch client, trusting caFile (PEM) in addition to nothing else
// when it is set (the API server's CA), the system roots otherwise.
func NewClient(caFile string) (*http.Client, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}, nil
}

// Key returns the key named kid, fetching when needed.
func (s *KeySource) Key(ctx context.Context, kid string, now time.Time) (*Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stale := s.fetched.IsZero() || now.Sub(s.fetched) > s.MaxAge
	if k := s.find(kid); k != nil && !stale {
		return k, nil
	}
	if !s.tried.IsZero() && now.Sub(s.tried) < s.MinRefresh {
		if k := s.find(kid); k != nil {
			return k, nil
		}
		if s.fetched.IsZero() {
			return nil, errUnavailable
		}
		return nil, ErrNoKey
	}
	s.tried = now
	keys, err := s.fetch(ctx)
	if s.OnFetch != nil {
		s.OnFetch(err == nil)
	}
	if err != nil {
		if k := s.find(kid); k != nil {
			return k, nil // keep serving the keys we had while the issuer is away
		}
		return nil, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	s.keys, s.fetched = keys, now
	if k := s.find(kid); k != nil {
		return k, nil
	}
	return nil, ErrNoKey
}

var errUnavailable = errors.New("issuer keys unavailable")

// ErrUnavailable reports that keys could not be fetched (503, not 401: the token may be fine).
func ErrUnavailable(err error) bool { return errors.Is(err, errUnavailable) }

func (s *KeySource) find(kid string) *Key {
	for i := range s.keys {
		// A token without kid matches only a set with exactly one key.
		if s.keys[i].Kid == kid || kid == "" && len(s.keys) == 1 {
			return &s.keys[i]
		}
	}
	return nil
}

func (s *KeySource) fetch(ctx context.Context) ([]Key, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	jwksURL := s.JWKSURL
	if jwksURL == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		url := s.DiscoveryURL
		if url == "" {
			url = strings.TrimSuffix(s.Issuer, "/") + "/.well-known/openid-configuration"
		}
		if err := s.getJSON(ctx, url, &doc); err != nil {
			return nil, err
		}
		if doc.Issuer != s.Issuer {
			return nil, fmt.Errorf("discovery names issuer %q, not %q", doc.Issuer, s.Issuer)
		}
		if doc.JWKSURI == "" {
			return nil, errors.New("discovery document has no jwks_uri")
		}
		jwksURL = doc.JWKSURI
	}
	var raw json.RawMessage
	if err := s.getJSON(ctx, jwksURL, &raw); err != nil {
		return nil, err
	}
	return ParseJWKS(raw)
}

func (s *KeySource) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// The Kubernetes API server answers /openid/v1/jwks only to a client that accepts
	// the JWK Set type (RFC 7517); anything else gets 406.
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	if s.TokenFile != "" {
		// Read each time: the kubelet rotates projected tokens.
		tok, err := os.ReadFile(s.TokenFile)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
