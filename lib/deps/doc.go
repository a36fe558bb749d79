// Package deps has no code of its own. Its test guards the direction of
// the module's import graph: dependencies point down, from the commands to
// the libraries and from the protocols to the small leaf packages they
// share, never back up (see deps_test.go for the rules it checks).
package deps
