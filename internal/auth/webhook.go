package auth

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tributary-media/tributary/internal/config"
)

// maxAnswer bounds the body of a webhook's answer that is read.
const maxAnswer = 64 << 10

// WebhookRequest is the JSON body POSTed to a webhook (docs/security.md).
type WebhookRequest struct {
	// Action is "publish" or "play".
	Action string `json:"action"`
	// App and Stream are the application and stream names, without the
	// query string.
	App    string `json:"app"`
	Stream string `json:"stream"`
	// Query holds the query parameters of the stream name and of the
	// connect URL (the first value of each).
	Query map[string]string `json:"query"`
	// ClientAddr is the client's address ("203.0.113.7:51234"), ClientIP
	// its IP address.
	ClientAddr string `json:"client_addr"`
	ClientIP   string `json:"client_ip"`
	// EdgeID names the edge that asks.
	EdgeID string `json:"edge_id"`
}

// WebhookAnswer is the JSON body a webhook may answer a 2xx with. Any
// other body of a 2xx answer (none, "OK") allows without a rename.
type WebhookAnswer struct {
	// Name, when not empty, is the stream name to publish or play instead
	// of the requested one.
	Name string `json:"name"`
}

// webhook asks an HTTP service.
type webhook struct {
	url     string
	timeout time.Duration
	headers map[string]string
	edgeID  string
	client  *http.Client
	cache   *answerCache // nil without a cache
}

func newWebhook(c *config.AuthWebhook, edgeID string, rt http.RoundTripper) (*webhook, error) {
	if err := config.CheckWebhookURL(c.URL); err != nil {
		return nil, fmt.Errorf("webhook.url: %w", err)
	}
	if c.Timeout <= 0 {
		return nil, errors.New("webhook.timeout: must be more than 0")
	}
	w := &webhook{url: c.URL, timeout: c.Timeout, headers: c.Headers, edgeID: edgeID,
		client: &http.Client{
			Transport: rt,
			// A redirect is an answer other than 2xx: it refuses.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if c.CacheTTL > 0 {
		if c.CacheSize < 1 {
			return nil, errors.New("webhook.cache_size: must be at least 1")
		}
		w.cache = &answerCache{ttl: c.CacheTTL, max: c.CacheSize, m: map[[sha256.Size]byte]*list.Element{}, order: list.New()}
	}
	return w, nil
}

// check asks the webhook about req, or answers from the cache.
func (w *webhook) check(ctx context.Context, req Request, now time.Time) outcome {
	body := WebhookRequest{
		Action: req.Action.String(), App: req.App, Stream: req.Stream,
		Query: make(map[string]string, len(req.Query)), ClientAddr: req.ClientAddr, EdgeID: w.edgeID,
	}
	for k, vs := range req.Query {
		if len(vs) > 0 {
			body.Query[k] = vs[0]
		}
	}
	body.ClientIP = req.ClientAddr
	if host, _, err := net.SplitHostPort(req.ClientAddr); err == nil {
		body.ClientIP = host
	}
	var key [sha256.Size]byte
	if w.cache != nil {
		key = cacheKey(&body)
		if o, ok := w.cache.get(key, now); ok {
			return o
		}
	}
	o := w.call(ctx, &body)
	if w.cache != nil && o.result != Failed {
		w.cache.put(key, o, now)
	}
	return o
}

// cacheKey identifies a request for the cache: everything sent but the
// client's port.
func cacheKey(b *WebhookRequest) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range []string{b.Action, b.App, b.Stream, b.ClientIP} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	keys := make([]string, 0, len(b.Query))
	for k := range b.Query {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(b.Query[k]), b.Query[k])
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// call POSTs body to the webhook and interprets the answer.
func (w *webhook) call(ctx context.Context, body *WebhookRequest) outcome {
	data, err := json.Marshal(body)
	if err != nil {
		return outcome{result: Failed, reason: "cannot encode the webhook request"}
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(data))
	if err != nil {
		return outcome{result: Failed, reason: "invalid webhook request"}
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", "tributary-edge")
	for k, v := range w.headers {
		hr.Header.Set(k, v)
	}
	resp, err := w.client.Do(hr)
	if err != nil {
		return outcome{result: Failed, reason: w.failure(ctx)}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		return outcome{result: Failed, reason: fmt.Sprintf("the authorization service failed (HTTP %d)", resp.StatusCode)}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return outcome{result: Denied, reason: fmt.Sprintf("refused by the authorization service (HTTP %d)", resp.StatusCode)}
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	switch {
	case err != nil:
		return outcome{result: Failed, reason: w.failure(ctx)}
	case len(answer) > maxAnswer:
		return outcome{result: Failed, reason: "the authorization service's answer is too large"}
	}
	name, err := parseAnswer(answer)
	if err != nil {
		return outcome{result: Failed, reason: "the authorization service's answer is invalid: " + err.Error()}
	}
	return outcome{result: Allowed, name: name}
}

// failure describes a call that got no (complete) answer.
func (w *webhook) failure(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("the authorization service did not answer within %s", w.timeout)
	}
	return "the authorization service is unreachable"
}

// parseAnswer returns the stream name a 2xx answer gives, or "". A body
// that is not a JSON object gives none; a JSON object must be a valid
// WebhookAnswer whose name, if any, is a valid stream name.
func parseAnswer(body []byte) (string, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return "", nil
	}
	var a WebhookAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return "", errors.New("not a JSON object with a string name")
	}
	if why := checkName(a.Name); why != "" {
		return "", errors.New("the name " + why)
	}
	if strings.TrimSpace(a.Name) != a.Name {
		return "", errors.New("the name has white space at either end")
	}
	return a.Name, nil
}

// answerCache keeps the webhook's answers (allowed or denied, never
// failures) for a while, up to a number of them; the oldest goes first.
type answerCache struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	m     map[[sha256.Size]byte]*list.Element
	order *list.List // of *cached, oldest first
}

type cached struct {
	key     [sha256.Size]byte
	o       outcome
	expires time.Time
}

func (c *answerCache) get(key [sha256.Size]byte, now time.Time) (outcome, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key]
	if e == nil {
		return outcome{}, false
	}
	v := e.Value.(*cached)
	if !now.Before(v.expires) {
		c.order.Remove(e)
		delete(c.m, key)
		return outcome{}, false
	}
	return v.o, true
}

func (c *answerCache) put(key [sha256.Size]byte, o outcome, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e != nil {
		c.order.Remove(e)
		delete(c.m, key)
	}
	for c.order.Len() >= c.max {
		oldest := c.order.Front()
		c.order.Remove(oldest)
		delete(c.m, oldest.Value.(*cached).key)
	}
	c.m[key] = c.order.PushBack(&cached{key: key, o: o, expires: now.Add(c.ttl)})
}

// len returns the number of cached answers.
func (c *answerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
