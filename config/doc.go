// Package config reads evalctl.yaml.
//
// The file is strict: an unknown key is an error naming its line and the keys
// that are allowed there, and so is a value of the wrong type. ${VAR} and
// ${VAR:-default} are expanded from the environment before parsing ($${ writes
// a literal ${); an unset variable without a default is an error. Relative
// paths are resolved against the file's directory. Command-line flags override
// the file (the cli package applies them).
package config
