package security

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLSSettings: serve HTTPS from a certificate/key pair in files, the shape cert-manager
// writes into a Secret (tls.crt, tls.key) and the kubelet mounts.
type TLSSettings struct {
	CertFile string `json:"certFile"`
	KeyFile  string `json:"keyFile"`
}

// Certs serves the pair and reloads it when either file changes: a renewed Secret is
// picked up without a restart. A pair that does not load (a half-written update) keeps
// the previous one until the next change.
type Certs struct {
	cert, key string
	every     time.Duration
	OnReload  func(ok bool)

	mu      sync.Mutex
	current *tls.Certificate
	stamp   string
	checked time.Time
}

// LoadCerts loads the pair now (an error stops the proxy: fail closed).
func LoadCerts(s *TLSSettings) (*Certs, error) {
	c := &Certs{cert: s.CertFile, key: s.KeyFile, every: time.Second}
	stamp, err := c.stampNow()
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	c.current, c.stamp = &pair, stamp
	return c, nil
}

// stampNow identifies the files' versions (size and mtime, through symlinks: the
// kubelet swaps a ..data symlink on update).
func (c *Certs) stampNow() (string, error) {
	var out string
	for _, f := range []string{c.cert, c.key} {
		st, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("tls: %w", err)
		}
		out += fmt.Sprintf("%d/%d;", st.Size(), st.ModTime().UnixNano())
	}
	return out, nil
}

// Get returns the current pair, reloading at most once per second when the files changed.
func (c *Certs) Get() *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < c.every {
		return c.current
	}
	c.checked = time.Now()
	stamp, err := c.stampNow()
	if err != nil || stamp == c.stamp {
		return c.current
	}
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if c.OnReload != nil {
		c.OnReload(err == nil)
	}
	if err != nil {
		return c.current
	}
	c.current, c.stamp = &pair, stamp
	return c.current
}

// ServerConfig serves the current pair.
func (c *Certs) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.Get(), nil },
	}
}

// PeerConfig is for forwarding a session to the replica that owns it: replicas are
// addressed by pod IP, which no certificate names, but every replica serves the pair
// from the same Secret, so the peer must present this very certificate. During a
// renewal two replicas can briefly differ: the forward fails and the client gets the
// protocol's 404 and starts a new session.
func (c *Certs) PeerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("peer presented no certificate")
			}
			own := c.Get()
			if len(own.Certificate) == 0 || !bytes.Equal(own.Certificate[0], cs.PeerCertificates[0].Raw) {
				return errors.New("peer's certificate is not this replica's")
			}
			if _, err := x509.ParseCertificate(own.Certificate[0]); err != nil {
				return err
			}
			return nil
		},
	}
}
