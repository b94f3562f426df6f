// Package actorstest provides test doubles for package actors: a [Clock]
// that moves only when a test advances it, and a [Target] that implements
// every target interface with counters and knobs.
//
// They let tests of the services, of the supervision tree, and of the
// store's wiring run without sleeping and without a store.
package actorstest
