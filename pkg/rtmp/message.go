package rtmp

import (
	"net/url"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// Kind says what a [Message] read from a connection carries.
type Kind uint8

// Message kinds. Server connections return KindAudio, KindVideo, KindData,
// KindPublish, KindPlay, KindUnpublish, KindCloseStream, KindPause and
// KindCommand; client connections return KindAudio, KindVideo, KindData,
// KindStatus and the KindStream* events.
const (
	// KindAudio is an audio message; Payload is an FLV audio tag body.
	KindAudio Kind = iota + 1
	// KindVideo is a video message; Payload is an FLV video tag body.
	KindVideo
	// KindData is a data message (type 18 or 15). Data holds the decoded
	// name and values; "@setDataFrame" is removed, so metadata arrives as
	// Name "onMetaData". For type 18, Payload holds the AMF0 bytes from
	// the name on (without "@setDataFrame"): exactly an FLV script tag
	// body.
	KindData
	// KindPublish is a publish request (server); Publish holds it. Answer
	// with ServerConn.AcceptPublish or ServerConn.RejectPublish.
	KindPublish
	// KindPlay is a play request (server); Play holds it. Answer with
	// ServerConn.AcceptPlay or ServerConn.RejectPlay.
	KindPlay
	// KindUnpublish reports that the client ended the publish on StreamID
	// (FCUnpublish, closeStream or deleteStream); the conn has already
	// answered it. Command holds the command that ended it.
	KindUnpublish
	// KindCloseStream reports that the client closed or deleted message
	// stream StreamID, which was not publishing (a player leaving).
	// Command holds the command.
	KindCloseStream
	// KindPause reports a pause (Paused true) or unpause (Paused false)
	// of the play on StreamID; the conn has already answered it.
	// Timestamp is the position the client sent, in milliseconds.
	KindPause
	// KindCommand is a command the conn answered itself or that needs no
	// answer and that the application may want to see (receiveAudio,
	// receiveVideo, seek, unknown calls); Command holds it.
	KindCommand
	// KindStatus is an onStatus message (client); Status holds it.
	KindStatus
	// KindStreamBegin is a StreamBegin user control event for StreamID
	// (client).
	KindStreamBegin
	// KindStreamEOF is a StreamEOF user control event for StreamID
	// (client).
	KindStreamEOF
	// KindStreamDry is a StreamDry user control event for StreamID
	// (client).
	KindStreamDry
)

var kindNames = [...]string{
	KindAudio: "audio", KindVideo: "video", KindData: "data", KindPublish: "publish",
	KindPlay: "play", KindUnpublish: "unpublish", KindCloseStream: "closeStream",
	KindPause: "pause", KindCommand: "command", KindStatus: "status",
	KindStreamBegin: "streamBegin", KindStreamEOF: "streamEOF", KindStreamDry: "streamDry",
}

// String returns the kind's name.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + itoa(uint64(k)) + ")"
}

// Message is one thing read from a connection: media, data, a request or an
// event. Which fields are set depends on Kind.
//
// A Message returned by ReadMessage belongs to the connection and is
// overwritten by the next ReadMessage call; Payload aliases the
// connection's read buffer until then. Copy what must live longer
// (Message.Clone copies Payload).
type Message struct {
	// Kind says what the message carries.
	Kind Kind
	// StreamID is the message stream id the message arrived on.
	StreamID uint32
	// Timestamp is the message timestamp in milliseconds.
	Timestamp uint32
	// Payload is the body of audio, video and (AMF0) data messages.
	Payload []byte
	// Data is the decoded data message (KindData).
	Data *message.Data
	// Command is the command behind KindUnpublish, KindCloseStream,
	// KindPause and KindCommand.
	Command *message.Command
	// Publish is the request of KindPublish.
	Publish *PublishRequest
	// Play is the request of KindPlay.
	Play *PlayRequest
	// Status is the onStatus information of KindStatus.
	Status *Status
	// Paused is true for a pause and false for an unpause (KindPause).
	Paused bool
}

// Clone returns a copy of m whose Payload does not alias the connection's
// memory. Decoded values (Data, Command, requests) are shared: they are
// never overwritten by the connection.
func (m *Message) Clone() *Message {
	c := *m
	if m.Payload != nil {
		c.Payload = append([]byte(nil), m.Payload...)
	}
	return &c
}

