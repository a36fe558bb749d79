// Package agent is smvs-agent, the key holder, and its client: the agent
// alone reads the identity file and keeps the identity's private keys; a
// host asks it, over a unix socket, to sign and to decapsulate, and holds
// an agent.Client as its identity.Keys.
//
// Promises:
//   - No answer, log line or error holds a private key, a seed or a
//     passphrase. Shared secrets go only to the caller that asked for them.
//   - Each connection's caller is checked by uid with SO_PEERCRED before
//     its first request is read: the agent's own uid and the allowed ones
//     are served, any other gets one refusal and the connection is closed.
//     Where the system gives no peer credentials the agent does not serve.
//   - The agent never signs a rotation statement it is asked to sign
//     (wire.PurposeRotation): only rotate-identity rotates, to a key the
//     agent makes, so a host can't move the user to a key of its choosing.
//   - Every change (KEM rotation, pruning, forgetting retired identities,
//     identity rotation) is saved to the identity file, atomically and
//     protected with its passphrase, before it is answered.
//
// The protocol (doc/PROTOCOL.md, "smvs-agent protocol"): each request is a
// frame (wire.WriteFrame) holding a deterministic CBOR Request, answered
// by one frame holding a Response, in order, on a connection that may
// carry any number of them.
package agent
