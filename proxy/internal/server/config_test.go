package server

import (
	"io"
	"strings"
	"testing"
)

func TestParseDefaultsAndAdvertise(t *testing.T) {
	t.Setenv("POD_IP", "10.1.2.3")
	c, err := Parse([]string{"--listen", ":9000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Advertise != "10.1.2.3:9000" || c.Transport != "http" || c.Sessions != "sticky" || c.Path != "/mcp" {
		t.Fatalf("%+v", c)
	}
	c, err = Parse([]string{"--transport", "stdio", "--", "python", "-m", "srv"}, io.Discard)
	if err != nil || strings.Join(c.Command, " ") != "python -m srv" || c.MaxSessions != 64 {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestParseRefusesNonsense(t *testing.T) {
	for _, args := range [][]string{
		{"--transport", "grpc"},
		{"--transport", "stdio"},
		{"--upstream", "ftp://x"},
		{"--sessions", "sometimes"},
		{"--path", "mcp"},
		{"--max-body", "0"},
		{"--", "cmd"},
	} {
		if _, err := Parse(args, io.Discard); err == nil {
			t.Errorf("%v must be refused", args)
		}
	}
}
