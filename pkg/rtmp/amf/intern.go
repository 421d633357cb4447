package amf

import "math"

// commonStrings are the names and values that RTMP commands, status
// objects and metadata carry over and over. Decoders return these shared,
// already boxed strings instead of allocating a copy each time.
var commonStrings = func() map[string]any {
	list := [...]string{
		// Command and data message names.
		"connect", "_result", "_error", "onStatus", "createStream", "releaseStream",
		"FCPublish", "FCUnpublish", "FCSubscribe", "onFCPublish", "onFCUnpublish",
		"publish", "play", "play2", "pause", "seek", "deleteStream", "closeStream",
		"getStreamLength", "receiveAudio", "receiveVideo", "onBWDone", "_checkbw", "call",
		"@setDataFrame", "@clearDataFrame", "onMetaData", "|RtmpSampleAccess",
		"onTextData", "onCuePoint",
		// connect command object and reply.
		"app", "flashVer", "swfUrl", "tcUrl", "fpad", "capabilities", "audioCodecs",
		"videoCodecs", "videoFunction", "pageUrl", "objectEncoding", "type", "nonprivate",
		"fourCcList", "videoFourCcInfoMap", "audioFourCcInfoMap", "capsEx",
		"fmsVer", "mode",
		// Status objects.
		"level", "code", "description", "details", "clientid", "data", "status",
		"warning", "error", "live", "record", "append",
		"NetConnection.Connect.Success", "NetConnection.Connect.Rejected",
		"NetConnection.Connect.Closed", "NetConnection.Connect.Failed",
		"NetStream.Publish.Start", "NetStream.Publish.BadName",
		"NetStream.Unpublish.Success", "NetStream.Play.Start", "NetStream.Play.Reset",
		"NetStream.Play.Stop",
		// onMetaData.
		"duration", "width", "height", "videodatarate", "framerate", "videocodecid",
		"audiodatarate", "audiosamplerate", "audiosamplesize", "stereo", "audiocodecid",
		"encoder", "filesize", "fps", "profile",
	}
	m := make(map[string]any, len(list))
	for _, s := range list {
		m[s] = s
	}
	return m
}()

// smallNumbers holds the boxed float64 values 0..255, the numbers that
// transaction ids, flags and codec ids use most.
var smallNumbers = func() (t [256]any) {
	for i := range t {
		t[i] = float64(i)
	}
	return t
}()

// boxString returns b as a boxed Go string, shared for common strings.
func boxString(b []byte) any {
	if v, ok := commonStrings[string(b)]; ok {
		return v
	}
	return string(b)
}

// internString returns b as a Go string, shared for common strings.
func internString(b []byte) string {
	if v, ok := commonStrings[string(b)]; ok {
		return v.(string)
	}
	return string(b)
}

// boxNumber returns f as a boxed float64, shared for small integers.
func boxNumber(f float64) any {
	if f >= 0 && f < float64(len(smallNumbers)) {
		i := int(f)
		if math.Float64bits(float64(i)) == math.Float64bits(f) {
			return smallNumbers[i]
		}
	}
	return f
}
