// Package pipeline holds the tests and benchmarks of export runs across the
// services that take part — export reads, transform formats, delivery
// assembles — running in one process against a real PostgreSQL and an
// embedded NATS JetStream server.
package pipeline
