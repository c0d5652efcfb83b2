package sessionid

import (
	"strings"
	"testing"
	"testing/quick"
)

func codec(t *testing.T, key string) *Codec {
	t.Helper()
	c, err := New([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTripAnyUpstreamID(t *testing.T) {
	c := codec(t, "0123456789abcdef-shared")
	f := func(upstream string, port uint16) bool {
		if upstream == "" {
			upstream = "x"
		}
		owner := "10.1.2.3:" + string(rune('0'+port%10))
		id := c.Mint(owner, upstream)
		o, u, err := c.Parse(id)
		return err == nil && o == owner && u == upstream
	}
	if err := quick.Check(f, nil); err != nil {
		t.Fatal(err)
	}
	id := c.Mint("10.0.0.7:8080", "abc.def")
	if _, u, err := c.Parse(id); err != nil || u != "abc.def" {
		t.Fatalf("dots in the upstream id survive: %q %v", u, err)
	}
}

func TestForgedAndForeignIDsAreRefused(t *testing.T) {
	c := codec(t, "0123456789abcdef-shared")
	other := codec(t, "another-key-of-16-bytes")
	id := c.Mint("10.0.0.7:8080", "sess-1")
	if _, _, err := other.Parse(id); err != ErrForged {
		t.Fatalf("another key: %v", err)
	}
	parts := strings.SplitN(id, ".", 4)
	redirect := strings.Join([]string{parts[0], enc.EncodeToString([]byte("169.254.169.254:80")), parts[2], parts[3]}, ".")
	if _, _, err := c.Parse(redirect); err != ErrForged {
		t.Fatalf("owner swapped: %v", err)
	}
	if _, _, err := c.Parse(id + "x"); err != ErrForged {
		t.Fatalf("upstream changed: %v", err)
	}
	for _, foreign := range []string{"", "plain-session-id", "m1.!!.x.y", "m1.a.b", "m2.a.b.c"} {
		if _, _, err := c.Parse(foreign); err != ErrNotOurs {
			t.Errorf("%q: %v", foreign, err)
		}
	}
}

func TestShortKeyRefused(t *testing.T) {
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("a short key must be refused")
	}
}

func TestLoadKey(t *testing.T) {
	t.Setenv("MCPOPS_TEST_KEY", "from-the-environment")
	k, random, err := LoadKey("", "MCPOPS_TEST_KEY")
	if err != nil || random || string(k) != "from-the-environment" {
		t.Fatal(k, random, err)
	}
	k, random, _ = LoadKey("", "MCPOPS_TEST_UNSET_KEY")
	if !random || len(k) != 32 {
		t.Fatal("no key configured gives a random one")
	}
}
