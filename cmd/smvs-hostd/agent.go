package main

import (
	"errors"
	"log/slog"
	"os"

	"smvs/lib/agent"
	"smvs/lib/cli"
	"smvs/lib/identity"
)

// agentKeys connects to the smvs-agent on sock, which holds the identity's
// keys: the host never reads the identity file then.
func agentKeys(sock string, log *slog.Logger) (identity.Keys, func(), error) {
	client, err := agent.Dial(sock)
	switch {
	case errors.Is(err, agent.ErrNotAllowed):
		return nil, nil, cli.Errorf("the smvs-agent on %s refuses this user (uid %d)", sock, os.Getuid()).
			WithExitCode(exitNoAgent).
			WithHintf("start the agent with --allow-user for this user, or run the host as the agent's user")
	case err != nil:
		return nil, nil, cli.Errorf("can't use the smvs-agent on %s: %w", sock, err).
			WithExitCode(exitNoAgent).
			WithHintf("is smvs-agent running? it prints its socket when it starts (SMVS_AGENT_SOCK=...)")
	}
	if client.Public().Kind() != identity.KindIdentity {
		client.Close()
		return nil, nil, cli.Errorf("the smvs-agent on %s holds no identity key", sock).WithExitCode(exitNoAgent)
	}
	log.Info("the identity's keys are held by smvs-agent", "socket", sock)
	return client, func() { client.Close() }, nil
}
