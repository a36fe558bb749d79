// Command mkrecord signs directory records the way no SMVS command would,
// for the end-to-end tests of smvs-dird: any name, sequence number or
// lifetime, optionally with a broken signature. It prints the JSON body of
// a publish request. It is a test tool, never installed.
package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

func main() {
	idFile := flag.String("identity", "", "identity `FILE` to sign with (unprotected)")
	name := flag.String("name", "", "the record's name, used as given")
	host := flag.String("host", "127.0.0.1:7447", "the record's host address")
	seq := flag.Uint64("seq", 1, "sequence number")
	lifetime := flag.Duration("lifetime", 24*time.Hour, "validity from now")
	tamper := flag.Bool("tamper", false, "flip a bit of the signature")
	flag.Parse()

	if err := run(*idFile, *name, *host, *seq, *lifetime, *tamper); err != nil {
		fmt.Fprintln(os.Stderr, "mkrecord:", err)
		os.Exit(1)
	}
}

func run(idFile, name, host string, seq uint64, lifetime time.Duration, tamper bool) error {
	id, err := identity.ReadFile(idFile, nil)
	if err != nil {
		return err
	}
	now := time.Now()
	kem, err := id.CurrentKEM(now)
	if err != nil {
		return err
	}
	signed, err := wire.SignRecord(id.Signer(), &wire.Record{
		Name: name, Identity: id.Public().Bytes(), KEM: kem.Public(), Host: host,
		Seq: seq, Issued: now.UnixMilli(), Expires: now.Add(lifetime).UnixMilli(),
	})
	if err != nil {
		return err
	}
	if tamper {
		signed[len(signed)-1] ^= 1 // the signature is the last field
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]string{"record": base64.StdEncoding.EncodeToString(signed)})
}
