package hostapi

import (
	"context"
	"fmt"
)

// Delete asks the host to delete the messages d selects, on the host and
// on every device, and destroy their keys. The host answers once they are
// gone from its store. Sequence numbers with no message are in the
// result's Missing, not an error. A peer that does not resolve is an
// *Error with ErrUnknownRecipient.
func (c *Client) Delete(ctx context.Context, d *Delete) (*DeleteResult, error) {
	resp, err := c.roundTrip(ctx, &Request{Op: OpDelete, Delete: d})
	if err != nil {
		return nil, err
	}
	if resp.Deleted == nil {
		return nil, c.fail(fmt.Errorf("%w: a delete request was not answered with its result", ErrProtocol))
	}
	return resp.Deleted, nil
}

// Import restores exported messages, at most MaxImportItems a call. The
// host answers once they are durably stored. Only the host's unix socket
// serves it; a remote device gets an *Error with ErrForbidden.
func (c *Client) Import(ctx context.Context, items []*Item) (*ImportResult, error) {
	resp, err := c.roundTrip(ctx, &Request{Op: OpImport, Import: &Import{Items: items}})
	if err != nil {
		return nil, err
	}
	if resp.Imported == nil {
		return nil, c.fail(fmt.Errorf("%w: an import request was not answered with its result", ErrProtocol))
	}
	return resp.Imported, nil
}

// Fingerprint returns the transcript fingerprint of the conversation with
// f.Peer.
func (c *Client) Fingerprint(ctx context.Context, f *Fingerprint) (*FingerprintResult, error) {
	resp, err := c.roundTrip(ctx, &Request{Op: OpFingerprint, Fingerprint: f})
	if err != nil {
		return nil, err
	}
	if resp.Fingerprint == nil {
		return nil, c.fail(fmt.Errorf("%w: a fingerprint request was not answered with a fingerprint", ErrProtocol))
	}
	return resp.Fingerprint, nil
}

// Expiry reads a conversation's default expiry or, with e.Set, sets it and
// returns the new one with the one it replaced.
func (c *Client) Expiry(ctx context.Context, e *Expiry) (*ExpiryResult, error) {
	resp, err := c.roundTrip(ctx, &Request{Op: OpExpiry, Expiry: e})
	if err != nil {
		return nil, err
	}
	if resp.Expiry == nil {
		return nil, c.fail(fmt.Errorf("%w: an expiry request was not answered with the expiry", ErrProtocol))
	}
	return resp.Expiry, nil
}
