package portmap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/huin/goupnp/ssdp"
)

// ssdpMaxAnswer bounds an SSDP answer, a datagram of a few headers.
const ssdpMaxAnswer = 2048

// ssdpRawSearch sends the SSDP search for service type st by c, twice
// for a network that loses one, with an MX of 1 s, and returns what
// answered: at most one answer, the gateway's.
func ssdpRawSearch(ctx context.Context, c *ssdpClient, st string) ([]*http.Response, error) {
	return ssdp.SSDPRawSearchCtx(ctx, c, st, 1, 2)
}

// ssdpClient sends an SSDP search to an address (the multicast group, or
// in tests a unicast one) and takes the first answer that comes from
// the gateway: answers from other addresses are dropped unread, so that
// another device on the network can neither claim to be the gateway nor
// make the search hold a flood of answers. It is goupnp's ssdp.HTTPUClient.
type ssdpClient struct {
	conn *net.UDPConn
	to   netip.AddrPort
	from netip.Addr // the gateway
}

// Do sends req numSends times and waits for the gateway's answer until
// req's context ends; timeout is not used, the context bounds the wait.
// No answer is no error: the answers are then none.
func (c *ssdpClient) Do(req *http.Request, _ time.Duration, numSends int) ([]*http.Response, error) {
	ctx := req.Context()
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "%s %s HTTP/1.1\r\n", req.Method, req.URL.RequestURI())
	req.Header.Write(&msg)
	msg.WriteString("\r\n")

	stop := context.AfterFunc(ctx, func() { c.conn.SetReadDeadline(time.Now()) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		c.conn.SetReadDeadline(d)
	}
	if ctx.Err() != nil {
		return nil, nil
	}
	for range numSends {
		if _, err := c.conn.WriteToUDPAddrPort(msg.Bytes(), c.to); err != nil {
			return nil, fmt.Errorf("sending an SSDP search to %s: %w", c.to, err)
		}
	}
	// goupnp keys the request's headers as SSDP spells them, not as Go
	// would: Get doesn't find them.
	//lint:ignore SA1008 the key is goupnp's, not canonical on purpose
	st := strings.Join(req.Header["ST"], "")
	buf := make([]byte, ssdpMaxAnswer)
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading SSDP answers: %w", err)
		}
		if from.Addr().Unmap() != c.from {
			continue
		}
		if resp, ok := ssdpAnswer(buf[:n], req, st); ok {
			return []*http.Response{resp}, nil
		}
	}
}

// ssdpAnswer reads b as an answer to the search req for service type st:
// a 200 with that ST and a LOCATION.
func ssdpAnswer(b []byte, req *http.Request, st string) (*http.Response, bool) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), req)
	if err != nil {
		return nil, false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ST") != st {
		return nil, false
	}
	if _, err := resp.Location(); err != nil {
		return nil, false
	}
	return resp, true
}
