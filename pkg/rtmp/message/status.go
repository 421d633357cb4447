package message

import "github.com/tributary-media/tributary/pkg/rtmp/amf"

// Command names (PROTOCOL.md section 7.1).
const (
	CommandConnect         = "connect"
	CommandCall            = "call"
	CommandClose           = "close"
	CommandCreateStream    = "createStream"
	CommandDeleteStream    = "deleteStream"
	CommandCloseStream     = "closeStream"
	CommandReleaseStream   = "releaseStream"
	CommandFCPublish       = "FCPublish"
	CommandFCUnpublish     = "FCUnpublish"
	CommandFCSubscribe     = "FCSubscribe"
	CommandPublish         = "publish"
	CommandPlay            = "play"
	CommandPlay2           = "play2"
	CommandPause           = "pause"
	CommandSeek            = "seek"
	CommandReceiveAudio    = "receiveAudio"
	CommandReceiveVideo    = "receiveVideo"
	CommandGetStreamLength = "getStreamLength"
	CommandCheckBW         = "_checkbw"
	CommandResult          = "_result"
	CommandError           = "_error"
	CommandOnStatus        = "onStatus"
	CommandOnBWDone        = "onBWDone"
	CommandOnFCPublish     = "onFCPublish"
	CommandOnFCUnpublish   = "onFCUnpublish"
)

// Data message names (PROTOCOL.md section 7.4).
const (
	DataSetDataFrame     = "@setDataFrame"
	DataOnMetaData       = "onMetaData"
	DataRtmpSampleAccess = "|RtmpSampleAccess"
)

// Status levels of an onStatus, _result or _error information object.
const (
	LevelStatus  = "status"
	LevelWarning = "warning"
	LevelError   = "error"
)

// Status codes (PROTOCOL.md section 7.5).
const (
	CodeConnectSuccess          = "NetConnection.Connect.Success"
	CodeConnectFailed           = "NetConnection.Connect.Failed"
	CodeConnectClosed           = "NetConnection.Connect.Closed"
	CodeConnectRejected         = "NetConnection.Connect.Rejected"
	CodeConnectReconnectRequest = "NetConnection.Connect.ReconnectRequest" // Enhanced RTMP v2
	CodePublishStart            = "NetStream.Publish.Start"
	CodePublishBadName          = "NetStream.Publish.BadName"
	CodePublishFailed           = "NetStream.Publish.Failed"
	CodeUnpublishSuccess        = "NetStream.Unpublish.Success"
	CodePlayStart               = "NetStream.Play.Start"
	CodePlayReset               = "NetStream.Play.Reset"
	CodePlayStop                = "NetStream.Play.Stop"
	CodePlayStreamNotFound      = "NetStream.Play.StreamNotFound"
	CodePlayFailed              = "NetStream.Play.Failed"
	CodePlayComplete            = "NetStream.Play.Complete"
	CodePlayPublishNotify       = "NetStream.Play.PublishNotify"
	CodePlayUnpublishNotify     = "NetStream.Play.UnpublishNotify"
	CodePauseNotify             = "NetStream.Pause.Notify"
	CodeUnpauseNotify           = "NetStream.Unpause.Notify"
	CodeSeekNotify              = "NetStream.Seek.Notify"
	CodeDataStart               = "NetStream.Data.Start"
)

// StatusInfo returns an information object {level, code, description}
// followed by extra properties, as onStatus, _result and _error carry it.
// All three fields are strings, which is what FFmpeg's parser reads.
func StatusInfo(level, code, description string, extra ...amf.Property) amf.Object {
	info := make(amf.Object, 0, 3+len(extra))
	info = append(info,
		amf.Property{Key: "level", Value: level},
		amf.Property{Key: "code", Value: code},
		amf.Property{Key: "description", Value: description},
	)
	return append(info, extra...)
}

// OnStatus returns the command
//
//	"onStatus", 0, null, {level, code, description, extra...}
//
// the shape FFmpeg and librtmp expect (the command object must be null, not
// undefined). Send it on the message stream it is about.
func OnStatus(level, code, description string, extra ...amf.Property) *Command {
	return &Command{
		Name:   CommandOnStatus,
		Object: nil,
		Args:   []any{StatusInfo(level, code, description, extra...)},
	}
}

// Result returns the reply "_result", txid, object, args... to the command
// with transaction id txid. For connect, object holds the server properties
// (fmsVer, capabilities, mode) and args one [StatusInfo]; most other
// replies use a nil object.
func Result(txid float64, object any, args ...any) *Command {
	return &Command{Name: CommandResult, TransactionID: txid, Object: object, Args: nilIfEmpty(args)}
}

// ErrorResult returns the reply "_error", txid, object, args... to the
// command with transaction id txid; args is normally one [StatusInfo] with
// level "error".
func ErrorResult(txid float64, object any, args ...any) *Command {
	return &Command{Name: CommandError, TransactionID: txid, Object: object, Args: nilIfEmpty(args)}
}

// CreateStreamResult returns the reply to createStream:
//
//	"_result", txid, null, streamID (number)
//
// exactly the shape FFmpeg requires.
func CreateStreamResult(txid float64, streamID uint32) *Command {
	return Result(txid, nil, float64(streamID))
}

func nilIfEmpty(args []any) []any {
	if len(args) == 0 {
		return nil
	}
	return args
}
