package blob

import "flag"

var update = flag.Bool("update", false, "rewrite testdata/vectors/body.bin")
