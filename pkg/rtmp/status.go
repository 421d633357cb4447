package rtmp

import (
	"errors"
	"fmt"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// Status levels of an onStatus, _result or _error information object.
const (
	LevelStatus  = message.LevelStatus
	LevelWarning = message.LevelWarning
	LevelError   = message.LevelError
)

// Status codes a connection sends or receives (PROTOCOL.md section 7.5).
const (
	CodeConnectSuccess          = message.CodeConnectSuccess
	CodeConnectFailed           = message.CodeConnectFailed
	CodeConnectClosed           = message.CodeConnectClosed
	CodeConnectRejected         = message.CodeConnectRejected
	CodeConnectReconnectRequest = message.CodeConnectReconnectRequest
	CodePublishStart            = message.CodePublishStart
	CodePublishBadName          = message.CodePublishBadName
	CodePublishBadAuth          = "NetStream.Publish.BadAuth"
	CodePublishFailed           = message.CodePublishFailed
	CodeUnpublishSuccess        = message.CodeUnpublishSuccess
	CodePlayStart               = message.CodePlayStart
	CodePlayReset               = message.CodePlayReset
	CodePlayStop                = message.CodePlayStop
	CodePlayStreamNotFound      = message.CodePlayStreamNotFound
	CodePlayFailed              = message.CodePlayFailed
	CodePlayPublishNotify       = message.CodePlayPublishNotify
	CodePlayUnpublishNotify     = message.CodePlayUnpublishNotify
	CodePauseNotify             = message.CodePauseNotify
	CodeUnpauseNotify           = message.CodeUnpauseNotify
)

// Status is the information object of an onStatus message (or of an
// _error reply): level, code and description, plus any other properties
// the peer sent.
type Status struct {
	// Level is "status", "warning" or "error".
	Level string
	// Code is the status code, such as [CodePublishStart].
	Code string
	// Description is the human-readable text the peer sent.
	Description string
	// Info holds every property of the information object as received,
	// including level, code and description; nil for statuses built
	// locally.
	Info amf.Object
}

// StatusError is the error a client call returns when the server answers
// with a status of level "error" (or an _error reply), and the error
// a server-side conn reports after rejecting a request. It matches the
// sentinels of this package by code: errors.Is(err, ErrBadName) holds for
// any *StatusError whose Code is [CodePublishBadName].
type StatusError struct {
	Status
	// Command is the command the status answers ("connect", "publish",
	// "play"); empty when unknown.
	Command string
}

// Error returns "rtmp: <command>: <code>: <description>".
func (e *StatusError) Error() string {
	cmd := e.Command
	if cmd == "" {
		cmd = "status"
	}
	if e.Description == "" {
		return fmt.Sprintf("rtmp: %s: %s", cmd, e.Code)
	}
	return fmt.Sprintf("rtmp: %s: %s: %s", cmd, e.Code, e.Description)
}

// Is reports whether target is a *StatusError with the same Code.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Code == e.Code
}

// Sentinels for the status codes callers branch on; compare with errors.Is.
var (
	// ErrConnectRejected matches a connect answered with
	// NetConnection.Connect.Rejected.
	ErrConnectRejected error = &StatusError{Status: Status{Level: LevelError, Code: CodeConnectRejected}}
	// ErrBadName matches a publish answered with NetStream.Publish.BadName
	// (the name is already being published, or is not allowed).
	ErrBadName error = &StatusError{Status: Status{Level: LevelError, Code: CodePublishBadName}}
	// ErrBadAuth matches a publish answered with NetStream.Publish.BadAuth.
	ErrBadAuth error = &StatusError{Status: Status{Level: LevelError, Code: CodePublishBadAuth}}
	// ErrPublishFailed matches a publish answered with
	// NetStream.Publish.Failed.
	ErrPublishFailed error = &StatusError{Status: Status{Level: LevelError, Code: CodePublishFailed}}
	// ErrStreamNotFound matches a play answered with
	// NetStream.Play.StreamNotFound.
	ErrStreamNotFound error = &StatusError{Status: Status{Level: LevelError, Code: CodePlayStreamNotFound}}
	// ErrPlayFailed matches a play answered with NetStream.Play.Failed.
	ErrPlayFailed error = &StatusError{Status: Status{Level: LevelError, Code: CodePlayFailed}}
)

// ErrClosed is returned by operations on a connection that was closed
// locally with Close.
var ErrClosed = errors.New("rtmp: connection closed")

// IsStatus reports whether err is (or wraps) a *StatusError with the given
// code.
func IsStatus(err error, code string) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}
