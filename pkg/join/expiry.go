package join

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// minTokenLeft is the least a token must have left to be worth a
// certificate: less is refused rather than signed for a moment.
const minTokenLeft = time.Second

// tokenExpiry is the exp claim of a JWT. It reads the claims without
// checking the signature, so it may only be called on a token the
// Kubernetes API has verified (TokenReview).
func tokenExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, refuse(reasonInvalidToken, codes.Unauthenticated, "token is not a JWT (%d parts)", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, refuse(reasonInvalidToken, codes.Unauthenticated, "decode the token's claims: %v", err)
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, refuse(reasonInvalidToken, codes.Unauthenticated, "parse the token's claims: %v", err)
	}
	if claims.Exp == nil {
		return time.Time{}, refuse(reasonInvalidToken, codes.Unauthenticated, "token has no expiry (exp)")
	}
	// A NumericDate may have fractions (RFC 7519); rounding down never
	// lets a certificate last past it. Past 2^53 a float64 is no longer
	// exact (and no token lives that long).
	exp, err := claims.Exp.Float64()
	if err != nil || exp <= 0 || exp >= 1<<53 {
		return time.Time{}, refuse(reasonInvalidToken, codes.Unauthenticated, "token expiry %q is not a time", claims.Exp.String())
	}
	return time.Unix(int64(math.Floor(exp)), 0), nil
}

// certLifetime is how long a certificate signed now may last: CertTTL, but
// never past the token's expiry, so that a token stolen just before it
// expires buys no more than the token itself would have.
func certLifetime(ttl time.Duration, now, exp time.Time) (time.Duration, error) {
	left := exp.Sub(now)
	if left < minTokenLeft {
		return 0, refuse(reasonExpiring, codes.Unauthenticated, "token expires at %s, %v from now (want at least %v)", exp.UTC().Format(time.RFC3339), left, minTokenLeft)
	}
	return min(ttl, left), nil
}
