package main

import (
	"testing"
	"time"
)

func TestCodec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		hex  bool
		want string
	}{
		{"plain", false, "plain"},
		{"with space", false, "with space"},
		{"tab\there", false, `"tab\there"`},
		{"\x00\x01", false, `"\x00\x01"`},
		{"", false, `""`},
		{`"quoted"`, false, `"\"quoted\""`},
		{"héllo", false, "héllo"},
		{"\xff", true, "ff"},
	} {
		if got := (codec{hex: tc.hex}).encode([]byte(tc.in)); got != tc.want {
			t.Errorf("encode(%q, hex=%v) = %q, want %q", tc.in, tc.hex, got, tc.want)
		}
	}
	b, err := codec{hex: true}.decode("key", "00ff")
	if err != nil || string(b) != "\x00\xff" {
		t.Errorf("decode hex = %q, %v", b, err)
	}
}

func TestFmtLatency(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "-", 250: "250ns", 1234: "1.23µs", 45_600_000: "45.6ms", 2 * time.Second: "2s",
	} {
		if got := fmtLatency(d); got != want {
			t.Errorf("fmtLatency(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDefaultMemorySize(t *testing.T) {
	for data, want := range map[int64]int64{1: 64 << 20, 54 << 20: 256 << 20, 64 << 20: 256 << 20, 65 << 20: 512 << 20} {
		if got := defaultMemorySize(data); got != want {
			t.Errorf("defaultMemorySize(%d) = %d, want %d", data, got, want)
		}
	}
}
