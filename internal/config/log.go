package config

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// parseLogLevel maps debug, info, warn and error (in any case) to a slog
// level.
func parseLogLevel(level string) (slog.Level, error) {
	switch strings.ToLower(level) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q: want debug, info, warn or error", level)
}

// checkLogLevel checks a -log-level value.
func checkLogLevel(level string) error {
	_, err := parseLogLevel(level)
	return err
}

// checkLogFormat checks a -log-format value.
func checkLogFormat(format string) error {
	switch strings.ToLower(format) {
	case "text", "json":
		return nil
	}
	return fmt.Errorf("%q: want text or json", format)
}

// NewLogger returns a logger writing to w at level (debug, info, warn or
// error) in format (text or json: slog's TextHandler or JSONHandler); both
// are case-insensitive.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	lvl, err := parseLogLevel(level)
	if err != nil {
		return nil, fmt.Errorf("config: log level %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("config: log format %w", checkLogFormat(format))
}
