package flv

import (
	"fmt"
	"io"
)

// AudioSpecificConfig holds the fields of an MPEG-4 AudioSpecificConfig
// (ISO/IEC 14496-3 1.6.2.1), the body of an AAC sequence header, that
// describe the stream.
type AudioSpecificConfig struct {
	// ObjectType is the audio object type: 1 main, 2 LC, 5 SBR (HE-AAC),
	// 29 PS (HE-AAC v2), ...
	ObjectType uint8
	// SampleRate is the sampling frequency in Hz (of the core coder for
	// HE-AAC, see ExtensionSampleRate).
	SampleRate int
	// ChannelConfig is channelConfiguration: 1..6 are 1..6 channels, 7 is
	// 8 channels, 0 means the layout is in a program config element.
	ChannelConfig uint8
	// Channels is the channel count derived from ChannelConfig (0 when it
	// is 0 or above 7).
	Channels int
	// SBR reports explicit hierarchical SBR signalling (object type 5 or
	// 29); ExtensionSampleRate is then the output sampling frequency.
	SBR                 bool
	ExtensionSampleRate int // output sampling frequency with SBR, in Hz
	// ExtensionObjectType is the underlying object type with SBR.
	ExtensionObjectType uint8
}

var aacSampleRates = [13]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

var aacChannels = [8]int{0, 1, 2, 3, 4, 5, 6, 8}

// ParseAudioSpecificConfig parses the start of an AudioSpecificConfig:
// object type, sampling frequency, channel configuration and explicit SBR
// signalling. Codec-specific configuration after that is not read.
func ParseAudioSpecificConfig(b []byte) (AudioSpecificConfig, error) {
	var c AudioSpecificConfig
	r := bitReader{b: b}
	c.ObjectType = aacObjectType(&r)
	c.SampleRate = aacSampleRate(&r)
	c.ChannelConfig = uint8(r.u(4))
	if c.ObjectType == 5 || c.ObjectType == 29 {
		c.SBR = true
		c.ExtensionSampleRate = aacSampleRate(&r)
		c.ExtensionObjectType = aacObjectType(&r)
		if c.ExtensionObjectType == 22 {
			r.u(4) // extensionChannelConfiguration
		}
	}
	if !r.ok() {
		return AudioSpecificConfig{}, fmt.Errorf("flv: AAC AudioSpecificConfig: %w", io.ErrUnexpectedEOF)
	}
	if c.ObjectType == 0 || c.SampleRate == 0 || (c.SBR && c.ExtensionSampleRate == 0) {
		return AudioSpecificConfig{}, fmt.Errorf("%w: AAC object type %d, sampling frequency %d", errMalformed, c.ObjectType, c.SampleRate)
	}
	if int(c.ChannelConfig) < len(aacChannels) {
		c.Channels = aacChannels[c.ChannelConfig]
	}
	return c, nil
}

func aacObjectType(r *bitReader) uint8 {
	t := r.u(5)
	if t == 31 {
		t = 32 + r.u(6)
	}
	return uint8(t)
}

// aacSampleRate reads samplingFrequencyIndex (and the 24-bit explicit
// frequency for index 15); reserved indexes give 0.
func aacSampleRate(r *bitReader) int {
	i := r.u(4)
	if i == 15 {
		return int(r.u(24))
	}
	if int(i) < len(aacSampleRates) {
		return aacSampleRates[i]
	}
	return 0
}
