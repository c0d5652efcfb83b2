package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writePair(t *testing.T, dir, cn string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{cn}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	// Written aside and renamed in, as the kubelet swaps a Secret volume's files.
	for name, block := range map[string]*pem.Block{"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "PRIVATE KEY", Bytes: kb}} {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func served(t *testing.T, c *Certs, client *tls.Config) (string, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", c.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), client)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

func TestCertificateReloadsWithoutRestartAndPeersMustMatch(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, "first")
	c, err := LoadCerts(&TLSSettings{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")})
	if err != nil {
		t.Fatal(err)
	}
	c.every = 0
	reloads := 0
	c.OnReload = func(ok bool) {
		if ok {
			reloads++
		}
	}
	insecure := &tls.Config{InsecureSkipVerify: true}
	if cn, err := served(t, c, insecure); err != nil || cn != "first" {
		t.Fatalf("%q %v", cn, err)
	}
	// A replica with the same pair is a peer; one with another is not.
	if _, err := served(t, c, c.PeerConfig()); err != nil {
		t.Fatalf("same pair refused: %v", err)
	}
	other := t.TempDir()
	writePair(t, other, "impostor")
	o, _ := LoadCerts(&TLSSettings{CertFile: filepath.Join(other, "tls.crt"), KeyFile: filepath.Join(other, "tls.key")})
	if _, err := served(t, o, c.PeerConfig()); err == nil {
		t.Fatal("a peer with another certificate was trusted")
	}

	writePair(t, dir, "renewed")
	if cn, err := served(t, c, insecure); err != nil || cn != "renewed" || reloads != 1 {
		t.Fatalf("after renewal: %q %v reloads %d", cn, err, reloads)
	}
	// A half-written update keeps the last good pair.
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cn, err := served(t, c, insecure); err != nil || cn != "renewed" {
		t.Fatalf("after a bad write: %q %v", cn, err)
	}
	if _, err := LoadCerts(&TLSSettings{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}); err == nil {
		t.Fatal("a bad pair at start must stop the proxy")
	}
}
