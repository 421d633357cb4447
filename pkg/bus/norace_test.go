//go:build !race

package bus_test

// raceEnabled: see race_test.go.
const raceEnabled = false
