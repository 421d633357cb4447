// Package auth decides whether an RTMP publish or play may proceed, by the
// rules of the edge's configuration (config.Auth, docs/security.md).
//
// # Rules
//
// Each application has a rule per action (publish, play); an application
// without an entry in the configuration has the default rules, and an
// action without a rule is open. A rule combines methods:
//
//   - static stream keys, given as the stream name (when bound to a stream,
//     which is then the name published or played) or in the key query
//     parameter; compared in constant time;
//   - signed expiring tokens (pkg/token) in the exp and sig query
//     parameters;
//   - a webhook: an HTTP POST whose 2xx answer allows, and may rename the
//     stream, and whose other answers, or none within the timeout, refuse.
//
// With require: any (the default) the first method that allows decides;
// with require: all every method must allow. Methods are tried in the order
// keys, token, webhook (a request that carries a token tries the token
// first under require: any), so that the webhook is asked only when the
// cheaper methods did not already decide.
//
// # Secrets
//
// A Decision's Reason never holds a key, a token, a signature or a webhook
// answer: it may be logged, traced and shown to the client. Query strings
// are never part of a stream name.
//
// # Concurrency
//
// An Authorizer is safe for concurrent use. Authorize blocks for at most
// the webhook's timeout; no lock is held while a webhook is asked, so a
// slow or dead webhook delays only the requests that wait for it. Keys and
// secrets files are read again when they change (checked at most once a
// second, by the request that notices it is time); a file that no longer
// parses is reported to the logger and the previous contents stay in
// force.
package auth
