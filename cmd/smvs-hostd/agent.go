package main

import (
	"log/slog"

	"smvs/lib/cli"
	"smvs/lib/identity"
)

// agentKeys connects to the smvs-agent on sock.
func agentKeys(sock string, _ *slog.Logger) (identity.Keys, func(), error) {
	return nil, nil, cli.Errorf("can't use the smvs-agent on %s: this smvs-hostd was built without its client", sock).
		WithExitCode(exitNoAgent)
}
