package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// quantity describes a setting written as a non-negative number and an
// optional unit, such as a size ("16MiB") or a bit rate ("2.5Mbps"), and
// the errors a value that is not one gets.
type quantity struct {
	// unit returns the size of a unit as written after the number (spaces
	// between the two are allowed); "" when there is none.
	unit func(string) (int64, bool)
	// empty is returned for a blank value.
	empty error
	// negative, when set, is returned for a value starting with a minus
	// sign; otherwise such a value is a syntax error.
	negative error
	// syntax is returned for a value that is not a number and a unit.
	syntax error
	// tooLarge is returned for a value of 2^63 or more.
	tooLarge error
	// inexact, when set, allows a fraction ("2.5M") and is returned when
	// the fraction is not a whole number of the smallest unit; without it
	// the number is an integer.
	inexact error
}

// parse parses s. Errors other than q.empty name s but carry no package
// prefix, for embedding in messages that already have one.
func (q quantity) parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, q.empty
	}
	if q.negative != nil && t[0] == '-' {
		return 0, fmt.Errorf("%q: %w", s, q.negative)
	}
	end := 0
	for end < len(t) && (t[end] >= '0' && t[end] <= '9' || q.inexact != nil && t[end] == '.') {
		end++
	}
	num, unit := t[:end], strings.TrimLeft(t[end:], " ")
	whole, frac, _ := strings.Cut(num, ".")
	if whole == "" || strings.Contains(frac, ".") || strings.HasSuffix(num, ".") {
		return 0, fmt.Errorf("%q: %w", s, q.syntax)
	}
	mult, ok := q.unit(unit)
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit: %w", s, q.syntax)
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q: %w", s, q.tooLarge)
	}
	v := n * mult
	// The fraction's digits, each worth a tenth of the previous one.
	place := mult
	for _, d := range frac {
		if place%10 != 0 {
			if d != '0' {
				return 0, fmt.Errorf("%q: %w", s, q.inexact)
			}
			continue
		}
		place /= 10
		add := int64(d-'0') * place
		if v > math.MaxInt64-add {
			return 0, fmt.Errorf("%q: %w", s, q.tooLarge)
		}
		v += add
	}
	return v, nil
}
