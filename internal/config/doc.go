// Package config loads and validates the configuration of Tributary's
// processes.
//
// # Layers
//
// A setting's value comes from, in increasing order of precedence:
//
//  1. its default (DefaultEdge, DefaultController);
//  2. the YAML file named by the -config flag or, without it, by the
//     TRIBUTARY_CONFIG environment variable;
//  3. its environment variable: "TRIBUTARY_" and the flag name in upper
//     case with '-' replaced by '_' (-rtmp-addr is TRIBUTARY_RTMP_ADDR);
//  4. its flag.
//
// A layer that sets a value replaces it, even with an empty value: with
// -nats-url= on the command line, a NATS URL from the file or the
// environment is ignored. When a flag is given twice, the last one wins.
//
// # Syntax
//
// The file is one YAML mapping from setting keys (the flag name with '_'
// for '-': rtmp_addr) to values. Durations are Go durations ("10s",
// "1m30s"); sizes are Bytes ("16MiB", "512KiB", "1MB" or a plain integer);
// lists are YAML sequences, and comma-separated in flags and the
// environment. An empty YAML value (key: or key: ~) sets a string or a
// list to empty. One key of the edge's file has no flag or variable: auth,
// a nested mapping of publish and play rules (Auth, docs/security.md),
// checked as strictly, each problem with its line.
//
// # Errors
//
// Typos are errors, not silently ignored: an unknown key in the file (with
// its line), an environment variable with the TRIBUTARY_ prefix that names
// no setting of any Tributary program. The edge and the controller may share
// an environment (a shell, a Kubernetes ConfigMap), so each ignores the
// variables of the other's settings; a variable named by both (TRIBUTARY_ID,
// TRIBUTARY_HTTP_ADDR) sets both. LoadEdge and LoadController collect every
// problem they can find and return them joined with errors.Join, as
// Validate does for the values: each message starts with "config: " and
// names the setting by its flag, environment variable or file position, and
// says where an invalid value came from.
//
// # Secrets
//
// Passwords and tokens are not settings: each is read from the file a
// -...-file setting names (-nats-password-file) or from an environment
// variable (TRIBUTARY_NATS_PASSWORD, TRIBUTARY_NATS_TOKEN,
// TRIBUTARY_ETCD_PASSWORD, TRIBUTARY_ADMIN_TOKEN), never from a flag or
// the YAML file. LoadEdge and LoadController read them into Secret
// values, which print and log as where they came from, never as the
// secret.
//
// # Concurrency
//
// The package has no global state: its functions are safe for concurrent
// use. Only LoadEdge and LoadController touch the file system (to read the
// YAML file and the secret files) and DefaultEdge and DefaultController
// ask for the host name; the environment is passed in.
package config
