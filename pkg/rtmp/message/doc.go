// Package message turns RTMP chunk-layer messages ([chunk.Message]) into
// typed messages and back: protocol control (Set Chunk Size, Abort,
// Acknowledgement, Window Acknowledgement Size, Set Peer Bandwidth), user
// control events, audio and video, data and command messages in AMF0 and
// AMF3 form, shared object messages (decoded for safe logging only) and
// aggregates. It also holds the small pieces of control logic a connection
// needs and that can be tested without one: when to acknowledge
// ([AckTracker]), how to apply Set Peer Bandwidth ([PeerBandwidth]), the
// answer to a ping ([PingResponse]), and the command shapes peers expect
// ([OnStatus], [Result], [ErrorResult], [CreateStreamResult], status
// codes).
//
// # Types
//
//	type  message                        Go type
//	1     Set Chunk Size                 *SetChunkSize
//	2     Abort                          *Abort
//	3     Acknowledgement                *Acknowledgement
//	4     User Control                   *UserControl
//	5     Window Acknowledgement Size    *WindowAckSize
//	6     Set Peer Bandwidth             *SetPeerBandwidth
//	8, 9  audio, video                   *Audio, *Video
//	15,18 data (AMF3, AMF0)              *Data
//	16,19 shared object (AMF3, AMF0)     *SharedObject
//	17,20 command (AMF3, AMF0)           *Command
//	22    aggregate                      *Aggregate, split with SplitAggregate
//	other                                *Unknown (never an error)
//
// [Message] is a closed interface implemented by these pointer types.
// [Decode] and [Decoder.Decode] map a chunk message to one of them; each
// type also has Unmarshal(payload) and AppendPayload(dst), and [ToChunk]
// builds the chunk message to send with the conventional chunk stream id
// ([CSIDFor]):
//
//	csid  use
//	2     protocol control and user control (types 1-6)
//	3     commands, data, shared objects on message stream 0
//	5     commands and data on a media message stream (onStatus, metadata)
//	6     audio
//	7     video and aggregates
//
// # Buffer ownership and allocation
//
// Decoding never copies payload bytes: Audio, Video, Aggregate and
// Unknown payloads, UserControl.Raw and shared object event data alias the
// chunk message's payload, which the chunk reader reuses on its next read.
// Decoded AMF values (command and data fields) are independent of it.
//
// The package function [Decode] allocates the typed value it returns. A
// connection should keep one [Decoder], whose Decode returns its own
// storage for every type but Command, Data and SharedObject (valid until
// the next call), so that media and control messages take no allocation.
// An even shorter path for media is to switch on chunk.Message.Type before
// decoding and hand m.Payload on directly for types 8 and 9.
//
// AppendPayload appends to the caller's buffer and never keeps it.
//
// # Concurrency
//
// Package functions are safe for concurrent use. A Decoder, an AckTracker
// and a PeerBandwidth are not; each belongs to one connection. Message
// values are plain data.
//
// # Errors
//
// Decoding a payload that does not fit its type (too short, bad lengths,
// undecodable AMF, a command whose first value is not a string) returns an
// error wrapping [ErrMalformed], naming the message and the sizes; a
// connection may skip such messages instead of closing. AppendPayload fails
// only for values the wire format cannot carry (a Set Chunk Size of 0 or
// with bit 31 set, AMF values the amf package cannot encode).
package message
