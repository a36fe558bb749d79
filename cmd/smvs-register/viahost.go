package main

import (
	"context"
	"errors"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/dirclient"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

// A running smvs-hostd owns the identity: publish, update and rotate --kem
// ask it to make the change (hostapi.OpPublish), and the changes it can't
// make beside itself are refused.

// throughHost asks the running host, if one answers on its socket, to
// make and publish the record p asks for, and reports it as this command
// would have. It reports false, and does nothing, if no host answers.
func throughHost(c *urfave.Context, p *hostapi.Publish) (bool, error) {
	client, err := runningHost(c)
	if err != nil || client == nil {
		return err != nil, err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(c.Context, hostPublishTimeout)
	defer cancel()
	res, err := client.Publish(ctx, p)
	if err != nil {
		return true, hostPublishError(err)
	}
	return true, reportHostPublish(c, p, res)
}

// hostPublishTimeout bounds the wait for the host's answer: the host
// bounds its own publishing to all its directories by half of it. A
// variable, so that tests can wait less.
var hostPublishTimeout = time.Minute

// hostLifetime is --lifetime for the host: 0, the host's own default,
// unless it was given.
func hostLifetime(c *urfave.Context, lifetime time.Duration) int64 {
	if !c.IsSet("lifetime") {
		return 0
	}
	return lifetime.Milliseconds()
}

// reportHostPublish tells what the host did for p, in the words the
// change made here would have used, and returns the error summarize
// makes of the directories that refused the record.
func reportHostPublish(c *urfave.Context, p *hostapi.Publish, res *hostapi.PublishResult) error {
	r, err := wire.VerifyRecord(res.Record)
	if err != nil {
		return cli.Errorf("the record the host made: %w", err)
	}
	key, err := identity.NewPublicKey(identity.KindIdentity, r.Identity)
	if err != nil {
		return cli.Errorf("the record the host made: %w", err)
	}
	if res.KEMRotated {
		sayKEM(c, r.KEM, time.Now())
	}
	if res.Pruned > 0 {
		say(c, "destroyed %d expired KEM keys", res.Pruned)
	}
	for _, d := range res.Published {
		say(c, "published %q (%s) to %s, valid until %s", r.Name, key, d, formatTime(r.Expires))
	}
	n := len(res.Published) + len(res.Failed)
	if n == 0 {
		return unpublished(c, p, r)
	}
	failed := make([]error, len(res.Failed))
	for i, f := range res.Failed {
		failed[i] = errors.New(f)
		if res.Conflict(i) {
			failed[i] = hostConflict{f}
		}
	}
	err = summarize(c, "published to", n, failed)
	var e *cli.Error
	if errors.As(err, &e) {
		if res.KEMRotated {
			e.WithHintf("the new KEM key is saved")
		}
		e.WithHintf("smvs-hostd publishes the record there again later; or run: smvs-register update")
	}
	return err
}

// hostConflict is a directory's refusal, for a conflict, of the record the
// host published: it exits as dirclient.ErrConflict does.
type hostConflict struct{ msg string }

func (e hostConflict) Error() string        { return e.msg }
func (e hostConflict) Is(target error) bool { return target == dirclient.ErrConflict }

// unpublished is the outcome of a record the host made, r, but published
// nowhere: it has no directory, or no name to publish under. Others who
// have the record still find a new KEM key at the host, so for rotate
// --kem that is only a warning.
func unpublished(c *urfave.Context, p *hostapi.Publish, r *wire.Record) error {
	e := cli.Errorf("smvs-hostd made the record but has no directory to publish it in").
		WithHintf("start smvs-hostd with --dir URL (or %s) to publish it there", cli.DirEnv)
	if r.Name == "" {
		e = cli.Errorf("smvs-hostd made the record but has no name to publish it under").
			WithHintf("give one with: smvs-register publish NAME")
	}
	if !p.RotateKEM {
		return e
	}
	cli.Warningf(c, "%v", e)
	cli.Hintf(c, "others who have your record find the new KEM key at your host")
	return nil
}

// hostPublishError explains the host's refusal of a publish request.
func hostPublishError(err error) error {
	var refused *hostapi.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return cli.Errorf("asking the running host to publish: %w", err).
			WithHintf("smvs-hostd did not answer in %s; its log may say why", hostPublishTimeout)
	case !errors.As(err, &refused):
		return cli.Errorf("asking the running host to publish: %w", err)
	}
	e := cli.Errorf("smvs-hostd refused to publish: %w", err)
	switch refused.Code {
	case hostapi.ErrBadRequest:
		e.WithHintf("is smvs-hostd older than smvs-register? start it again from the same release")
	case hostapi.ErrUnavailable:
		e.WithHintf("the host is busy or shutting down; try again in a moment")
	}
	return e
}

// refuseBesideHost refuses a change a running host can't make: rotate
// --identity and remove. A host runs if its socket answers, or if
// smvs-hostd holds the identity file's lock (see inUseError).
func refuseBesideHost(c *urfave.Context, what change) error {
	client, err := runningHost(c)
	if err != nil {
		return err
	}
	if client == nil {
		return nil
	}
	client.Close()
	return hostRefusal(what, lockHolder(c))
}

// lockHolder returns the process that holds the identity file's lock, or
// 0 if none does or it can't be told.
func lockHolder(c *urfave.Context) int {
	path, err := cli.IdentityPath(c)
	if err != nil {
		return 0
	}
	unlock, err := identity.Lock(path)
	var inUse *identity.InUseError
	if errors.As(err, &inUse) {
		return inUse.PID
	}
	if err == nil {
		unlock()
	}
	return 0
}
