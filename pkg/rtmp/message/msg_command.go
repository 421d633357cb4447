package message

import (
	"fmt"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// Command is a command message: type 20 in AMF0, or type 17 whose payload
// starts with a format byte (0x00) and carries AMF0 values in which AMF3
// values are introduced with the AVM+ marker 0x11.
//
//	payload (20): name (string) · transaction id (number) ·
//	              command object (object or null) · arguments ...
//	payload (17): 0x00 · the same
//
// A type-17 command thus decodes to the same Name, TransactionID, Object
// and Args as the equivalent type-20 command. Decoding a type-17 payload
// that does not start with 0x00 reads it as AMF0 from its first byte. Only
// the name is required: a missing transaction id decodes as 0 and a missing
// command object as nil (AMF null). A transaction id may be an AMF3 integer
// and is returned as a float64.
type Command struct {
	// AMF3 selects type 17 (with the format byte) instead of 20.
	AMF3 bool
	// Name is the command name ("connect", "_result", "onStatus", ...).
	Name string
	// TransactionID matches replies to requests; 0 for commands that
	// expect no reply.
	TransactionID float64
	// Object is the command object: an amf.Object or amf.ECMAArray
	// (peers send both; read it with amf.Props or amf.Lookup), or nil for
	// AMF null.
	Object any
	// Args are the values after the command object; nil when there are
	// none.
	Args []any
}

// Type returns [TypeCommandAMF3] or [TypeCommandAMF0].
func (m *Command) Type() uint8 {
	if m.AMF3 {
		return TypeCommandAMF3
	}
	return TypeCommandAMF0
}

// AppendPayload appends the format byte (type 17), name, transaction id,
// command object and arguments to dst. AMF3-only values are written as
// AVM+ values.
func (m *Command) AppendPayload(dst []byte) ([]byte, error) {
	if m.AMF3 {
		dst = append(dst, 0x00)
	}
	dst, err := amf.AppendAMF0(dst, m.Name)
	if err != nil {
		return dst, fmt.Errorf("message: command name: %w", err)
	}
	dst, _ = amf.AppendAMF0(dst, m.TransactionID) // a float64 always encodes
	if dst, err = amf.AppendAMF0(dst, m.Object); err != nil {
		return dst, fmt.Errorf("message: command %q object: %w", m.Name, err)
	}
	for i, v := range m.Args {
		if dst, err = amf.AppendAMF0(dst, v); err != nil {
			return dst, fmt.Errorf("message: command %q argument %d: %w", m.Name, i, err)
		}
	}
	return dst, nil
}

// Unmarshal decodes a payload with the amf package's default limits,
// keeping AMF3 as set by the caller.
func (m *Command) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *Command) unmarshal(d amf.Decoder, b []byte) error {
	vals, err := decodeValues(d, b, m.AMF3, "command")
	if err != nil {
		return err
	}
	name, ok := vals[0].(string)
	if !ok {
		return fmt.Errorf("%w: command: name is %s, want a string", ErrMalformed, typeName(vals[0]))
	}
	*m = Command{AMF3: m.AMF3, Name: name}
	if len(vals) > 1 {
		txid, ok := amf.Number(vals[1])
		if !ok {
			return fmt.Errorf("%w: command %q: transaction id is %s, want a number", ErrMalformed, name, typeName(vals[1]))
		}
		m.TransactionID = txid
	}
	if len(vals) > 2 {
		m.Object = vals[2]
	}
	if len(vals) > 3 {
		m.Args = vals[3:]
	}
	return nil
}
