package flv

import "strconv"

// FourCC is a four-character code as E-RTMP writes it on the wire: the four
// bytes big-endian in one uint32, so FourCC("hvc1") is 0x68766331. The same
// number appears in onMetaData as videocodecid/audiocodecid for E-RTMP
// codecs.
type FourCC uint32

// The FourCCs Enhanced RTMP v2 defines.
const (
	FourCCAVC  FourCC = 'a'<<24 | 'v'<<16 | 'c'<<8 | '1' // "avc1", H.264
	FourCCHEVC FourCC = 'h'<<24 | 'v'<<16 | 'c'<<8 | '1' // "hvc1", H.265
	FourCCVVC  FourCC = 'v'<<24 | 'v'<<16 | 'c'<<8 | '1' // "vvc1", H.266
	FourCCAV1  FourCC = 'a'<<24 | 'v'<<16 | '0'<<8 | '1' // "av01"
	FourCCVP8  FourCC = 'v'<<24 | 'p'<<16 | '0'<<8 | '8' // "vp08"
	FourCCVP9  FourCC = 'v'<<24 | 'p'<<16 | '0'<<8 | '9' // "vp09"

	FourCCAAC  FourCC = 'm'<<24 | 'p'<<16 | '4'<<8 | 'a' // "mp4a"
	FourCCMP3  FourCC = '.'<<24 | 'm'<<16 | 'p'<<8 | '3' // ".mp3"
	FourCCOpus FourCC = 'O'<<24 | 'p'<<16 | 'u'<<8 | 's' // "Opus"
	FourCCFLAC FourCC = 'f'<<24 | 'L'<<16 | 'a'<<8 | 'C' // "fLaC"
	FourCCAC3  FourCC = 'a'<<24 | 'c'<<16 | '-'<<8 | '3' // "ac-3"
	FourCCEAC3 FourCC = 'e'<<24 | 'c'<<16 | '-'<<8 | '3' // "ec-3"
)

// MakeFourCC returns the FourCC of a four-byte string; other lengths give 0.
func MakeFourCC(s string) FourCC {
	if len(s) != 4 {
		return 0
	}
	return FourCC(s[0])<<24 | FourCC(s[1])<<16 | FourCC(s[2])<<8 | FourCC(s[3])
}

// String returns the four characters, or a quoted Go string when some of
// them are not printable ASCII.
func (f FourCC) String() string {
	b := [4]byte{byte(f >> 24), byte(f >> 16), byte(f >> 8), byte(f)}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return strconv.Quote(string(b[:]))
		}
	}
	return string(b[:])
}

// Codec identifies the codec of an audio or video tag, whichever way the tag
// signals it (legacy CodecID/SoundFormat or E-RTMP FourCC). The zero value is
// CodecUnknown.
type Codec uint8

// Video and audio codecs. String returns FFmpeg's codec name for each, the
// name ffprobe reports as codec_name.
const (
	CodecUnknown Codec = iota

	CodecH263           // Sorenson H.263, legacy CodecID 2
	CodecScreen         // Screen video, legacy CodecID 3
	CodecVP6            // On2 VP6, legacy CodecID 4
	CodecVP6Alpha       // On2 VP6 with alpha, legacy CodecID 5
	CodecScreen2        // Screen video v2, legacy CodecID 6
	CodecAVC            // H.264: legacy CodecID 7 or FourCC avc1
	CodecHEVC           // H.265: FourCC hvc1, or the non-standard legacy CodecID 12
	CodecVVC            // H.266: FourCC vvc1
	CodecAV1            // AV1: FourCC av01
	CodecVP8            // VP8: FourCC vp08
	CodecVP9            // VP9: FourCC vp09
	CodecPCM            // linear PCM, platform endian: SoundFormat 0
	CodecADPCM          // Flash ADPCM: SoundFormat 1
	CodecMP3            // MP3: SoundFormat 2 or FourCC .mp3
	CodecPCMLE          // linear PCM, little endian: SoundFormat 3
	CodecNellymoser16k  // Nellymoser 16 kHz mono: SoundFormat 4
	CodecNellymoser8k   // Nellymoser 8 kHz mono: SoundFormat 5
	CodecNellymoser     // Nellymoser: SoundFormat 6
	CodecG711ALaw       // G.711 A-law: SoundFormat 7
	CodecG711MuLaw      // G.711 µ-law: SoundFormat 8
	CodecAAC            // AAC: SoundFormat 10 or FourCC mp4a
	CodecSpeex          // Speex: SoundFormat 11
	CodecMP3At8kHz      // MP3 8 kHz: SoundFormat 14
	CodecDeviceSpecific // device-specific sound: SoundFormat 15
	CodecOpus           // Opus: FourCC Opus
	CodecFLAC           // FLAC: FourCC fLaC
	CodecAC3            // AC-3: FourCC ac-3
	CodecEAC3           // E-AC-3: FourCC ec-3
)

