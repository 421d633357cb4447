package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tributary-media/tributary/internal/config"
	"github.com/tributary-media/tributary/pkg/token"
)

// tokenMethod checks signed tokens (pkg/token).
type tokenMethod struct {
	static      [][]byte
	file        *fileSource[[][]byte]
	skew        time.Duration
	maxValidity time.Duration
}

func newTokenMethod(c *config.AuthTokens, log *slog.Logger) (*tokenMethod, error) {
	if c.Skew < 0 || c.MaxValidity < 0 {
		return nil, errors.New("token: skew and max_validity must not be negative")
	}
	tm := &tokenMethod{skew: c.Skew, maxValidity: c.MaxValidity}
	for i, s := range c.Secrets {
		if why := config.CheckTokenSecret(s); why != "" {
			return nil, fmt.Errorf("token.secrets[%d]: the secret %s", i, why)
		}
		tm.static = append(tm.static, []byte(s))
	}
	if c.SecretsFile != "" {
		f, err := newFileSource(c.SecretsFile, "token secrets file", parseSecrets, log)
		if err != nil {
			return nil, err
		}
		tm.file = f
	}
	if len(tm.static) == 0 && tm.file == nil {
		return nil, errors.New("token: no secret")
	}
	return tm, nil
}

// parseSecrets parses a secrets file: one secret per line, white space
// around it ignored; empty lines and lines starting with '#' are ignored.
// At least one secret is required.
func parseSecrets(data []byte) ([][]byte, error) {
	ls, nums := lines(data)
	out := make([][]byte, 0, len(ls))
	for i, l := range ls {
		if why := config.CheckTokenSecret(l); why != "" {
			return nil, fmt.Errorf("line %d: the secret %s", nums[i], why)
		}
		out = append(out, []byte(l))
	}
	if len(out) == 0 {
		return nil, errors.New("no secret in the file")
	}
	return out, nil
}

// check verifies the token in req's query at now.
func (tm *tokenMethod) check(req Request, now time.Time) outcome {
	secrets := tm.static
	if tm.file != nil {
		secrets = append(secrets[:len(secrets):len(secrets)], tm.file.get()...)
	}
	v := token.Verifier{Secrets: secrets, Skew: tm.skew, MaxValidity: tm.maxValidity}
	err := v.Verify(req.Query, req.Action.String(), req.App, req.Stream, now)
	if err == nil {
		return outcome{result: Allowed}
	}
	reason := "token not accepted"
	switch {
	case errors.Is(err, token.ErrMissing):
		reason = "no token"
	case errors.Is(err, token.ErrMalformed):
		reason = "malformed token"
	case errors.Is(err, token.ErrSignature):
		reason = "token signature does not match"
	case errors.Is(err, token.ErrExpired):
		reason = "token expired"
	case errors.Is(err, token.ErrTooLong):
		reason = "token expires too far in the future"
	}
	return outcome{result: Denied, reason: reason}
}
