// Package flv reads and writes FLV files and tags and parses the audio and
// video headers RTMP messages carry, in their legacy form and in the
// Enhanced RTMP (E-RTMP v1/v2) form.
//
// # Files and tags
//
// An FLV file is a 13-byte header ([AppendHeader], [ParseHeader]) followed by
// tags, each an 11-byte header, a body and a 4-byte previous tag size.
// [AppendTag] writes exactly those bytes for one tag into a caller buffer
// without allocating, and [ParseTag] reads them back; the media bus uses
// them as its frame payload, so concatenating a file header and payloads
// gives a playable file. [Reader] and [Writer] stream whole files.
//
// # Audio and video headers
//
// [ParseVideoHeader] and [ParseAudioHeader] decode the first bytes of a tag
// body (an RTMP type 9 or 8 payload): legacy FrameType/CodecID with the AVC
// packet type and composition time, legacy SoundFormat with the AAC packet
// type, and the E-RTMP ExHeader with ModEx (TimestampOffsetNano), FourCCs
// (avc1, hvc1, vvc1, av01, vp08, vp09; mp4a, .mp3, Opus, fLaC, ac-3, ec-3),
// packet types including MultichannelConfig, and multitrack messages in all
// three layouts. They return the header by value and iterate over tracks
// with [VideoHeader.Tracks] and [AudioHeader.Tracks], without allocating.
// [AppendVideo] and [AppendAudio] encode headers. [IsKeyframe],
// [IsSequenceHeader] and [TagCodec] answer the questions a server asks of
// every message by looking at a few bytes. [Codec] names a codec however a
// tag signals it; [VideoCodecFromID], [AudioCodecFromID] and
// [Codec.MetadataID] convert the videocodecid/audiocodecid numbers of
// onMetaData (legacy ids, or E-RTMP FourCCs as numbers).
//
// Decoder configuration records are parsed by [ParseAVCDecoderConfig] (and
// the SPS by [ParseAVCSPS]), [ParseHEVCDecoderConfig] ([ParseHEVCSPS]),
// [ParseAV1CodecConfig] ([ParseAV1SequenceHeader]) and
// [ParseAudioSpecificConfig]; [ParseVideoConfig] summarises any of the video
// ones as picture size, profile and level. All bit-level parsing is bounds
// checked and tolerates hostile input.
//
// # Building tags from encoder output
//
// [AVCTagBuilder], [HEVCTagBuilder] and [AV1TagBuilder] turn encoder output
// (H.264/H.265 Annex-B access units, AV1 low-overhead temporal units) into
// tag bodies: legacy AVC, E-RTMP hvc1 and av01, with sequence headers built
// from the parameter sets. [NextNALU], [NextAVCAccessUnit],
// [NextHEVCAccessUnit] and [NextAV1TemporalUnit] split the encoder streams.
//
// # Buffer ownership
//
// Parsed values alias the bytes they were parsed from: Tag.Body, track Data,
// NAL units of configuration records, OBU payloads. They stay valid as long
// as the caller keeps those bytes unchanged. A Tag read by [Reader.ReadTag]
// aliases the Reader's buffer until the next ReadTag ([Tag.Clone] copies).
// Append functions write into the caller's dst and keep no reference to it.
// Builders return slices of their own buffers, valid until their next Build.
//
// # Concurrency
//
// Package functions keep no state and are safe for concurrent use. A
// [Reader], [Writer] or tag builder must be used by one goroutine at a time.
//
// # Errors
//
// Truncated input gives errors wrapping [io.ErrUnexpectedEOF]; an unknown
// FourCC, reserved CodecID or SoundFormat gives an error wrapping
// [ErrUnknownCodec]. Other malformed input gives descriptive errors
// prefixed "flv:". Nothing panics on any input.
package flv
