package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
)

// searchTargets are the search targets upnpd answers: what it is, and
// what finds everything.
var searchTargets = map[string]bool{
	"ssdp:all":        true,
	"upnp:rootdevice": true,
	deviceType:        true,
	serviceType:       true,
}

// answerSearches answers the SSDP searches that come to group from lan,
// from replies, with location, until group is closed.
func answerSearches(group, replies *net.UDPConn, lan netip.Prefix, location string) {
	buf := make([]byte, 2048)
	for {
		n, from, err := group.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || !lan.Contains(from.Addr().Unmap()) {
			continue
		}
		if answer := searchAnswer(buf[:n], location); answer != nil {
			replies.WriteToUDPAddrPort(answer, from)
		}
	}
}

// searchAnswer returns the answer to the SSDP datagram b, nil if it isn't
// a search upnpd answers.
func searchAnswer(b []byte, location string) []byte {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil || req.Method != "M-SEARCH" || req.Header.Get("MAN") != `"ssdp:discover"` {
		return nil
	}
	st := req.Header.Get("ST")
	if !searchTargets[st] {
		return nil
	}
	if st == "ssdp:all" {
		st = serviceType
	}
	return fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nEXT:\r\nLOCATION: %s\r\nSERVER: Linux UPnP/1.1 upnpd/1\r\nST: %s\r\nUSN: %s::%s\r\n\r\n",
		location, st, udn, st)
}
