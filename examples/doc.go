// Package examples holds RGDs and instances a user can apply (one directory
// each, see README.md). Its test compiles every example with korvid's
// compiler, so an example that stops compiling fails `make test`.
package examples
