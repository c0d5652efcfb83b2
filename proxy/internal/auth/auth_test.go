package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var now = time.Unix(1_800_000_000, 0)

type issuer struct {
	srv     *httptest.Server
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	fetches atomic.Int32
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	is := &issuer{}
	is.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
	is.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mux := http.NewServeMux()
	is.srv = httptest.NewServer(mux)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		// As the Kubernetes API server does: 406 unless the client takes a JWK Set.
		if !strings.Contains(r.Header.Get("Accept"), "application/jwk-set+json") {
			http.Error(w, "not acceptable", http.StatusNotAcceptable)
			return
		}
		is.fetches.Add(1)
		ecb := is.ec.PublicKey
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{
			{"kty": "RSA", "kid": "r1", "alg": "RS256", "n": b64.EncodeToString(is.rsa.N.Bytes()), "e": "AQAB"},
			{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64.EncodeToString(ecb.X.FillBytes(make([]byte, 32))), "y": b64.EncodeToString(ecb.Y.FillBytes(make([]byte, 32)))},
			{"kty": "oct", "kid": "h1", "k": b64.EncodeToString([]byte("secret"))},
		}})
	})
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) claims(mod func(map[string]any)) map[string]any {
	c := map[string]any{"iss": is.srv.URL, "sub": "alice", "aud": "mcp", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

func sign(t *testing.T, is *issuer, alg, kid string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	p, _ := json.Marshal(claims)
	signed := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	switch alg {
	case "RS256":
		sig, _ = rsa.SignPKCS1v15(rand.Reader, is.rsa, crypto.SHA256, digest[:])
	case "ES256":
		r, s, _ := ecdsa.Sign(rand.Reader, is.ec, digest[:])
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case "HS256":
		m := hmac.New(sha256.New, []byte("secret"))
		m.Write([]byte(signed))
		sig = m.Sum(nil)
	}
	return signed + "." + b64.EncodeToString(sig)
}

func (is *issuer) authn() *Authenticator {
	return &Authenticator{Skew: time.Minute, Now: func() time.Time { return now }, Issuers: []Issuer{{
		Issuer: is.srv.URL, Audiences: []string{"mcp"},
		Keys: &KeySource{Issuer: is.srv.URL, Client: is.srv.Client(), MinRefresh: 10 * time.Second, MaxAge: time.Hour},
	}}}
}

func request(token string) *http.Request {
	r := httptest.NewRequest("POST", "/mcp", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func TestAcceptsRS256AndES256(t *testing.T) {
	is := newIssuer(t)
	a := is.authn()
	for _, alg := range []string{"RS256", "ES256"} {
		kid := map[string]string{"RS256": "r1", "ES256": "e1"}[alg]
		c, f := a.Authenticate(request(sign(t, is, alg, kid, is.claims(func(c map[string]any) {
			c["sub"] = "system:serviceaccount:team-a:agent"
			c["groups"] = []string{"devs"}
		}))))
		if f != nil {
			t.Fatalf("%s: %v", alg, f)
		}
		if c.ServiceAccount != "team-a/agent" || c.Groups[len(c.Groups)-1] != "devs" {
			t.Fatalf("%s: caller %+v", alg, c)
		}
	}
	if is.fetches.Load() != 1 {
		t.Fatalf("keys fetched %d times, want once (cached)", is.fetches.Load())
	}
}

func TestRefusals(t *testing.T) {
	is := newIssuer(t)
	other := newIssuer(t)
	good := sign(t, is, "RS256", "r1", is.claims(nil))
	parts := strings.Split(good, ".")
	none := b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	cases := []struct {
		name, token, reason string
	}{
		{"missing", "", "missing"},
		{"garbage", "not-a-jwt", "malformed"},
		{"alg none", none, "alg"},
		{"HS256 with a published oct key", sign(t, is, "HS256", "h1", is.claims(nil)), "alg"},
		{"RS256 header over the EC key", sign(t, is, "RS256", "e1", is.claims(nil)), "alg"},
		{"tampered payload", parts[0] + "." + b64.EncodeToString([]byte(`{"iss":"`+is.srv.URL+`","aud":"mcp","sub":"root","exp":9999999999}`)) + "." + parts[2], "signature"},
		{"expired", sign(t, is, "RS256", "r1", is.claims(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() })), "expired"},
		{"not yet valid", sign(t, is, "RS256", "r1", is.claims(func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), "not_yet_valid"},
		{"no exp", sign(t, is, "RS256", "r1", is.claims(func(c map[string]any) { delete(c, "exp") })), "malformed"},
		{"wrong audience", sign(t, is, "RS256", "r1", is.claims(func(c map[string]any) { c["aud"] = []string{"other"} })), "audience"},
		{"other issuer", sign(t, other, "RS256", "r1", other.claims(nil)), "issuer"},
		{"other issuer's key, our iss", sign(t, other, "RS256", "r1", is.claims(nil)), "signature"},
		{"unknown kid", sign(t, is, "RS256", "nope", is.claims(nil)), "unknown_key"},
	}
	a := is.authn()
	for _, tc := range cases {
		_, f := a.Authenticate(request(tc.token))
		if f == nil || f.Reason != tc.reason || f.Status != 401 {
			t.Errorf("%s: got %+v, want 401 %s", tc.name, f, tc.reason)
		}
	}
	// Within the skew: accepted.
	if _, f := a.Authenticate(request(sign(t, is, "RS256", "r1", is.claims(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() })))); f != nil {
		t.Fatalf("within skew: %v", f)
	}
}

func TestUnknownKidRefetchesAtMostOncePerFloor(t *testing.T) {
	is := newIssuer(t)
	a := is.authn()
	clock := now
	a.Now = func() time.Time { return clock }
	for i := range 50 {
		_, f := a.Authenticate(request(sign(t, is, "RS256", fmt.Sprintf("made-up-%d", i), is.claims(nil))))
		if f == nil || f.Reason != "unknown_key" {
			t.Fatalf("made-up kid: %+v", f)
		}
	}
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 50 unknown kids within the floor, want 1", n)
	}
	clock = clock.Add(11 * time.Second)
	a.Authenticate(request(sign(t, is, "RS256", "again", is.claims(nil))))
	if n := is.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the floor, want 2", n)
	}
}

func TestIssuerAwayIs503NotOpen(t *testing.T) {
	is := newIssuer(t)
	a := is.authn()
	tok := sign(t, is, "RS256", "r1", is.claims(nil))
	is.srv.Close()
	_, f := a.Authenticate(request(tok))
	if f == nil || f.Status != 503 || !errors.Is(f.Err, errUnavailable) {
		t.Fatalf("got %+v, want 503 unavailable", f)
	}
}

func TestSmallRSAKeysAndOffCurvePointsAreSkipped(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	keys, err := ParseJWKS([]byte(fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"s","n":%q,"e":"AQAB"},
		{"kty":"EC","kid":"bad","crv":"P-256","x":%q,"y":%q}]}`, b64.EncodeToString(small.N.Bytes()),
		b64.EncodeToString(make([]byte, 32)), b64.EncodeToString(make([]byte, 32)))))
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys %v err %v: want none usable", keys, err)
	}
}

func TestNumericDatesAreNumbers(t *testing.T) {
	is := newIssuer(t)
	a := is.authn()
	for _, exp := range []any{"9999999999", nil, true, -5, 1e12} {
		_, f := a.Authenticate(request(sign(t, is, "RS256", "r1", is.claims(func(c map[string]any) { c["exp"] = exp }))))
		if f == nil {
			t.Errorf("exp %#v accepted", exp)
		}
	}
}

// BenchmarkAuthenticate is the cost a token adds to a request (keys cached).
func BenchmarkAuthenticate(b *testing.B) {
	t := &testing.T{}
	is := newIssuer(t)
	defer is.srv.Close()
	a := is.authn()
	for _, alg := range []string{"RS256", "ES256"} {
		kid := map[string]string{"RS256": "r1", "ES256": "e1"}[alg]
		r := request(sign(t, is, alg, kid, is.claims(nil)))
		b.Run(alg, func(b *testing.B) {
			for b.Loop() {
				if _, f := a.Authenticate(r); f != nil {
					b.Fatal(f)
				}
			}
		})
	}
}

func TestCachedTokenStillExpires(t *testing.T) {
	is := newIssuer(t)
	a := is.authn()
	clock := now
	a.Now = func() time.Time { return clock }
	tok := sign(t, is, "RS256", "r1", is.claims(func(c map[string]any) { c["exp"] = now.Add(30 * time.Second).Unix() }))
	if _, f := a.Authenticate(request(tok)); f != nil {
		t.Fatal(f)
	}
	clock = clock.Add(100 * time.Second) // past exp + 60 s skew
	if _, f := a.Authenticate(request(tok)); f == nil || f.Reason != "expired" {
		t.Fatalf("cached token past its exp: %+v", f)
	}
}