var codecNames = [...]string{
	CodecUnknown:        "unknown",
	CodecH263:           "flv1",
	CodecScreen:         "flashsv",
	CodecVP6:            "vp6f",
	CodecVP6Alpha:       "vp6a",
	CodecScreen2:        "flashsv2",
	CodecAVC:            "h264",
	CodecHEVC:           "hevc",
	CodecVVC:            "vvc",
	CodecAV1:            "av1",
	CodecVP8:            "vp8",
	CodecVP9:            "vp9",
	CodecPCM:            "pcm",
	CodecADPCM:          "adpcm_swf",
	CodecMP3:            "mp3",
	CodecPCMLE:          "pcm_s16le",
	CodecNellymoser16k:  "nellymoser",
	CodecNellymoser8k:   "nellymoser",
	CodecNellymoser:     "nellymoser",
	CodecG711ALaw:       "pcm_alaw",
	CodecG711MuLaw:      "pcm_mulaw",
	CodecAAC:            "aac",
	CodecSpeex:          "speex",
	CodecMP3At8kHz:      "mp3",
	CodecDeviceSpecific: "device-specific",
	CodecOpus:           "opus",
	CodecFLAC:           "flac",
	CodecAC3:            "ac3",
	CodecEAC3:           "eac3",
}

// String returns FFmpeg's name for the codec ("h264", "hevc", "aac", ...).
func (c Codec) String() string {
	if int(c) < len(codecNames) {
		return codecNames[c]
	}
	return "Codec(" + strconv.Itoa(int(c)) + ")"
}

// IsVideo reports whether c is a video codec.
func (c Codec) IsVideo() bool { return c >= CodecH263 && c <= CodecVP9 }

// IsAudio reports whether c is an audio codec.
func (c Codec) IsAudio() bool { return c >= CodecPCM && c <= CodecEAC3 }

// FourCC returns the E-RTMP FourCC of c, or 0 for codecs that only have a
// legacy identifier.
func (c Codec) FourCC() FourCC {
	switch c {
	case CodecAVC:
		return FourCCAVC
	case CodecHEVC:
		return FourCCHEVC
	case CodecVVC:
		return FourCCVVC
	case CodecAV1:
		return FourCCAV1
	case CodecVP8:
		return FourCCVP8
	case CodecVP9:
		return FourCCVP9
	case CodecAAC:
		return FourCCAAC
	case CodecMP3:
		return FourCCMP3
	case CodecOpus:
		return FourCCOpus
	case CodecFLAC:
		return FourCCFLAC
	case CodecAC3:
		return FourCCAC3
	case CodecEAC3:
		return FourCCEAC3
	}
	return 0
}

// videoFourCCCodec maps an E-RTMP video FourCC to its codec.
func videoFourCCCodec(f FourCC) Codec {
	switch f {
	case FourCCAVC:
		return CodecAVC
	case FourCCHEVC:
		return CodecHEVC
	case FourCCVVC:
		return CodecVVC
	case FourCCAV1:
		return CodecAV1
	case FourCCVP8:
		return CodecVP8
	case FourCCVP9:
		return CodecVP9
	}
	return CodecUnknown
}