// PublishRequest is a client's publish command.
type PublishRequest struct {
	// StreamID is the message stream the publish arrived on (the id
	// createStream returned); media for it arrives on this stream.
	StreamID uint32
	// TransactionID is the command's transaction id.
	TransactionID float64
	// Name is the stream name without its query ("?key=...").
	Name string
	// Query holds the parameters of the query part of the name.
	Query url.Values
	// RawName is the stream name as sent, with its query.
	RawName string
	// Type is the publishing type ("live", "record", "append"), or ""
	// when the client sent none.
	Type string
	// Args are the command's arguments after the command object, as
	// received.
	Args []any
}

// PlayRequest is a client's play command.
type PlayRequest struct {
	// StreamID is the message stream the play arrived on; media for the
	// player is written to this stream.
	StreamID uint32
	// TransactionID is the command's transaction id.
	TransactionID float64
	// Name is the stream name without its query.
	Name string
	// Query holds the parameters of the query part of the name.
	Query url.Values
	// RawName is the stream name as sent, with its query.
	RawName string
	// Start is the start argument in seconds: -2 (live, or recorded if no
	// live stream; the default), -1 (live only) or a position.
	Start float64
	// Duration is the duration argument in seconds; -1 (the default) means
	// until the end.
	Duration float64
	// Reset is the reset argument (default true).
	Reset bool
	// Args are the command's arguments after the command object, as
	// received.
	Args []any
}

// Enhanced RTMP capability bits (connect properties; PROTOCOL.md section
// 8.4).
const (
	// FourCCCanDecode marks a codec the peer can decode
	// (videoFourCcInfoMap, audioFourCcInfoMap).
	FourCCCanDecode uint32 = 0x01
	// FourCCCanEncode marks a codec the peer can encode.
	FourCCCanEncode uint32 = 0x02
	// FourCCCanForward marks a codec the peer can forward without
	// decoding.
	FourCCCanForward uint32 = 0x04

	// CapsExReconnect (capsEx) says the peer supports
	// NetConnection.Connect.ReconnectRequest.
	CapsExReconnect uint32 = 0x01
	// CapsExMultitrack says the peer supports multitrack audio and video.
	CapsExMultitrack uint32 = 0x02
	// CapsExModEx says the peer can parse ModEx packets.
	CapsExModEx uint32 = 0x04
	// CapsExTimestampNanoOffset says the peer supports the nanosecond
	// timestamp offset.
	CapsExTimestampNanoOffset uint32 = 0x08
)

// ConnectRequest is a client's connect command as a server conn reads it.
type ConnectRequest struct {
	// TransactionID is the command's transaction id (1 by convention).
	TransactionID float64
	// App is the application name from the command object, without a
	// query and without a trailing slash (it may contain an instance,
	// "live/inst").
	App string
	// TCURL is the tcUrl property as sent, e.g.
	// "rtmp://host/live?token=x".
	TCURL string
	// Query holds the query parameters of tcUrl and app (app's win).
	Query url.Values
	// FlashVer is the flashVer property ("FMLE/3.0 (compatible; ...)").
	FlashVer string
	// SwfURL is the swfUrl property.
	SwfURL string
	// PageURL is the pageUrl property.
	PageURL string
	// Type is the type property ("nonprivate"), or "".
	Type string
	// ObjectEncoding is 0 (AMF0) or 3 (AMF3).
	ObjectEncoding float64
	// FourCCList is the Enhanced RTMP fourCcList: the codecs the client
	// supports, "*" for any.
	FourCCList []string
	// VideoFourCCInfoMap is the Enhanced RTMP videoFourCcInfoMap: FourCC
	// (or "*") to a mask of FourCCCanDecode, FourCCCanEncode and
	// FourCCCanForward.
	VideoFourCCInfoMap map[string]uint32
	// AudioFourCCInfoMap is the Enhanced RTMP audioFourCcInfoMap.
	AudioFourCCInfoMap map[string]uint32
	// CapsEx is the Enhanced RTMP capsEx mask (CapsEx* constants).
	CapsEx uint32
	// Enhanced reports whether the client sent any Enhanced RTMP property.
	Enhanced bool
	// Object is the command object's properties as received.
	Object amf.Object
	// Args are the values after the command object, as received.
	Args []any
}

// itoa formats n without fmt (used on allocation-sensitive paths).
func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}
