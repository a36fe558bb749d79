package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/cli/hostcli"
	"smvs/lib/contacts"
	"smvs/lib/hostapi"
	"smvs/lib/wire"
)

func parseFingerprint(c *urfave.Context, book *contacts.File) (*options, error) {
	for _, name := range []string{"follow", "export", "since", "from", "cursor", "unread", "mark-read"} {
		if c.IsSet(name) {
			return nil, cli.UsageErrorf(c, "--fingerprint prints one conversation's fingerprint: it can't be used with --%s", name)
		}
	}
	peer, err := resolveFrom(c.String("fingerprint"), book)
	if err != nil {
		return nil, cli.UsageErrorf(c, "invalid --fingerprint: %w", err)
	}
	o := &options{fingerprint: peer, json: c.Bool("json")} // until 0: now, as the host has it
	if s := c.String("until"); s != "" {
		until, err := cli.ParseWhen(s, time.Now())
		if err != nil || until.UnixMilli() <= 0 {
			return nil, cli.UsageErrorf(c, "invalid --until %q: want a time (2006-01-02 15:04:05, or RFC 3339) or a duration ago (such as 1h)", s)
		}
		o.until = until.UnixMilli()
	}
	return o, nil
}

// fingerprint prints the fingerprint of a conversation, and how the peer
// gets theirs to compare.
func fingerprint(ctx context.Context, c *urfave.Context, o *options) error {
	client, err := hostcli.Dial(ctx, c)
	if err != nil {
		return recvError(err)
	}
	defer client.Close()
	res, err := client.Fingerprint(ctx, &hostapi.Fingerprint{Peer: o.fingerprint, Until: o.until})
	if err != nil {
		return recvError(err)
	}
	f := &formatter{contacts: loadContacts(c)}
	p := f.peerOf(res.Peer, res.PeerName, res.ClaimedName)
	digits := wire.FingerprintDigits(res.Hash)
	if o.json {
		err = writeJSON(c.App.Writer, fingerprintJSON{
			Peer: p.ID(), PeerName: p.Name, ClaimedName: p.Claimed, Messages: res.Messages, Until: jsonTime(res.Until),
			Fingerprint: hex.EncodeToString(res.Hash), Digits: digits,
		})
	} else {
		_, err = fmt.Fprintf(c.App.Writer, "conversation with %s: %s up to %s\n%s\n", p.Label(), messagesCount(res.Messages),
			time.UnixMilli(res.Until).Local().Format(localTime), digits)
	}
	if err != nil {
		return cli.Errorf("writing to standard output: %w", err)
	}
	if !o.json {
		until := time.UnixMilli(res.Until).UTC().Format(time.RFC3339)
		if res.Until%1000 != 0 {
			until = jsonTime(res.Until)
		}
		cli.Hintf(c, "%s's smvs-recv --fingerprint YOU --until %s prints the same digits if you both hold the same messages: "+
			"compare them over a channel you trust (in person, or a call)", p.Label(), until)
	}
	return nil
}

// messagesCount says "1 message" or "12 messages".
func messagesCount(n int) string {
	if n == 1 {
		return "1 message"
	}
	return fmt.Sprintf("%d messages", n)
}

// fingerprintJSON is what --fingerprint --json prints.
type fingerprintJSON struct {
	Peer        string `json:"peer"`
	PeerName    string `json:"peer_name,omitempty"`
	ClaimedName string `json:"claimed_name,omitempty"`
	Messages    int    `json:"messages"`
	Until       string `json:"until"`
	Fingerprint string `json:"fingerprint"`
	Digits      string `json:"digits"`
}
