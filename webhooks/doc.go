// Package webhooks tells the hotel's other systems (the PMS, a door-lock
// or billing system, a log archive) what changed in Keycard: a stay
// created, extended or ended, a device enrolled or revoked, a session
// started or stopped, and the audit log's new head. Each event is posted
// as JSON to every configured endpoint that wants it, signed with that
// endpoint's secret, and retried with exponential backoff until the
// endpoint answers 2xx or the attempts run out.
//
// # Crash safety: a durable outbox
//
// Nothing is sent from memory. Events go through an outbox in the database
// (tables webhook_events and webhook_deliveries, schema "webhooks"):
//
//   - The Feed derives events from changes that are already durable, by
//     following them with cursors kept in the outbox: the audit log (every
//     stay and device change is written to it in the change's own
//     transaction, so a committed change always has its entry) and the
//     sessions table (new session ids after the cursor; sessions announced
//     as started and since stopped). One batch of events, their deliveries
//     and the cursor's new position commit in one transaction. A crash
//     before that commit loses nothing: the cursor did not move, and the
//     next start reads the same changes again. Events are keyed by what they
//     are about (source, source id: audit entry 42, session 17 stopped), so
//     reading a change twice (a restart, a second Keycard node following
//     the same database) inserts it once.
//   - The Dispatcher sends what the outbox holds and marks a delivery done
//     only after the endpoint answered 2xx. A crash between the answer and
//     the mark sends that event again at the next start: delivery is at
//     least once. Every event carries a stable id (the JSON "id" and the
//     Keycard-Event-Id header, the same on every attempt and every
//     process): receivers dedupe by it.
//
// Events are not guaranteed to arrive in order (retries, several in
// flight); occurred_at and, for audit events, data.audit.id order them.
// History from before the Feed first ran is not replayed: its first start
// puts the cursors at the current ends.
//
// # Signatures
//
// Every request carries
//
//	Keycard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
//
// A receiver recomputes the HMAC over the raw body with the shared secret
// (the endpoint's secret file, surrounding whitespace trimmed), compares
// in constant time, and rejects a timestamp more than a few minutes from
// its own clock (a replayed request); Verify does all of it. Each attempt
// is signed afresh, so a retry hours later still verifies. More than one
// v1 may appear (a future secret rotation): any one matching is enough.
//
// # Audit anchoring
//
// On every batch of new audit entries the Feed writes the chain's head
// (entry count and last hash) to the log ("audit log head") and, when an
// endpoint wants it, enqueues an audit.head event. A copy of the head held
// outside the database tells a truncated audit log (fewer entries, or a
// different hash at that count) from a short one.
//
// # Lifecycle
//
// NewFeed and NewDispatcher take the database handle (whose tables
// Migrate has created) and their dependencies. Feed.Changed is the
// change-feed callback (store.Watch); Dispatcher.Run delivers until its
// context ends, then waits for the attempts in flight. The secrets never
// reach a log line, an error or the outbox.
//
// This package owns its tables only. It reads the hotel domain through
// Hotel (a *vouchers.Store) and the sessions through Sessions
// (SessionsTable), and leaves the decision of what to configure to cmd.
package webhooks
