package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tributary-media/tributary/internal/config"
	"github.com/tributary-media/tributary/pkg/token"
)

// Action is what a request asks for.
type Action int

// Actions.
const (
	Publish Action = iota
	Play
	numActions
)

// String returns "publish" or "play".
func (a Action) String() string {
	if a == Play {
		return token.Play
	}
	return token.Publish
}

// Method names, the method label of tributary_edge_auth_total.
const (
	MethodKey     = "key"
	MethodToken   = "token"
	MethodWebhook = "webhook"
	MethodDeny    = "deny"
)

// Result is the outcome of one method for one request.
type Result int

// Results, the result label of tributary_edge_auth_total.
const (
	// Allowed: the method allows the request.
	Allowed Result = iota
	// Denied: the method refuses the request (a wrong, expired or missing
	// credential, a webhook's non-2xx answer).
	Denied
	// Failed: the method could not decide (a webhook down, slow, or
	// answering with a server error or an invalid body); the request is
	// refused.
	Failed
	numResults
)

// String returns "allowed", "denied" or "error".
func (r Result) String() string {
	switch r {
	case Allowed:
		return "allowed"
	case Denied:
		return "denied"
	}
	return "error"
}

// KeyParam is the query parameter that carries a stream key.
const KeyParam = "key"

// Request is one publish or play to authorize.
type Request struct {
	Action Action
	// App and Stream are the application and stream names, without any
	// query string.
	App, Stream string
	// Query holds the parameters of the stream name's query string, and
	// those of the connect URL the stream name does not have.
	Query url.Values
	// ClientAddr is the client's address, "host:port".
	ClientAddr string
}

// Decision is the answer to a Request.
type Decision struct {
	// Allowed says whether the request may proceed.
	Allowed bool
	// Name is the stream name to publish or play: the requested one, or
	// the one a bound stream key or the webhook gave.
	Name string
	// Methods lists the methods asked, in order ("key,webhook"); "" when
	// no rule applies.
	Methods string
	// Failed says that a method could not decide (the webhook is down or
	// slow): a refusal the client may retry.
	Failed bool
	// Reason says why the request was refused, without any secret; ""
	// when allowed.
	Reason string
}

// Config configures an Authorizer.
type Config struct {
	// Rules are the publish and play rules.
	Rules config.Auth
	// EdgeID is sent to webhooks.
	EdgeID string
	// Transport carries webhook calls; nil means a transport of the
	// Authorizer's own (http.DefaultTransport's settings).
	Transport http.RoundTripper
	// Logger receives problems with keys and secrets files; nil discards
	// them.
	Logger *slog.Logger
	// Now is the clock tokens are checked against; nil means time.Now.
	Now func() time.Time
}

// Authorizer applies the rules. A nil *Authorizer allows everything.
type Authorizer struct {
	def    *appRules
	apps   map[string]*appRules
	now    func() time.Time
	counts [numActions][numMethods][numResults]atomic.Uint64
	hooks  []*webhook
}

// appRules are the rules of one application; a nil rule leaves the action
// open.
type appRules struct {
	rules [numActions]*rule
}

// rule is one compiled config.AuthRule.
type rule struct {
	all   bool
	deny  bool
	keys  *keySet
	token *tokenMethod
	hook  *webhook
}

// Method indexes of Authorizer.counts.
const (
	mKey = iota
	mToken
	mWebhook
	mDeny
	numMethods
)

var methodNames = [numMethods]string{MethodKey, MethodToken, MethodWebhook, MethodDeny}

// New compiles the rules of cfg and reads the keys and secrets files they
// name. It starts nothing.
func New(cfg Config) (*Authorizer, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		cfg.Transport = t
	}
	a := &Authorizer{now: cfg.Now, apps: map[string]*appRules{}}
	var errs []error
	compile := func(name string, app *config.AuthApp) *appRules {
		if app == nil {
			return nil
		}
		out := &appRules{}
		for act, r := range []*config.AuthRule{app.Publish, app.Play} {
			if r == nil {
				continue
			}
			cr, err := a.compile(r, cfg)
			if err != nil {
				errs = append(errs, fmt.Errorf("auth: %s.%s: %w", name, Action(act), err))
				continue
			}
			out.rules[act] = cr
		}
		return out
	}
	a.def = compile("default", cfg.Rules.Default)
	for name, app := range cfg.Rules.Apps {
		a.apps[name] = compile("apps."+name, app)
	}
	if err := errors.Join(errs...); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// compile returns the rule r describes.
func (a *Authorizer) compile(r *config.AuthRule, cfg Config) (*rule, error) {
	out := &rule{all: r.Require == config.AuthRequireAll, deny: r.Deny}
	switch r.Require {
	case "", config.AuthRequireAny, config.AuthRequireAll:
	default:
		return nil, fmt.Errorf("require %q: want any or all", r.Require)
	}
	methods := len(r.Keys) > 0 || r.KeysFile != "" || r.Token != nil || r.Webhook != nil
	switch {
	case r.Deny && methods:
		return nil, errors.New("deny takes no other method")
	case r.Deny:
		return out, nil
	case !methods:
		return nil, errors.New("no method")
	}
	if len(r.Keys) > 0 || r.KeysFile != "" {
		ks, err := newKeySet(r.Keys, r.KeysFile, cfg.Logger)
		if err != nil {
			return nil, err
		}
		out.keys = ks
	}
	if r.Token != nil {
		tm, err := newTokenMethod(r.Token, cfg.Logger)
		if err != nil {
			return nil, err
		}
		out.token = tm
	}
	if r.Webhook != nil {
		h, err := newWebhook(r.Webhook, cfg.EdgeID, cfg.Transport)
		if err != nil {
			return nil, err
		}
		a.hooks = append(a.hooks, h)
		out.hook = h
	}
	return out, nil
}

