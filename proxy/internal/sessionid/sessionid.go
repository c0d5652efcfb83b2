// Package sessionid issues session ids that name the replica owning the session:
//
//	m1.<owner>.<mac>.<upstream id>
//
// owner is the owning proxy's address (pod IP and port, base64url), upstream id is the
// id the MCP server itself issued (or the bridge's own for stdio servers), and mac is an
// HMAC-SHA256 (truncated to 128 bits) of both under a key every replica of the server
// shares. Any replica can therefore tell where a session lives without a shared store,
// and a client cannot forge an id that sends the proxy to an address of its choosing.
package sessionid

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

const prefix = "m1"

var enc = base64.RawURLEncoding

// Errors from Parse.
var (
	ErrNotOurs = errors.New("not an id this proxy issued")
	ErrForged  = errors.New("session id signature does not match")
)

// Codec signs and checks ids with one key.
type Codec struct {
	key []byte
}

// New returns a codec for key (at least 16 bytes).
func New(key []byte) (*Codec, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("session key must be at least 16 bytes, got %d", len(key))
	}
	return &Codec{key: append([]byte(nil), key...)}, nil
}

// LoadKey reads the key from file if given, else from the environment variable env,
// else returns a random key and random=true (ids then only verify on this replica).
func LoadKey(file, env string) (key []byte, random bool, err error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, false, err
		}
		return []byte(strings.TrimSpace(string(b))), false, nil
	}
	if v := os.Getenv(env); v != "" {
		return []byte(v), false, nil
	}
	key = make([]byte, 32)
	_, err = rand.Read(key)
	return key, true, err
}

func (c *Codec) mac(owner, upstream string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(owner))
	m.Write([]byte{0})
	m.Write([]byte(upstream))
	return enc.EncodeToString(m.Sum(nil)[:16])
}

// Mint returns the id for a session the proxy at owner (host:port) holds.
func (c *Codec) Mint(owner, upstream string) string {
	o := enc.EncodeToString([]byte(owner))
	return prefix + "." + o + "." + c.mac(owner, upstream) + "." + upstream
}

// Parse checks an id and returns its owner and upstream id.
func (c *Codec) Parse(id string) (owner, upstream string, err error) {
	parts := strings.SplitN(id, ".", 4)
	if len(parts) != 4 || parts[0] != prefix || parts[3] == "" {
		return "", "", ErrNotOurs
	}
	raw, err := enc.DecodeString(parts[1])
	if err != nil {
		return "", "", ErrNotOurs
	}
	owner, upstream = string(raw), parts[3]
	if !hmac.Equal([]byte(parts[2]), []byte(c.mac(owner, upstream))) {
		return "", "", ErrForged
	}
	return owner, upstream, nil
}

// Random returns a fresh random id (the stdio bridge's upstream ids).
func Random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return enc.EncodeToString(b)
}
