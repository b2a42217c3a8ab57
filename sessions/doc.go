// Package sessions implements Keycard's accounting session store: who is on
// the network now, since when, at which access point, and how much each
// stay used. It is built from the RFC 2866 accounting records (Start,
// Interim-Update, Stop) that radiusd decodes, and speaks no RADIUS.
//
// It owns:
//
//   - the sessions table, one row per (NAS, Acct-Session-Id), with its
//     embedded migrations (Migrate, Check);
//   - the merge rules that make accounting safe to receive twice or out
//     of order: counters are cumulative at the NAS, so a session keeps the
//     largest value seen of each; a Stop closes a session and nothing
//     reopens it; a Stop before its Start makes a closed session; a stay
//     or device not known yet is kept as unknown and filled in later.
//     Accounting is never thrown away and never counted twice;
//   - durability: Record, CloseNAS and RecordDisconnect return only once
//     the change is committed and fsynced, so radiusd may acknowledge a
//     record as soon as Record returns nil (a caller whose context ends
//     first gets its error while the write may still happen: harmless,
//     since merging the NAS's retransmission changes nothing). One writer goroutine, on one
//     database connection set to synchronous=FULL, applies every queued
//     write in one transaction (group commit: one fsync for a whole batch,
//     so throughput grows with load while an idle server still answers
//     after one fsync);
//   - a bounded cache of the open sessions (golang-lru/v2) with indexes by
//     stay, device and Framed-IP-Address, so Online, OnlineDevices and
//     ByAddress answer from memory on the request path. The database stays
//     the authority: Get, List and StayUsage read it.
//
// It leaves the wire to radiusd (decoding Accounting-Request, joining the
// Gigawords, mapping Class or User-Name to a stay and device, answering
// the NAS, sending Disconnect-Request and CoA), and the hotel rules to
// vouchers (whether a stay is over, how many devices it may have on the
// network at once). A Session is Stale, not closed, when its NAS has been
// silent for two interim intervals: the NAS may have lost the Stop, and
// closing it is the caller's decision.
//
// Lifecycle: the caller opens the database (internal/store) and runs
// Migrate; New loads every open session into the cache, so after a restart
// (or a crash) Keycard knows who is online, and starts the writer; Record
// and the other writes queue for it; Close writes what is queued and stops
// it, leaving the database open.
//
// Another process may write the table too (keycard session kick records
// a Disconnect outcome, or closes a session the NAS no longer has): the
// writer never writes a cached copy back. Each record is one statement
// that merges it in SQL onto the row as the database has it (INSERT ...
// ON CONFLICT DO UPDATE, counters as the larger value, stopped_at
// COALESCEd, only the columns a record can change), so such a change is
// kept and nothing is read before the write. The writer learns the
// committed session without reading it back when it knows the row
// exactly: its cache is the rows as it last wrote or read them until
// another connection commits (SQLite's data_version, checked once per
// transaction under the write lock), and it applies the same merge to
// that copy; otherwise the statement returns the row. The cache learns
// of another process's change with the session's next record, or at once
// through Refresh. The writer runs below database/sql, on the driver's
// connection, with its statements prepared once. Several Keycard nodes on
// one PostgreSQL database would merge alike; only the check for others'
// changes would differ (a version column, or the row returned always).
//
// Times are stored as UTC unix nanoseconds and the SQL avoids SQLite-only
// functions so a PostgreSQL backend can follow; only the writer
// connection's PRAGMAs are SQLite's.
package sessions
