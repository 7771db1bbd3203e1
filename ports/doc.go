// Package ports holds the interfaces between Framework M's core and its adapters,
// and the plain value types they carry.
//
// Every swappable part of the framework — persistence, authentication, permissions,
// tenancy, storage — is an interface here. Adapters implement them with one
// technology each; the core depends only on these interfaces. The package imports
// nothing but the standard library.
package ports
