package hostapitest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"

	"smvs/lib/hostapi"
	"smvs/lib/wire"
)

// The fake host keeps a body over hostapi.StreamThreshold as smvs-hostd
// does, streamed: its Item has a Size and no body, and a device reads it
// with an OpBody request. A streamed submit's body is read whole into
// memory (this is a fake) and kept in Submitted.Submit.Body.

// readStreamed reads the BodyParts of a streamed submit into s.Body. It
// returns nil when they were all read, else the error to answer, after
// which the connection is closed.
func (h *Host) readStreamed(conn net.Conn, s *hostapi.Submit) *hostapi.Response {
	h.mu.Lock()
	limit := int64(math.MaxInt64)
	if h.maxBody > 0 {
		limit = int64(h.maxBody)
	}
	h.mu.Unlock()
	body, err := io.ReadAll(hostapi.NewBodyReader(conn, limit))
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		return &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrTooLarge, Message: "the message is larger than this host's limit"}}
	case err != nil:
		return &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrBadRequest, Message: err.Error()}}
	}
	s.Body = body
	return nil
}

// sendBody answers an OpBody: the BodyInfo, then the body in parts. It
// reports whether the connection goes on.
func (h *Host) sendBody(conn net.Conn, seq uint64) bool {
	h.mu.Lock()
	body, ok := h.bodies[seq]
	h.mu.Unlock()
	if !ok {
		return hostapi.WriteResponse(conn, &hostapi.Response{Err: &hostapi.Error{
			Code: hostapi.ErrNotFound, Message: fmt.Sprintf("message %d has no streamed body", seq)}}) == nil
	}
	if hostapi.WriteResponse(conn, &hostapi.Response{BodyInfo: &hostapi.BodyInfo{Size: int64(len(body))}}) != nil {
		return false
	}
	for r := bytes.NewReader(body); r.Len() > 0; {
		part := make([]byte, min(r.Len(), hostapi.MaxBodyPart))
		r.Read(part)
		if hostapi.WriteBodyPart(conn, part) != nil {
			return false
		}
	}
	return hostapi.WriteBodyPart(conn, nil) == nil
}
