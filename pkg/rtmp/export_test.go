package rtmp

// Internals exported for the tests of package rtmp_test.

// ClassifyClose is classifyClose.
var ClassifyClose = classifyClose

// ConnPhase is connPhase.
type ConnPhase = connPhase

// The phases of a connection.
const (
	PhaseHandshake = phaseHandshake
	PhaseConnect   = phaseConnect
	PhaseConnected = phaseConnected
)

// Close reasons of the Server.
var (
	ErrShutdown     = errShutdown
	ErrHandlerPanic = errHandlerPanic
	ErrProtocol     = errProtocol
	ErrLimit        = errLimit
)

// ParkedInLot is lotSize.
var ParkedInLot = lotSize
