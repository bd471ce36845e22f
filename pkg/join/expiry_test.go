package join

import (
	"encoding/base64"
	"testing"
	"time"
)

func jwt(claims string) string {
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2ln"
}

func TestTokenExpiry(t *testing.T) {
	exp, err := tokenExpiry(jwt(`{"aud":["vigil"],"exp":1765100000,"iat":1765099100}`))
	if err != nil || !exp.Equal(time.Unix(1765100000, 0)) {
		t.Fatalf("exp %v, %v", exp, err)
	}
	if exp, err := tokenExpiry(jwt(`{"exp":1765100000.9}`)); err != nil || !exp.Equal(time.Unix(1765100000, 0)) {
		t.Fatalf("fractional exp %v, %v (want it rounded down)", exp, err)
	}
	for name, token := range map[string]string{
		"no exp":       jwt(`{"aud":["vigil"]}`),
		"exp a string": jwt(`{"exp":"soon"}`),
		"exp negative": jwt(`{"exp":-1}`),
		"not JSON":     jwt(`exp`),
		"two parts":    "eyJhbGciOiJSUzI1NiJ9.e30",
		"not base64":   "a.!!.c",
	} {
		if _, err := tokenExpiry(token); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCertLifetimeEndsWithTheToken(t *testing.T) {
	now := time.Unix(1765100000, 0)
	for _, tc := range []struct {
		ttl, left, want time.Duration
	}{
		{time.Hour, 15 * time.Minute, 15 * time.Minute},
		{time.Hour, 2 * time.Hour, time.Hour},
		{time.Hour, time.Second, time.Second},
	} {
		got, err := certLifetime(tc.ttl, now, now.Add(tc.left))
		if err != nil || got != tc.want {
			t.Errorf("ttl %v, token left %v: %v, %v (want %v)", tc.ttl, tc.left, got, err, tc.want)
		}
	}
	for _, left := range []time.Duration{999 * time.Millisecond, 0, -time.Hour} {
		if got, err := certLifetime(time.Hour, now, now.Add(left)); err == nil {
			t.Errorf("token with %v left: signed for %v", left, got)
		}
	}
}
