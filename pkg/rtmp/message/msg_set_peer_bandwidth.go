package message

import (
	"encoding/binary"
	"strconv"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// LimitType is the limit type of a [SetPeerBandwidth] message.
type LimitType uint8

// Limit types (RTMP 1.0 section 5.4.5). nginx-rtmp's source swaps the names
// of 0 and 1 but only ever sends 2; these are the specification's values.
const (
	// LimitHard: limit the output window to the message's window.
	LimitHard LimitType = 0
	// LimitSoft: limit to the message's window or the limit in effect,
	// whichever is smaller.
	LimitSoft LimitType = 1
	// LimitDynamic: treat as Hard if the previous limit was Hard, else
	// ignore the message.
	LimitDynamic LimitType = 2
)

// String returns "hard", "soft", "dynamic" or the number.
func (l LimitType) String() string {
	switch l {
	case LimitHard:
		return "hard"
	case LimitSoft:
		return "soft"
	case LimitDynamic:
		return "dynamic"
	default:
		return "limit(" + strconv.Itoa(int(l)) + ")"
	}
}

// SetPeerBandwidth (type 6, "Client BW" in Adobe-lineage code) limits the
// receiver's unacknowledged output. [PeerBandwidth] applies the rules.
//
//	payload: window size u32 · limit type u8
type SetPeerBandwidth struct {
	// Window is the window size in bytes.
	Window uint32
	// Limit is the limit type; values above 2 are carried as received.
	Limit LimitType
}

// Type returns [TypeSetPeerBandwidth].
func (*SetPeerBandwidth) Type() uint8 { return TypeSetPeerBandwidth }

// AppendPayload appends the 5-byte payload to dst.
func (m *SetPeerBandwidth) AppendPayload(dst []byte) ([]byte, error) {
	return append(binary.BigEndian.AppendUint32(dst, m.Window), byte(m.Limit)), nil
}

// Unmarshal decodes a payload; bytes after the first five are ignored.
func (m *SetPeerBandwidth) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *SetPeerBandwidth) unmarshal(_ amf.Decoder, b []byte) error {
	if err := need(b, 5, "set peer bandwidth"); err != nil {
		return err
	}
	m.Window = binary.BigEndian.Uint32(b)
	m.Limit = LimitType(b[4])
	return nil
}
