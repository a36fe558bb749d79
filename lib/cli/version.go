package cli

import "runtime/debug"

// version is set when building a release:
//
//	go build -ldflags "-X smvs/lib/cli.version=v1.2.3" ./cmd/...
var version string

// readBuildInfo is debug.ReadBuildInfo; tests replace it.
var readBuildInfo = debug.ReadBuildInfo

// Version returns the version of the SMVS commands: the one set at build
// time, else the main module's version when built with "go install
// module@version", else "devel".
func Version() string {
	if version != "" {
		return version
	}
	if info, ok := readBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "devel"
}