// audioFourCCCodec maps an E-RTMP audio FourCC to its codec.
func audioFourCCCodec(f FourCC) Codec {
	switch f {
	case FourCCAAC:
		return CodecAAC
	case FourCCMP3:
		return CodecMP3
	case FourCCOpus:
		return CodecOpus
	case FourCCFLAC:
		return CodecFLAC
	case FourCCAC3:
		return CodecAC3
	case FourCCEAC3:
		return CodecEAC3
	}
	return CodecUnknown
}

// legacyVideoCodecs maps the legacy 4-bit CodecID to a codec. 12 is the
// de-facto HEVC extension some CDN encoders send.
var legacyVideoCodecs = [16]Codec{
	2: CodecH263, 3: CodecScreen, 4: CodecVP6, 5: CodecVP6Alpha, 6: CodecScreen2,
	7: CodecAVC, 12: CodecHEVC,
}

// legacyAudioCodecs maps the legacy 4-bit SoundFormat to a codec; 9 is the
// E-RTMP ExHeader and 12, 13 are reserved.
var legacyAudioCodecs = [16]Codec{
	0: CodecPCM, 1: CodecADPCM, 2: CodecMP3, 3: CodecPCMLE, 4: CodecNellymoser16k,
	5: CodecNellymoser8k, 6: CodecNellymoser, 7: CodecG711ALaw, 8: CodecG711MuLaw,
	10: CodecAAC, 11: CodecSpeex, 14: CodecMP3At8kHz, 15: CodecDeviceSpecific,
}

// legacyVideoCodecID returns the legacy CodecID of c, or 0 when c has none.
func legacyVideoCodecID(c Codec) uint8 {
	for id, lc := range legacyVideoCodecs {
		if lc == c && c != CodecUnknown {
			return uint8(id)
		}
	}
	return 0
}

// legacySoundFormat returns the legacy SoundFormat of c and whether it has
// one.
func legacySoundFormat(c Codec) (uint8, bool) {
	for id, lc := range legacyAudioCodecs {
		if lc == c && c != CodecUnknown {
			return uint8(id), true
		}
	}
	return 0, false
}

// VideoCodecFromID maps the videocodecid of onMetaData to a codec: a legacy
// CodecID (7 AVC, 12 HEVC, ...) or, for E-RTMP, a FourCC as a number
// ("av01" is 1635135537). Other values give CodecUnknown.
func VideoCodecFromID(id float64) Codec {
	if id >= 0 && id < 16 && id == float64(int(id)) {
		return legacyVideoCodecs[int(id)]
	}
	if id >= 0 && id <= 0xFFFFFFFF && id == float64(uint32(id)) {
		return videoFourCCCodec(FourCC(id))
	}
	return CodecUnknown
}

// AudioCodecFromID maps the audiocodecid of onMetaData to a codec: a legacy
// SoundFormat (10 AAC, 2 MP3, ...) or, for E-RTMP, a FourCC as a number
// ("Opus" is 1332770163). Other values give CodecUnknown.
func AudioCodecFromID(id float64) Codec {
	if id >= 0 && id < 16 && id == float64(int(id)) {
		return legacyAudioCodecs[int(id)]
	}
	if id >= 0 && id <= 0xFFFFFFFF && id == float64(uint32(id)) {
		return audioFourCCCodec(FourCC(id))
	}
	return CodecUnknown
}

// MetadataID returns the number onMetaData uses for c as videocodecid or
// audiocodecid: the legacy CodecID or SoundFormat where the standard has
// one, else the FourCC (HEVC's non-standard CodecID 12 is not used). It
// returns 0 for CodecUnknown.
func (c Codec) MetadataID() float64 {
	if c == CodecHEVC {
		return float64(FourCCHEVC)
	}
	if c.IsVideo() {
		if id := legacyVideoCodecID(c); id != 0 {
			return float64(id)
		}
	} else if sf, ok := legacySoundFormat(c); ok {
		return float64(sf)
	}
	return float64(c.FourCC())
}
