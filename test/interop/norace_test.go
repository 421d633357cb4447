//go:build !race

package interop_test

// raceEnabled makes the example binaries race-checked too when the tests
// run with -race.
const raceEnabled = false