// Close releases the idle connections of the webhooks.
func (a *Authorizer) Close() {
	if a == nil {
		return
	}
	for _, h := range a.hooks {
		h.client.CloseIdleConnections()
	}
}

// rule returns the rule of action in app, or nil when the action is open.
func (a *Authorizer) rule(app string, action Action) *rule {
	if a == nil {
		return nil
	}
	rs, ok := a.apps[app]
	if !ok {
		rs = a.def
	}
	if rs == nil {
		return nil
	}
	return rs.rules[action]
}

// Applies reports whether a rule decides action in app: when none does,
// Authorize allows without asking anything.
func (a *Authorizer) Applies(app string, action Action) bool {
	return a.rule(app, action) != nil
}

// Closed reports whether every action of app is refused (deny: true for
// both), so that its connections can be refused at once.
func (a *Authorizer) Closed(app string) bool {
	p, q := a.rule(app, Publish), a.rule(app, Play)
	return p != nil && p.deny && q != nil && q.deny
}

// SecretName reports whether the stream name of action in app may be a
// secret until the request is authorized: a stream key given as the name,
// or a name a webhook renames. Such a name must not be logged or traced
// before the Decision gives the name to use.
func (a *Authorizer) SecretName(app string, action Action) bool {
	r := a.rule(app, action)
	return r != nil && (r.keys != nil || r.hook != nil)
}

// Authorize decides req. It blocks for at most the webhook's timeout (or
// until ctx ends).
func (a *Authorizer) Authorize(ctx context.Context, req Request) Decision {
	r := a.rule(req.App, req.Action)
	if r == nil {
		return Decision{Allowed: true, Name: req.Stream}
	}
	if r.deny {
		a.count(req.Action, mDeny, Denied)
		return Decision{Name: req.Stream, Methods: MethodDeny, Reason: req.Action.String() + " is not allowed in this application"}
	}
	type step struct {
		m     int
		check func() outcome
	}
	var steps []step
	hasToken := req.Query.Has(token.ParamExpires) || req.Query.Has(token.ParamSignature)
	if r.token != nil && hasToken && !r.all {
		steps = append(steps, step{mToken, func() outcome { return r.token.check(req, a.now()) }})
	}
	if r.keys != nil {
		steps = append(steps, step{mKey, func() outcome { return r.keys.check(req) }})
	}
	if r.token != nil && (!hasToken || r.all) {
		steps = append(steps, step{mToken, func() outcome { return r.token.check(req, a.now()) }})
	}
	if r.hook != nil {
		steps = append(steps, step{mWebhook, func() outcome { return r.hook.check(ctx, req, a.now()) }})
	}

	d := Decision{Name: req.Stream}
	var methods, reasons []string
	for _, s := range steps {
		// Under require: any a request without a token does not try the
		// token when the rule has another method: the token would only be
		// missing.
		if s.m == mToken && !hasToken && !r.all && len(steps) > 1 {
			reasons = append(reasons, "no token")
			continue
		}
		o := s.check()
		a.count(req.Action, s.m, o.result)
		methods = append(methods, methodNames[s.m])
		if o.result == Allowed {
			if o.name != "" {
				d.Name = o.name
			}
			if !r.all {
				d.Allowed = true
				break
			}
			continue
		}
		reasons = append(reasons, o.reason)
		if o.result == Failed {
			d.Failed = true
		}
		if r.all {
			break
		}
	}
	d.Methods = strings.Join(methods, ",")
	if r.all && len(reasons) == 0 {
		d.Allowed = true
	}
	if d.Allowed {
		return d
	}
	d.Name = req.Stream
	d.Reason = strings.Join(reasons, "; ")
	return d
}

// outcome is one method's answer.
type outcome struct {
	result Result
	name   string // a new stream name, or ""
	reason string // why not allowed, without secrets
}

// count adds one to the counter of method m's result for action.
func (a *Authorizer) count(action Action, m int, r Result) {
	a.counts[action][m][r].Add(1)
}

// Count is one series of tributary_edge_auth_total.
type Count struct {
	Action, Method, Result string
	N                      uint64
}

// Counts returns the number of decisions each method took, by action and
// result: every combination a method can produce, zero or not.
func (a *Authorizer) Counts() []Count {
	if a == nil {
		return nil
	}
	var out []Count
	for act := range numActions {
		for m := range numMethods {
			for r := range numResults {
				if (m == mDeny && Result(r) != Denied) || (m != mWebhook && Result(r) == Failed) {
					continue
				}
				out = append(out, Count{Action: Action(act).String(), Method: methodNames[m],
					Result: Result(r).String(), N: a.counts[act][m][r].Load()})
			}
		}
	}
	return out
}
